// MaxPool (with optional Indices), AveragePool, GlobalMaxPool and GlobalAveragePool on oneDNN's
// pooling_v2 primitive.
//
// The source keeps the producer's layout (a pool between two convolutions reads and writes the
// blocked layout with no reorder); the destination layout is oneDNN's choice, normally the same.
#include <algorithm>
#include <utility>

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/pool_indices.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

using dnnl::memory;
using dnnl_ops::BufferRef;
using dnnl_ops::WindowAttrs;

enum class PoolKind { kMax, kAverage, kGlobalMax, kGlobalAverage };

absl::Status CheckPoolInput(const CompileContext& ctx, PoolKind kind) {
  if (!ctx.has_input(0)) return ctx.Invalid("X is required");
  const TensorDesc& x = ctx.desc(0);
  const bool is_max = kind == PoolKind::kMax || kind == PoolKind::kGlobalMax;
  const bool int8 = x.dtype == DataType::kInt8 || x.dtype == DataType::kUint8;
  if (x.dtype != DataType::kFloat32 && !(is_max && int8)) return ctx.Unsupported("unsupported dtype");
  if (x.shape.size() < 3) return ctx.Invalid("X must have rank >= 3");
  if (x.shape.size() > 5) return ctx.Unsupported("only 1-D, 2-D and 3-D pooling");
  if (NumElements(x.shape) == 0) return ctx.Unsupported("empty input");
  return absl::OkStatus();
}

// Window attributes and output spatial sizes; right pads grow to cover ceil_mode's last window.
absl::StatusOr<std::vector<int64_t>> PlanWindow(const CompileContext& ctx, PoolKind kind, const Shape& x,
                                                WindowAttrs& window) {
  const std::vector<int64_t> in(x.begin() + 2, x.end());
  if (kind == PoolKind::kGlobalMax || kind == PoolKind::kGlobalAverage) {
    const size_t n = in.size();
    window = WindowAttrs{in, std::vector<int64_t>(n, 1), std::vector<int64_t>(n, 1), std::vector<int64_t>(n, 0),
                         std::vector<int64_t>(n, 0), "NOTSET"};
    return std::vector<int64_t>(n, 1);
  }
  ASSIGN_OR_RETURN(window, dnnl_ops::ReadWindowAttrs(ctx, in.size(), {}));
  const bool ceil_mode = ctx.node.GetInt("ceil_mode", 0) != 0;
  ASSIGN_OR_RETURN(std::vector<int64_t> out, dnnl_ops::ForwardWindowOutput(ctx, in, window, ceil_mode));
  const bool count_pad = kind == PoolKind::kAverage && ctx.node.GetInt("count_include_pad", 0) != 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t range = (window.kernel[i] - 1) * window.dilations[i] + 1;
    const int64_t needed = (out[i] - 1) * window.strides[i] + range - in[i] - window.pads_begin[i];
    if (needed <= window.pads_end[i]) continue;
    // oneDNN would count this implicit padding in the average; ONNX does not.
    if (count_pad) return ctx.Unsupported("ceil_mode with count_include_pad");
    window.pads_end[i] = needed;
  }
  return out;
}

dnnl::algorithm AlgorithmFor(const CompileContext& ctx, PoolKind kind) {
  if (kind == PoolKind::kMax || kind == PoolKind::kGlobalMax) return dnnl::algorithm::pooling_max;
  if (kind == PoolKind::kAverage && ctx.node.GetInt("count_include_pad", 0) != 0) {
    return dnnl::algorithm::pooling_avg_include_padding;
  }
  return dnnl::algorithm::pooling_avg_exclude_padding;
}

// With MaxPool's Indices output requested the pool runs in training mode on plain layouts, and a
// host step turns oneDNN's workspace into ONNX indices.
absl::StatusOr<CompiledKernel> CompilePool(const CompileContext& ctx, PoolKind kind) {
  RETURN_IF_ERROR(CheckPoolInput(ctx, kind));
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, kind == PoolKind::kMax ? 2 : 1));
  const bool indices = kind == PoolKind::kMax && ctx.node.output(1) != nullptr;
  const TensorDesc& x = ctx.desc(0);
  WindowAttrs window;
  ASSIGN_OR_RETURN(std::vector<int64_t> spatial, PlanWindow(ctx, kind, x.shape, window));
  Shape out_shape = {x.shape[0], x.shape[1]};
  out_shape.insert(out_shape.end(), spatial.begin(), spatial.end());

  ASSIGN_OR_RETURN(memory::desc src_md, dnnl_util::DescOf(x));
  if (indices) src_md = dnnl_util::PlainDesc(src_md.data_type(), x.shape);
  const memory::desc dst_md = indices ? dnnl_util::PlainDesc(src_md.data_type(), out_shape)
                                      : memory::desc(dnnl_util::ToDims(out_shape), src_md.data_type(), memory::format_tag::any);
  const auto prop = indices ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::pooling_v2_forward::desc desc(prop, AlgorithmFor(ctx, kind), src_md, dst_md, dnnl_ops::Dims(window.strides),
                                      dnnl_ops::Dims(window.kernel), dnnl_ops::DnnlDilations(window.dilations),
                                      dnnl_ops::Dims(window.pads_begin), dnnl_ops::Dims(window.pads_end));
  dnnl::pooling_v2_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::pooling_v2_forward(pd)};
  runner.Bind(DNNL_ARG_SRC, pd.src_desc(), ctx.engine);
  runner.Bind(DNNL_ARG_DST, pd.dst_desc(), ctx.engine);
  std::vector<BufferRef> args = {BufferRef::Input(0), BufferRef::Output(0)};
  BufferRef workspace;
  if (indices) {
    workspace = kernel->ReserveScratch(pd.workspace_desc().get_size());
    runner.Bind(DNNL_ARG_WORKSPACE, pd.workspace_desc(), ctx.engine);
    args.push_back(workspace);
  }
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));
  if (indices) {
    const bool column_major = ctx.node.GetInt("storage_order", 0) != 0;
    kernel->AddHostStep(dnnl_ops::MakeIndicesStep(
        {x.shape, out_shape, window, column_major, pd.workspace_desc().data_type()}, workspace));
  }

  CompiledKernel compiled;
  compiled.input_layouts.resize(ctx.inputs.size());
  compiled.input_layouts[0] = dnnl_util::FromDnnl(x.dtype, x.shape, pd.src_desc()).layout;
  RETURN_IF_ERROR(dnnl_ops::AppendPostOpSteps(ctx, pd.dst_desc(), out_shape, *kernel, compiled));
  compiled.outputs = {dnnl_util::FromDnnl(x.dtype, out_shape, pd.dst_desc())};
  if (indices) compiled.outputs.push_back(TensorDesc{DataType::kInt64, out_shape, {}});
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

absl::StatusOr<CompiledKernel> CompileMaxPool(const CompileContext& ctx) {
  return CompilePool(ctx, PoolKind::kMax);
}
absl::StatusOr<CompiledKernel> CompileAveragePool(const CompileContext& ctx) {
  return CompilePool(ctx, PoolKind::kAverage);
}
absl::StatusOr<CompiledKernel> CompileGlobalMaxPool(const CompileContext& ctx) {
  return CompilePool(ctx, PoolKind::kGlobalMax);
}
absl::StatusOr<CompiledKernel> CompileGlobalAveragePool(const CompileContext& ctx) {
  return CompilePool(ctx, PoolKind::kGlobalAverage);
}

}  // namespace

void RegisterDnnlPoolKernels(KernelRegistry& registry) {
  registry.Register({"MaxPool", &dnnl_ops::Guarded<CompileMaxPool>, kPriorityDnnl, {}});
  registry.Register({"AveragePool", &dnnl_ops::Guarded<CompileAveragePool>, kPriorityDnnl, {}});
  registry.Register({"GlobalMaxPool", &dnnl_ops::Guarded<CompileGlobalMaxPool>, kPriorityDnnl, {}});
  registry.Register({"GlobalAveragePool", &dnnl_ops::Guarded<CompileGlobalAveragePool>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
