// Conv and ConvTranspose on oneDNN, in float32, or in bfloat16 with float32 accumulation when the
// session's precision is bf16 (activations and weights bf16, bias float32).
//
// Activations use format_tag::any so oneDNN picks its fastest blocked layouts; the chosen source
// layout is declared as the wanted input layout and the destination layout is passed on to the
// consumer, so chains of convolutions run without reorders. Weights known at compile time are
// reordered once; otherwise a reorder step into scratch runs before each convolution. Fused
// activations and the residual Add become eltwise and sum post-ops.
#include <algorithm>
#include <utility>

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

using dnnl::memory;
using dnnl_ops::BufferRef;
using dnnl_ops::WindowAttrs;

constexpr auto kF32 = memory::data_type::f32;

// What Conv and ConvTranspose share once their geometry is known.
struct ConvPlan {
  Shape out_shape;
  WindowAttrs window;
  memory::dims weights_dims;  // oneDNN weights dims: [O, I, k...] or [G, O/G, I/G, k...]
  memory::desc weights_user;  // the ONNX weights' data described with weights_dims
};

absl::Status CheckConvInputs(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.Invalid("X and W are required");
  const TensorDesc& x = ctx.desc(0);
  const TensorDesc& w = ctx.desc(1);
  if (x.dtype != DataType::kFloat32 || w.dtype != DataType::kFloat32) return ctx.Unsupported("only float32");
  if (x.shape.size() < 3 || x.shape.size() > 5) return ctx.Unsupported("only 1-D, 2-D and 3-D windows");
  if (w.shape.size() != x.shape.size()) return ctx.Invalid("W must have the rank of X");
  if (ctx.has_input(2) && ctx.desc(2).dtype != DataType::kFloat32) return ctx.Invalid("B must be float32");
  if (ctx.node.GetInt("group", 1) < 1) return ctx.Invalid("group must be positive");
  return absl::OkStatus();
}

std::vector<int64_t> SpatialOf(const Shape& shape) { return std::vector<int64_t>(shape.begin() + 2, shape.end()); }

memory::dims GroupedDims(int64_t group, int64_t out_per_group, int64_t in_per_group, const std::vector<int64_t>& k) {
  memory::dims dims;
  if (group > 1) dims.push_back(group);
  dims.push_back(out_per_group);
  dims.push_back(in_per_group);
  dims.insert(dims.end(), k.begin(), k.end());
  return dims;
}

absl::StatusOr<ConvPlan> PlanConv(const CompileContext& ctx) {
  const Shape& x = ctx.desc(0).shape;
  const Shape& w = ctx.desc(1).shape;
  const int64_t group = ctx.node.GetInt("group", 1);
  if (w[0] % group != 0 || x[1] != w[1] * group) return ctx.Invalid("channel counts do not match group");
  if (ctx.has_input(2) && ctx.desc(2).shape != Shape{w[0]}) return ctx.Invalid("B must have shape [M]");
  ConvPlan plan;
  ASSIGN_OR_RETURN(plan.window, dnnl_ops::ReadWindowAttrs(ctx, x.size() - 2, SpatialOf(w)));
  ASSIGN_OR_RETURN(std::vector<int64_t> spatial, dnnl_ops::ForwardWindowOutput(ctx, SpatialOf(x), plan.window, false));
  plan.out_shape = {x[0], w[0]};
  plan.out_shape.insert(plan.out_shape.end(), spatial.begin(), spatial.end());
  plan.weights_dims = GroupedDims(group, w[0] / group, w[1], plan.window.kernel);
  // ONNX [M, C/G, k...] is [G, M/G, C/G, k...] in row-major order already.
  plan.weights_user = dnnl_util::PlainDesc(kF32, Shape(plan.weights_dims.begin(), plan.weights_dims.end()));
  return plan;
}

// ConvTranspose output sizes and pads, following the ONNX formulas; an output_shape larger than
// the input reaches extends the output at the end (zeros plus bias), as in the ONNX test data.
absl::Status ResolveTransposedWindow(const CompileContext& ctx, const Shape& x, WindowAttrs& window,
                                     std::vector<int64_t>& out) {
  const size_t n = x.size() - 2;
  std::vector<int64_t> adjust = ctx.node.GetInts("output_padding", std::vector<int64_t>(n, 0));
  std::vector<int64_t> wanted = ctx.node.GetInts("output_shape");
  if (wanted.size() == n + 2) wanted.erase(wanted.begin(), wanted.begin() + 2);
  if (adjust.size() != n || (!wanted.empty() && wanted.size() != n)) {
    return ctx.Invalid("output_padding and output_shape need one value per spatial axis");
  }
  const bool same = window.auto_pad == "SAME_UPPER" || window.auto_pad == "SAME_LOWER";
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = window.strides[i];
    if (adjust[i] < 0 || adjust[i] >= std::max(s, window.dilations[i])) return ctx.Invalid("output_padding too large");
    const int64_t full = s * (x[i + 2] - 1) + adjust[i] + (window.kernel[i] - 1) * window.dilations[i] + 1;
    if (window.auto_pad == "VALID") window.pads_begin[i] = window.pads_end[i] = 0;
    if (wanted.empty() && !same) {
      out[i] = full - window.pads_begin[i] - window.pads_end[i];
      continue;
    }
    out[i] = wanted.empty() ? x[i + 2] * s : wanted[i];
    const int64_t total = std::max<int64_t>(0, full - out[i]);
    window.pads_begin[i] = window.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    window.pads_end[i] = total - window.pads_begin[i];
  }
  for (int64_t v : out) {
    if (v < 1) return ctx.Invalid("the output would be empty");
  }
  return absl::OkStatus();
}

absl::StatusOr<ConvPlan> PlanConvTranspose(const CompileContext& ctx) {
  const Shape& x = ctx.desc(0).shape;
  const Shape& w = ctx.desc(1).shape;
  const int64_t group = ctx.node.GetInt("group", 1);
  if (x[1] != w[0] || w[0] % group != 0) return ctx.Invalid("channel counts do not match group");
  const int64_t out_channels = w[1] * group;
  if (ctx.has_input(2) && ctx.desc(2).shape != Shape{out_channels}) return ctx.Invalid("B must have shape [M]");
  ConvPlan plan;
  ASSIGN_OR_RETURN(plan.window, dnnl_ops::ReadWindowAttrs(ctx, x.size() - 2, SpatialOf(w)));
  std::vector<int64_t> spatial;
  RETURN_IF_ERROR(ResolveTransposedWindow(ctx, x, plan.window, spatial));
  plan.out_shape = {x[0], out_channels};
  plan.out_shape.insert(plan.out_shape.end(), spatial.begin(), spatial.end());
  const int64_t in_per_group = w[0] / group;
  const int64_t out_per_group = w[1];
  plan.weights_dims = GroupedDims(group, out_per_group, in_per_group, plan.window.kernel);
  // ONNX W is [G, C/G, M/G, k...] row-major; oneDNN wants O before I, so describe it with strides.
  int64_t k_size = 1;
  for (int64_t k : plan.window.kernel) k_size *= k;
  memory::dims strides;
  if (group > 1) strides.push_back(in_per_group * out_per_group * k_size);
  strides.push_back(k_size);
  strides.push_back(out_per_group * k_size);
  int64_t inner = k_size;
  for (int64_t k : plan.window.kernel) {
    inner /= k;
    strides.push_back(inner);
  }
  plan.weights_user = memory::desc(plan.weights_dims, kF32, strides);
  return plan;
}

// Builds the primitive (P is convolution_forward or deconvolution_forward) and its kernel.
template <typename P>
absl::StatusOr<CompiledKernel> BuildConv(const CompileContext& ctx, const ConvPlan& plan, dnnl::algorithm alg) {
  const Shape& x = ctx.desc(0).shape;
  const bool has_bias = ctx.has_input(2);
  // In bf16 the activation layouts carry bf16 data; the compiler converts where a neighbour wants float32.
  const memory::data_type act = dnnl_util::ComputeType(ctx);
  memory::desc src_md(dnnl_util::ToDims(x), act, memory::format_tag::any);
  memory::desc weights_md(plan.weights_dims, act, memory::format_tag::any);
  memory::desc bias_md = has_bias ? memory::desc({plan.out_shape[1]}, kF32, memory::format_tag::a) : memory::desc();
  ASSIGN_OR_RETURN(dnnl_ops::FusedPostOps fused, dnnl_ops::TranslatePostOps(ctx, DataType::kFloat32, plan.out_shape));
  memory::desc dst_md(dnnl_util::ToDims(plan.out_shape), act, memory::format_tag::any);
  const WindowAttrs& win = plan.window;
  typename P::desc desc(dnnl::prop_kind::forward_inference, alg, src_md, weights_md, bias_md, dst_md,
                        dnnl_ops::Dims(win.strides), dnnl_ops::DnnlDilations(win.dilations),
                        dnnl_ops::Dims(win.pads_begin), dnnl_ops::Dims(win.pads_end));
  typename P::primitive_desc pd(desc, dnnl_ops::MakeAttr(fused.ops), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{P(pd)};
  std::vector<BufferRef> args;
  runner.Bind(DNNL_ARG_SRC, pd.src_desc(), ctx.engine);
  args.push_back(BufferRef::Input(0));
  dnnl_ops::BindWeights(ctx, 1, DNNL_ARG_WEIGHTS, plan.weights_user, pd.weights_desc(), *kernel, runner, args);
  if (has_bias) dnnl_ops::BindWeights(ctx, 2, DNNL_ARG_BIAS, bias_md, pd.bias_desc(), *kernel, runner, args);
  runner.Bind(DNNL_ARG_DST, pd.dst_desc(), ctx.engine);
  args.push_back(BufferRef::Output(0));
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));

  CompiledKernel compiled;
  compiled.outputs = {dnnl_util::FromDnnl(DataType::kFloat32, plan.out_shape, pd.dst_desc())};
  compiled.input_layouts.resize(ctx.inputs.size());
  compiled.input_layouts[0] = dnnl_ops::LayoutFor(pd.src_desc(), x);
  if (fused.sum_input >= 0) {
    compiled.input_layouts[static_cast<size_t>(fused.sum_input)] = dnnl_ops::LayoutFor(pd.dst_desc(), plan.out_shape);
    compiled.alias_input = fused.sum_input;
    compiled.alias_required = true;
  }
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

absl::StatusOr<CompiledKernel> CompileConv(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckConvInputs(ctx));
  ASSIGN_OR_RETURN(ConvPlan plan, PlanConv(ctx));
  return BuildConv<dnnl::convolution_forward>(ctx, plan, dnnl::algorithm::convolution_direct);
}

absl::StatusOr<CompiledKernel> CompileConvTranspose(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckConvInputs(ctx));
  ASSIGN_OR_RETURN(ConvPlan plan, PlanConvTranspose(ctx));
  return BuildConv<dnnl::deconvolution_forward>(ctx, plan, dnnl::algorithm::deconvolution_direct);
}

}  // namespace

void RegisterDnnlConvKernels(KernelRegistry& registry) {
  registry.Register({"Conv", &dnnl_ops::Guarded<CompileConv>, kPriorityDnnl, {}});
  registry.Register({"ConvTranspose", &dnnl_ops::Guarded<CompileConvTranspose>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
