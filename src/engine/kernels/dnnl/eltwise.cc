// Float32 elementwise ops on oneDNN: unary activations and math (eltwise primitive), broadcasting
// Add/Sub/Mul/Div/Min/Max (binary primitive), Softmax and LogSoftmax (softmax_v2).
//
// Unary and binary ops run in whatever layout the producer left the tensor in and keep it, so a
// Relu or residual Add between two blocked convolutions costs no reorder.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

using dnnl::memory;
using dnnl_ops::BufferRef;
using dnnl_ops::EltwiseOp;

constexpr auto kF32 = memory::data_type::f32;

// Clip's bounds: attributes before opset 11, optional inputs 1 and 2 (known at compile time) after.
absl::StatusOr<std::pair<float, float>> ClipBounds(const CompileContext& ctx) {
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  if (ctx.opset < 11) return std::make_pair(ctx.node.GetFloat("min", lo), ctx.node.GetFloat("max", hi));
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const KernelInput& in = ctx.inputs[i];
    if (!in.is_known()) return ctx.Unsupported("Clip bounds must be known at compile time");
    if (in.value->dtype() != DataType::kFloat32 || in.value->num_elements() != 1) return ctx.Invalid("bad Clip bound");
    (i == 1 ? lo : hi) = in.value->data_as<float>()[0];
  }
  return std::make_pair(lo, hi);
}

// The node's alpha/beta in the convention of dnnl_ops::ActivationOps.
absl::StatusOr<std::pair<float, float>> UnaryParams(const CompileContext& ctx) {
  const std::string& op = ctx.node.op_type;
  const graph::Node& n = ctx.node;
  if (op == "LeakyRelu") return std::make_pair(n.GetFloat("alpha", 0.01f), 0.f);
  if (op == "Elu") return std::make_pair(n.GetFloat("alpha", 1.f), 0.f);
  if (op == "Selu") return std::make_pair(n.GetFloat("alpha", 1.67326319217681884765625f), n.GetFloat("gamma", 1.05070102214813232421875f));
  if (op == "HardSigmoid") return std::make_pair(n.GetFloat("alpha", 0.2f), n.GetFloat("beta", 0.5f));
  if (op == "Clip") return ClipBounds(ctx);
  return std::make_pair(0.f, 0.f);
}

// One eltwise step from `src` to output 0 (both in layout `md`).
void AddEltwise(const CompileContext& ctx, const EltwiseOp& op, const memory::desc& md, BufferRef src,
                dnnl_ops::StepKernel& kernel) {
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.alg, md, op.alpha, op.beta);
  dnnl::eltwise_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);
  dnnl_util::PrimitiveRunner runner{dnnl::eltwise_forward(pd)};
  runner.Bind(DNNL_ARG_SRC, md, ctx.engine);
  runner.Bind(DNNL_ARG_DST, md, ctx.engine);
  std::vector<BufferRef> args = {src, BufferRef::Output(0)};
  kernel.AddScratchpad(pd, ctx.engine, runner, args);
  kernel.AddStep(std::move(runner), std::move(args));
}

absl::StatusOr<CompiledKernel> CompileUnary(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  if (!ctx.has_input(0)) return ctx.Invalid("input is required");
  const TensorDesc& x = ctx.desc(0);
  if (x.dtype != DataType::kFloat32) return ctx.Unsupported("only float32");
  if (NumElements(x.shape) == 0) return ctx.Unsupported("empty input");
  ASSIGN_OR_RETURN(auto params, UnaryParams(ctx));
  auto ops = dnnl_ops::ActivationOps(ctx.node.op_type, params.first, params.second);
  if (!ops.ok()) return ctx.Unsupported(std::string(ops.status().message()));
  ASSIGN_OR_RETURN(memory::desc md, dnnl_util::DescOf(x));

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  for (size_t i = 0; i < ops->size(); ++i) {
    AddEltwise(ctx, (*ops)[i], md, i == 0 ? BufferRef::Input(0) : BufferRef::Output(0), *kernel);
  }
  CompiledKernel compiled;
  compiled.input_layouts.resize(ctx.inputs.size());
  compiled.input_layouts[0] = x.layout;
  RETURN_IF_ERROR(dnnl_ops::AppendPostOpSteps(ctx, md, x.shape, *kernel, compiled));
  compiled.outputs = {x};
  compiled.alias_input = 0;
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

// Numpy broadcast of two shapes; nullopt-like failure as InvalidArgument.
absl::StatusOr<Shape> BroadcastShapes(const CompileContext& ctx, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) return ctx.Invalid("shapes " + ShapeToString(a) + " and " + ShapeToString(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

absl::StatusOr<dnnl::algorithm> BinaryAlgorithm(const std::string& op) {
  if (op == "Add") return dnnl::algorithm::binary_add;
  if (op == "Sub") return dnnl::algorithm::binary_sub;
  if (op == "Mul") return dnnl::algorithm::binary_mul;
  if (op == "Div") return dnnl::algorithm::binary_div;
  if (op == "Min") return dnnl::algorithm::binary_min;
  if (op == "Max") return dnnl::algorithm::binary_max;
  return absl::UnimplementedError("no binary algorithm for " + op);
}

// Binds operand `input` of a binary step; constants are copied into the kernel in layout `md`.
void BindOperand(const CompileContext& ctx, size_t input, int arg, const memory::desc& md, const memory::desc& user_md,
                 dnnl_ops::StepKernel& kernel, dnnl_util::PrimitiveRunner& runner, std::vector<BufferRef>& args) {
  if (ctx.inputs[input].is_known()) {
    runner.BindFixed(arg, dnnl_ops::ReorderConstant(ctx.engine, user_md, ctx.inputs[input].value->data(), md, ctx.constants));
    return;
  }
  runner.Bind(arg, md, ctx.engine);
  args.push_back(BufferRef::Input(input));
}

absl::StatusOr<CompiledKernel> CompileBinary(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  size_t fused_inputs = 0;
  for (const graph::PostOp& post : ctx.node.post_ops) fused_inputs += post.kind == graph::PostOp::Kind::kSum ? 1 : 0;
  if (ctx.inputs.size() != 2 + fused_inputs || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.Unsupported("needs exactly two inputs");
  }
  if (ctx.desc(0).dtype != DataType::kFloat32 || ctx.desc(1).dtype != DataType::kFloat32) return ctx.Unsupported("only float32");
  ASSIGN_OR_RETURN(dnnl::algorithm alg, BinaryAlgorithm(ctx.node.op_type));
  ASSIGN_OR_RETURN(Shape out_shape, BroadcastShapes(ctx, ctx.desc(0).shape, ctx.desc(1).shape));
  if (NumElements(out_shape) == 0) return ctx.Unsupported("empty output");
  // oneDNN broadcasts only its second source: put the full-shaped operand first.
  size_t first = 0;
  if (ctx.desc(0).shape != out_shape) {
    const bool commutative = ctx.node.op_type != "Sub" && ctx.node.op_type != "Div";
    if (!commutative || ctx.desc(1).shape != out_shape) return ctx.Unsupported("first operand would need broadcasting");
    first = 1;
  }
  const size_t second = 1 - first;
  const TensorDesc& a = ctx.desc(first);
  const TensorDesc& b = ctx.desc(second);
  const Shape dims = out_shape.empty() ? Shape{1} : out_shape;
  Shape b_dims = b.shape;
  b_dims.insert(b_dims.begin(), dims.size() - b_dims.size(), 1);
  const memory::desc a_md = a.is_plain() || ctx.inputs[first].is_known() ? dnnl_util::PlainDesc(kF32, dims) : a.layout;
  const memory::desc b_plain = dnnl_util::PlainDesc(kF32, b_dims);
  // A same-shaped second operand follows the first one's layout; a broadcast one stays plain.
  const memory::desc b_md = b.shape == out_shape ? a_md : b_plain;
  dnnl::binary::desc desc(alg, a_md, b_md, a_md);
  dnnl::binary::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::binary(pd)};
  std::vector<BufferRef> args;
  BindOperand(ctx, first, DNNL_ARG_SRC_0, a_md, dnnl_util::PlainDesc(kF32, dims), *kernel, runner, args);
  BindOperand(ctx, second, DNNL_ARG_SRC_1, b_md, b_plain, *kernel, runner, args);
  runner.Bind(DNNL_ARG_DST, a_md, ctx.engine);
  args.push_back(BufferRef::Output(0));
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));

  CompiledKernel compiled;
  compiled.input_layouts.resize(ctx.inputs.size());
  const memory::desc out_layout = dnnl_ops::LayoutFor(a_md, dims);
  if (!ctx.inputs[first].is_known()) compiled.input_layouts[first] = out_layout;
  if (!ctx.inputs[second].is_known()) compiled.input_layouts[second] = b.shape == out_shape ? out_layout : memory::desc();
  RETURN_IF_ERROR(dnnl_ops::AppendPostOpSteps(ctx, a_md, out_shape, *kernel, compiled));
  compiled.outputs = {TensorDesc{DataType::kFloat32, out_shape, out_layout}};
  compiled.alias_input = static_cast<int>(first);
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

absl::StatusOr<CompiledKernel> CompileSoftmax(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  if (!ctx.has_input(0)) return ctx.Invalid("input is required");
  const TensorDesc& x = ctx.desc(0);
  if (x.dtype != DataType::kFloat32) return ctx.Unsupported("only float32");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0 || NumElements(x.shape) == 0) return ctx.Unsupported("scalar or empty input");
  const bool coerce_2d = ctx.opset < 13;  // opsets 1-11 flatten to [outer, inner] around axis
  int64_t axis = ctx.node.GetInt("axis", coerce_2d ? 1 : -1);
  if (axis < -rank || axis >= rank) return ctx.Invalid("axis out of range");
  if (axis < 0) axis += rank;
  memory::desc md;
  int softmax_axis = static_cast<int>(axis);
  if (coerce_2d) {
    const int64_t outer = NumElements(Shape(x.shape.begin(), x.shape.begin() + axis));
    md = memory::desc({outer, NumElements(x.shape) / outer}, kF32, memory::format_tag::ab);
    softmax_axis = 1;
  } else {
    ASSIGN_OR_RETURN(md, dnnl_util::DescOf(x));
  }
  const auto alg = ctx.node.op_type == "LogSoftmax" ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
  dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, md, md, softmax_axis);
  dnnl::softmax_v2_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::softmax_v2_forward(pd)};
  runner.Bind(DNNL_ARG_SRC, md, ctx.engine);
  runner.Bind(DNNL_ARG_DST, md, ctx.engine);
  std::vector<BufferRef> args = {BufferRef::Input(0), BufferRef::Output(0)};
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));

  CompiledKernel compiled;
  TensorDesc out = x;
  if (coerce_2d) out.layout = memory::desc();
  compiled.input_layouts.resize(ctx.inputs.size());
  compiled.input_layouts[0] = out.layout;
  RETURN_IF_ERROR(dnnl_ops::AppendPostOpSteps(ctx, coerce_2d ? dnnl_util::PlainDesc(kF32, x.shape) : md, x.shape,
                                              *kernel, compiled));
  compiled.outputs = {out};
  compiled.alias_input = 0;
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

}  // namespace

void RegisterDnnlEltwiseKernels(KernelRegistry& registry) {
  // Log stays with the portable kernel: oneDNN's approximation gives log(1) = -1.4e-6, not 0.
  for (const char* op : {"Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Abs", "Clip",
                         "Softplus", "HardSigmoid", "HardSwish", "Neg", "Reciprocal"}) {
    registry.Register({op, &dnnl_ops::Guarded<CompileUnary>, kPriorityDnnl, {}});
  }
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Min", "Max"}) {
    registry.Register({op, &dnnl_ops::Guarded<CompileBinary>, kPriorityDnnl, {}});
  }
  registry.Register({"Softmax", &dnnl_ops::Guarded<CompileSoftmax>, kPriorityDnnl, {}});
  registry.Register({"LogSoftmax", &dnnl_ops::Guarded<CompileSoftmax>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
