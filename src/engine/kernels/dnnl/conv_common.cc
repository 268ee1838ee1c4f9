#include "engine/kernels/dnnl/conv_common.h"

#include <algorithm>
#include <utility>

#include "engine/shared_constants.h"

namespace peregrine::engine::dnnl_ops {
namespace {

// Reads an int list attribute of `n` values, or `fallback` repeated when absent.
absl::StatusOr<std::vector<int64_t>> ReadInts(const CompileContext& ctx, const std::string& name, size_t n,
                                              int64_t fallback, int64_t min_value) {
  std::vector<int64_t> values = ctx.node.GetInts(name, std::vector<int64_t>(n, fallback));
  if (values.size() != n) return ctx.Invalid(name + " must have " + std::to_string(n) + " values");
  for (int64_t v : values) {
    if (v < min_value) return ctx.Invalid(name + " has an out-of-range value " + std::to_string(v));
  }
  return values;
}

int64_t DivCeil(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

absl::StatusOr<WindowAttrs> ReadWindowAttrs(const CompileContext& ctx, size_t spatial,
                                            const std::vector<int64_t>& kernel) {
  WindowAttrs attrs;
  if (ctx.node.has("kernel_shape")) {
    attrs.kernel = ctx.node.GetInts("kernel_shape");
    if (attrs.kernel.size() != spatial) return ctx.Invalid("kernel_shape must have " + std::to_string(spatial) + " values");
    if (!kernel.empty() && attrs.kernel != kernel) return ctx.Invalid("kernel_shape does not match the weights");
  } else if (kernel.empty()) {
    return ctx.Invalid("kernel_shape is required");
  } else {
    attrs.kernel = kernel;
  }
  for (int64_t k : attrs.kernel) {
    if (k < 1) return ctx.Invalid("kernel sizes must be positive");
  }
  ASSIGN_OR_RETURN(attrs.strides, ReadInts(ctx, "strides", spatial, 1, 1));
  ASSIGN_OR_RETURN(attrs.dilations, ReadInts(ctx, "dilations", spatial, 1, 1));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadInts(ctx, "pads", 2 * spatial, 0, 0));
  attrs.pads_begin.assign(pads.begin(), pads.begin() + static_cast<ptrdiff_t>(spatial));
  attrs.pads_end.assign(pads.begin() + static_cast<ptrdiff_t>(spatial), pads.end());
  attrs.auto_pad = ctx.node.GetString("auto_pad", "NOTSET");
  if (attrs.auto_pad != "NOTSET" && attrs.auto_pad != "SAME_UPPER" && attrs.auto_pad != "SAME_LOWER" &&
      attrs.auto_pad != "VALID") {
    return ctx.Invalid("unknown auto_pad " + attrs.auto_pad);
  }
  return attrs;
}

absl::StatusOr<std::vector<int64_t>> ForwardWindowOutput(const CompileContext& ctx, const std::vector<int64_t>& in,
                                                         WindowAttrs& attrs, bool ceil_mode) {
  std::vector<int64_t> out(in.size());
  const bool same = attrs.auto_pad == "SAME_UPPER" || attrs.auto_pad == "SAME_LOWER";
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t range = (attrs.kernel[i] - 1) * attrs.dilations[i] + 1;
    const int64_t stride = attrs.strides[i];
    if (same) {
      out[i] = DivCeil(in[i], stride);
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * stride + range - in[i]);
      const int64_t small = total / 2;
      attrs.pads_begin[i] = attrs.auto_pad == "SAME_UPPER" ? small : total - small;
      attrs.pads_end[i] = total - attrs.pads_begin[i];
      continue;
    }
    if (attrs.auto_pad == "VALID") attrs.pads_begin[i] = attrs.pads_end[i] = 0;
    const int64_t span = in[i] + attrs.pads_begin[i] + attrs.pads_end[i] - range;
    if (span < 0) return ctx.Invalid("the window is larger than the padded input");
    out[i] = (ceil_mode ? DivCeil(span, stride) : span / stride) + 1;
    // A window must start inside the input or its leading padding (PyTorch and ONNX Runtime agree).
    if (ceil_mode && (out[i] - 1) * stride >= in[i] + attrs.pads_begin[i]) --out[i];
  }
  for (int64_t v : out) {
    if (v < 1) return ctx.Invalid("the output would be empty");
  }
  return out;
}

dnnl::memory::dims Dims(const std::vector<int64_t>& values) {
  return dnnl::memory::dims(values.begin(), values.end());
}

dnnl::memory::dims DnnlDilations(const std::vector<int64_t>& onnx_dilations) {
  dnnl::memory::dims dims;
  for (int64_t d : onnx_dilations) dims.push_back(d - 1);
  return dims;
}

dnnl::memory ReorderConstant(const dnnl::engine& engine, const dnnl::memory::desc& user_md, const void* data,
                             const dnnl::memory::desc& target_md, SharedConstants* constants) {
  dnnl::memory src(user_md, engine, const_cast<void*>(data));
  if (constants != nullptr) return constants->Reorder(engine, src, target_md);
  dnnl::memory dst(target_md, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(src, dst).execute(stream, src, dst);
  stream.wait();
  return dst;
}

BufferRef AddRuntimeReorder(const dnnl::engine& engine, size_t input, const dnnl::memory::desc& user_md,
                            const dnnl::memory::desc& target_md, StepKernel& kernel) {
  if (user_md == target_md) return BufferRef::Input(input);
  const BufferRef region = kernel.ReserveScratch(target_md.get_size());
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::reorder::primitive_desc pd(engine, user_md, engine, target_md, attr);
  dnnl_util::PrimitiveRunner runner{dnnl::reorder(pd)};
  runner.Bind(DNNL_ARG_FROM, user_md, engine);
  runner.Bind(DNNL_ARG_TO, target_md, engine);
  std::vector<BufferRef> args = {BufferRef::Input(input), region};
  kernel.AddScratchpad(pd, engine, runner, args);
  kernel.AddStep(std::move(runner), std::move(args));
  return region;
}

void BindWeights(const CompileContext& ctx, size_t input, int arg, const dnnl::memory::desc& user_md,
                 const dnnl::memory::desc& target_md, StepKernel& kernel, dnnl_util::PrimitiveRunner& runner,
                 std::vector<BufferRef>& args) {
  const KernelInput& in = ctx.inputs[input];
  if (in.is_known()) {
    runner.BindFixed(arg, ReorderConstant(ctx.engine, user_md, in.value->data(), target_md, ctx.constants));
    return;
  }
  const BufferRef region = AddRuntimeReorder(ctx.engine, input, user_md, target_md, kernel);
  runner.Bind(arg, target_md, ctx.engine);
  args.push_back(region);
}

}  // namespace peregrine::engine::dnnl_ops
