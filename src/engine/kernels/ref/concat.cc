// Concat and Split: block copies along one axis. Viewed as [outer, axis * inner], every input (or
// output) contributes one contiguous block per outer index.
#include <algorithm>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Copies between one big tensor and several pieces; `concat` chooses the direction.
class BlockKernel : public Kernel {
 public:
  BlockKernel(DataType dtype, bool concat, int64_t outer, std::vector<int64_t> blocks, int threads)
      : dtype_(dtype), concat_(concat), outer_(outer), blocks_(std::move(blocks)), threads_(threads) {
    for (int64_t b : blocks_) total_block_ += b;
  }

  absl::Status Run(const RunContext& ctx) override {
    const int64_t es = static_cast<int64_t>(ElementSize(dtype_));
    ParallelFor(outer_, outer_ * total_block_, threads_, [&](int64_t o) {
      int64_t offset = o * total_block_;
      for (size_t k = 0; k < blocks_.size(); ++k) {
        const int64_t n = blocks_[k];
        if (n == 0) continue;
        if (concat_) {
          const char* src = static_cast<const char*>(ctx.input(k)) + o * n * es;
          CopyElements(dtype_, src, static_cast<char*>(ctx.output(0)) + offset * es, n);
        } else if (ctx.output(k) != nullptr) {
          const char* src = static_cast<const char*>(ctx.input(0)) + offset * es;
          CopyElements(dtype_, src, static_cast<char*>(ctx.output(k)) + o * n * es, n);
        }
        offset += n;
      }
    });
    return absl::OkStatus();
  }

 private:
  DataType dtype_;
  bool concat_;
  int64_t outer_;
  std::vector<int64_t> blocks_;
  int64_t total_block_ = 0;
  int threads_;
};

absl::StatusOr<CompiledKernel> ConcatFactory(const CompileContext& ctx) {
  if (ctx.inputs.empty()) return ctx.Invalid("needs at least one input");
  RETURN_IF_ERROR(CheckInputCount(ctx, ctx.inputs.size(), ctx.inputs.size()));
  if (!ctx.node.has("axis")) return ctx.Invalid("attribute 'axis' is required");
  const TensorDesc& first = ctx.desc(0);
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), static_cast<int64_t>(first.shape.size())));
  Shape out = first.shape;
  out[static_cast<size_t>(axis)] = 0;
  std::vector<int64_t> blocks;
  for (size_t k = 0; k < ctx.inputs.size(); ++k) {
    const TensorDesc& in = ctx.desc(k);
    if (in.dtype != first.dtype) return ctx.Invalid("inputs must all have the same type");
    bool match = in.shape.size() == out.size();
    for (size_t d = 0; match && d < out.size(); ++d) match = d == static_cast<size_t>(axis) || in.shape[d] == out[d];
    if (!match) return ctx.Invalid("input shapes " + ShapeToString(first.shape) + " and " + ShapeToString(in.shape) + " differ off the axis");
    out[static_cast<size_t>(axis)] += in.shape[static_cast<size_t>(axis)];
    const AxisView v = ViewAround(in.shape, axis);
    blocks.push_back(in.shape[static_cast<size_t>(axis)] * v.inner);
  }
  if (first.dtype == DataType::kUndefined || ElementSize(first.dtype) == 0) return ctx.Unsupported("unsupported dtype");
  CompiledKernel ck;
  ck.kernel = std::make_unique<BlockKernel>(first.dtype, true, ViewAround(out, axis).outer, std::move(blocks), ctx.threads);
  ck.outputs.push_back(PlainDesc(first.dtype, out));
  return ck;
}

// Split sizes: the `split` attribute before opset 13, the optional input 1 from 13; opset 18's
// num_outputs; otherwise an equal split over the node's outputs.
absl::StatusOr<std::vector<int64_t>> SplitSizes(const CompileContext& ctx, int64_t dim, size_t outputs) {
  std::vector<int64_t> split;
  if (ctx.opset < 13) {
    split = ctx.node.GetInts("split");
  } else if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(split, KnownInts(ctx, 1));
  }
  if (!split.empty()) {
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.Invalid("split sizes must not be negative");
      sum += s;
    }
    if (sum != dim || split.size() != outputs) return ctx.Invalid("split sizes do not match the axis or the outputs");
    return split;
  }
  if (outputs == 0) return ctx.Invalid("has no outputs");
  const int64_t n = static_cast<int64_t>(outputs);
  if (ctx.node.has("num_outputs")) {
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t k = 0; k < n; ++k) split.push_back(std::max<int64_t>(0, std::min(chunk, dim - k * chunk)));
    return split;
  }
  if (dim % n != 0) return ctx.Invalid("axis of size " + std::to_string(dim) + " does not split evenly into " + std::to_string(n));
  return std::vector<int64_t>(outputs, dim / n);
}

absl::StatusOr<CompiledKernel> SplitFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 2));
  const TensorDesc& in = ctx.desc(0);
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), static_cast<int64_t>(in.shape.size())));
  const size_t outputs = ctx.node.outputs.size();
  ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(ctx, in.shape[static_cast<size_t>(axis)], outputs));
  if (ElementSize(in.dtype) == 0) return ctx.Unsupported("unsupported dtype");
  const AxisView v = ViewAround(in.shape, axis);
  CompiledKernel ck;
  std::vector<int64_t> blocks;
  for (size_t k = 0; k < outputs; ++k) {
    Shape out = in.shape;
    out[static_cast<size_t>(axis)] = sizes[k];
    blocks.push_back(sizes[k] * v.inner);
    ck.outputs.push_back(ctx.node.output(k) == nullptr ? TensorDesc() : PlainDesc(in.dtype, out));
  }
  ck.kernel = std::make_unique<BlockKernel>(in.dtype, false, v.outer, std::move(blocks), ctx.threads);
  return ck;
}

}  // namespace

void RegisterConcatKernels(KernelRegistry& registry) {
  registry.Register({"Concat", &ConcatFactory, kPriorityRef, {}});
  registry.Register({"Split", &SplitFactory, kPriorityRef, {1}});
  RegisterPadKernels(registry);
}

}  // namespace peregrine::engine::ref
