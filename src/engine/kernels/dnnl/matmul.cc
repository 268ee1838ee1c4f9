// Gemm and MatMul on oneDNN's matmul primitive (float32, plain row-major activations).
//
// A constant B is reordered once into the layout oneDNN prefers (format_tag::any), with Gemm's
// alpha folded in. When the session's precision is bf16, A and B are bf16 (a constant B is converted
// once; the compiler converts A, and a B computed at run time, in reorders before the step) and the
// product accumulates into a float32 output: at batch 1 the step reads half the weight bytes, at
// larger batches it runs bf16 dot products. Gemm's C becomes the bias when it is constant and no
// output scale is needed, otherwise a binary-add post-op; fused activations and Add follow as post-ops.
#include <algorithm>
#include <utility>

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

using dnnl::memory;
using dnnl_ops::BufferRef;

constexpr auto kF32 = memory::data_type::f32;
constexpr size_t kMaxRank = 12;

// How one Gemm or MatMul node maps onto the matmul primitive.
struct MatMulSpec {
  Shape out_shape;           // the ONNX output shape
  Shape a_shape, b_shape;    // the ONNX shapes of A and B: a bf16 A or B is this, row-major
  memory::desc src_md;       // A as oneDNN reads it (maybe transposed)
  memory::desc weights_md;   // B's data as oneDNN reads it (maybe transposed)
  memory::desc dst_md;       // plain
  float product_scale = 1;   // multiplies A*B: folded into a constant B, else an output scale
  // Gemm's C (input 2), already broadcast-compatible with dst.
  memory::desc c_md;         // zero when there is no C
  float c_scale = 1;         // beta, applied to a constant C at compile time
  float after_scale = 1;     // linear post-op after adding C (runtime C with beta != 1)
};

bool IsKnown(const CompileContext& ctx, size_t i) { return ctx.inputs[i].is_known(); }

absl::Status CheckInputs(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.Invalid("A and B are required");
  if (ctx.desc(0).dtype != DataType::kFloat32 || ctx.desc(1).dtype != DataType::kFloat32) {
    return ctx.Unsupported("only float32");
  }
  if (ctx.has_input(2) && ctx.desc(2).dtype != DataType::kFloat32) return ctx.Invalid("C must be float32");
  return absl::OkStatus();
}

absl::StatusOr<MatMulSpec> PlanMatMul(const CompileContext& ctx, memory::data_type act) {
  const Shape& a = ctx.desc(0).shape;
  const Shape& b = ctx.desc(1).shape;
  if (a.empty() || b.empty()) return ctx.Invalid("MatMul inputs must have rank >= 1");
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  const size_t rank = std::max(a2.size(), b2.size());
  if (rank > kMaxRank) return ctx.Unsupported("rank above 12");
  a2.insert(a2.begin(), rank - a2.size(), 1);
  b2.insert(b2.begin(), rank - b2.size(), 1);
  if (a2[rank - 1] != b2[rank - 2]) return ctx.Invalid("inner dimensions differ: " + ShapeToString(a) + " x " + ShapeToString(b));
  Shape dst(rank);
  for (size_t i = 0; i + 2 < rank; ++i) {
    if (a2[i] != b2[i] && a2[i] != 1 && b2[i] != 1) return ctx.Invalid("batch dimensions do not broadcast");
    dst[i] = a2[i] == 1 ? b2[i] : a2[i];
  }
  dst[rank - 2] = a2[rank - 2];
  dst[rank - 1] = b2[rank - 1];
  MatMulSpec spec;
  spec.out_shape.assign(dst.begin(), dst.end() - 2);
  if (a.size() > 1) spec.out_shape.push_back(dst[rank - 2]);
  if (b.size() > 1) spec.out_shape.push_back(dst[rank - 1]);
  if (NumElements(a2) == 0 || NumElements(b2) == 0) return ctx.Unsupported("empty operands");
  spec.a_shape = a;
  spec.b_shape = b;
  spec.src_md = dnnl_util::PlainDesc(act, a2);
  spec.weights_md = dnnl_util::PlainDesc(kF32, b2);
  spec.dst_md = dnnl_util::PlainDesc(kF32, dst);
  return spec;
}

// Gemm's C padded to 2-D; InvalidArgument unless it broadcasts to [M, N].
absl::StatusOr<memory::dims> GemmCDims(const CompileContext& ctx, int64_t m, int64_t n) {
  Shape c = ctx.desc(2).shape;
  if (c.size() > 2) return ctx.Invalid("C must have rank <= 2");
  c.insert(c.begin(), 2 - c.size(), 1);
  if ((c[0] != 1 && c[0] != m) || (c[1] != 1 && c[1] != n)) return ctx.Invalid("C does not broadcast to [M, N]");
  return memory::dims{c[0], c[1]};
}

absl::StatusOr<MatMulSpec> PlanGemm(const CompileContext& ctx, memory::data_type act) {
  const Shape& a = ctx.desc(0).shape;
  const Shape& b = ctx.desc(1).shape;
  if (a.size() != 2 || b.size() != 2) return ctx.Invalid("A and B must be 2-D");
  const bool trans_a = ctx.node.GetInt("transA", 0) != 0;
  const bool trans_b = ctx.node.GetInt("transB", 0) != 0;
  const int64_t m = trans_a ? a[1] : a[0];
  const int64_t k = trans_a ? a[0] : a[1];
  const int64_t n = trans_b ? b[0] : b[1];
  if ((trans_b ? b[1] : b[0]) != k) return ctx.Invalid("inner dimensions differ");
  if (m == 0 || n == 0 || k == 0) return ctx.Unsupported("empty operands");
  MatMulSpec spec;
  spec.out_shape = {m, n};
  spec.a_shape = a;
  spec.b_shape = b;
  spec.src_md = memory::desc({m, k}, act, trans_a ? memory::format_tag::ba : memory::format_tag::ab);
  spec.weights_md = memory::desc({k, n}, kF32, trans_b ? memory::format_tag::ba : memory::format_tag::ab);
  spec.dst_md = memory::desc({m, n}, kF32, memory::format_tag::ab);
  const float alpha = ctx.node.GetFloat("alpha", 1.f);
  const float beta = ctx.node.GetFloat("beta", 1.f);
  spec.product_scale = alpha;
  if (!ctx.has_input(2) || beta == 0.f) return spec;
  ASSIGN_OR_RETURN(memory::dims c_dims, GemmCDims(ctx, m, n));
  spec.c_md = memory::desc(c_dims, kF32, memory::format_tag::ab);
  if (IsKnown(ctx, 2)) {
    spec.c_scale = beta;
  } else if (beta != 1.f) {
    // alpha*A*B + beta*C == beta * ((alpha/beta)*A*B + C) for a C only known at run time.
    spec.product_scale = alpha / beta;
    spec.after_scale = beta;
  }
  return spec;
}

// A copy of `t` multiplied by `scale` (the original when scale is 1).
Tensor Scaled(const Tensor& t, float scale) {
  if (scale == 1.f) return t;
  Tensor copy = t.Clone();
  for (float& v : copy.mutable_values<float>()) v *= scale;
  return copy;
}

absl::StatusOr<CompiledKernel> BuildMatMul(const CompileContext& ctx, const MatMulSpec& spec) {
  const bool b_known = IsKnown(ctx, 1);
  const bool has_c = !spec.c_md.is_zero();
  const bool c_known = has_c && IsKnown(ctx, 2);
  const bool output_scale = !b_known && spec.product_scale != 1.f;
  // A constant C is the bias unless an output scale would also apply to it.
  const bool c_as_bias = c_known && !output_scale;
  dnnl::post_ops base;
  if (has_c && !c_as_bias) base.append_binary(dnnl::algorithm::binary_add, spec.c_md);
  if (spec.after_scale != 1.f) base.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, spec.after_scale, 0.f);
  ASSIGN_OR_RETURN(dnnl_ops::FusedPostOps fused,
                   dnnl_ops::TranslatePostOps(ctx, DataType::kFloat32, spec.out_shape, std::move(base)));
  dnnl::primitive_attr attr = dnnl_ops::MakeAttr(fused.ops);
  if (output_scale) attr.set_output_scales(0, {spec.product_scale});
  const memory::data_type act = spec.src_md.data_type();
  const bool bf16 = act == memory::data_type::bf16;
  // spec.weights_md describes B's float32 data; the primitive reads B as `act`.
  memory::desc weights_md = spec.weights_md;
  weights_md.data.data_type = memory::convert_to_c(act);
  if (b_known) weights_md = memory::desc(spec.weights_md.dims(), act, memory::format_tag::any);
  dnnl::matmul::desc desc(spec.src_md, weights_md, c_as_bias ? spec.c_md : memory::desc(), spec.dst_md);
  dnnl::matmul::primitive_desc pd(desc, attr, ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::matmul(pd)};
  std::vector<BufferRef> args;
  runner.Bind(DNNL_ARG_SRC, pd.src_desc(), ctx.engine);
  args.push_back(BufferRef::Input(0));
  if (b_known) {
    const Tensor b = Scaled(*ctx.inputs[1].value, spec.product_scale);
    runner.BindFixed(DNNL_ARG_WEIGHTS, dnnl_ops::ReorderConstant(ctx.engine, spec.weights_md, b.data(), pd.weights_desc(), ctx.constants));
  } else {
    runner.Bind(DNNL_ARG_WEIGHTS, pd.weights_desc(), ctx.engine);
    args.push_back(BufferRef::Input(1));
  }
  if (c_known) {
    const Tensor c = Scaled(*ctx.inputs[2].value, spec.c_scale);
    dnnl::memory c_mem = dnnl_ops::ReorderConstant(ctx.engine, spec.c_md, c.data(), spec.c_md, ctx.constants);
    runner.BindFixed(c_as_bias ? DNNL_ARG_BIAS : (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1), c_mem);
  } else if (has_c) {
    runner.Bind(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, spec.c_md, ctx.engine);
    args.push_back(BufferRef::Input(2));
  }
  runner.Bind(DNNL_ARG_DST, pd.dst_desc(), ctx.engine);
  args.push_back(BufferRef::Output(0));
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));

  CompiledKernel compiled;
  compiled.outputs = {TensorDesc{DataType::kFloat32, spec.out_shape, {}}};
  compiled.input_layouts.resize(ctx.inputs.size());
  if (bf16) {
    compiled.input_layouts[0] = dnnl_util::PlainDesc(act, spec.a_shape);
    if (!b_known) compiled.input_layouts[1] = dnnl_util::PlainDesc(act, spec.b_shape);
  }
  compiled.computes_bfloat16 = bf16;
  if (fused.sum_input >= 0) {
    compiled.alias_input = fused.sum_input;
    compiled.alias_required = true;
  }
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

absl::StatusOr<CompiledKernel> CompileMatMul(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputs(ctx));
  ASSIGN_OR_RETURN(MatMulSpec spec, PlanMatMul(ctx, dnnl_util::ComputeType(ctx)));
  return BuildMatMul(ctx, spec);
}

absl::StatusOr<CompiledKernel> CompileGemm(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputs(ctx));
  ASSIGN_OR_RETURN(MatMulSpec spec, PlanGemm(ctx, dnnl_util::ComputeType(ctx)));
  return BuildMatMul(ctx, spec);
}

}  // namespace

void RegisterDnnlMatMulKernels(KernelRegistry& registry) {
  registry.Register({"MatMul", &dnnl_ops::Guarded<CompileMatMul>, kPriorityDnnl, {}});
  registry.Register({"Gemm", &dnnl_ops::Guarded<CompileGemm>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
