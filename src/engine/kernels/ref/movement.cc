// Data movement expressed as one strided gather (StridedPlan): Transpose, Expand, Tile, Slice,
// DepthToSpace, SpaceToDepth.
// All element types move, strings included.
#include <algorithm>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/strided.h"

namespace peregrine::engine::ref {
namespace {

// out (row-major over plan.dims) = in[plan offsets of operand 0].
template <typename T>
class GatherCopyKernel : public Kernel {
 public:
  GatherCopyKernel(StridedPlan plan, int threads) : plan_(std::move(plan)), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* in = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    const int64_t s = plan_.InnerStride(0);
    ForEachRowChunk(plan_, threads_, [&](int64_t row, int64_t begin, int64_t end) {
      const T* src = in + plan_.RowOffset(0, row) + begin * s;
      T* dst = out + row * plan_.inner + begin;
      const int64_t n = end - begin;
      if (s == 1) {
        std::copy(src, src + n, dst);
      } else {
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i * s];
      }
    });
    return absl::OkStatus();
  }

 private:
  StridedPlan plan_;
  int threads_;
};

absl::StatusOr<CompiledKernel> MakeGatherCopy(const CompileContext& ctx, Shape out_shape, const Shape& dims,
                                              std::vector<int64_t> strides, int64_t base) {
  const DataType dtype = ctx.desc(0).dtype;
  StridedPlan plan = MakeStridedPlan(dims, {std::move(strides)}, {base});
  CompiledKernel ck;
  const bool ok = DispatchBySize(dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<GatherCopyKernel<T>>(std::move(plan), ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(dtype, std::move(out_shape)));
  return ck;
}

absl::StatusOr<CompiledKernel> TransposeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const Shape& in = ctx.desc(0).shape;
  const size_t rank = in.size();
  std::vector<int64_t> perm = ctx.node.GetInts("perm");
  if (!ctx.node.has("perm")) {
    for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
  }
  if (perm.size() != rank) return ctx.Invalid("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  Shape out;
  std::vector<int64_t> strides;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)]) {
      return ctx.Invalid("perm is not a permutation");
    }
    seen[static_cast<size_t>(p)] = true;
    out.push_back(in[static_cast<size_t>(p)]);
    strides.push_back(in_strides[static_cast<size_t>(p)]);
  }
  return MakeGatherCopy(ctx, out, out, std::move(strides), 0);
}

absl::StatusOr<CompiledKernel> ExpandFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const Shape& in = ctx.desc(0).shape;
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, KnownInts(ctx, 1));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Invalid("shape has a negative dimension");
  }
  ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, {in, shape}));
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  const size_t offset = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[offset + d] = in[d] == 1 ? 0 : in_strides[d];
  return MakeGatherCopy(ctx, out, out, std::move(strides), 0);
}

absl::StatusOr<CompiledKernel> TileFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const Shape& in = ctx.desc(0).shape;
  ASSIGN_OR_RETURN(std::vector<int64_t> repeats, KnownInts(ctx, 1));
  if (repeats.size() != in.size()) return ctx.Invalid("repeats must have one entry per input dimension");
  // Output coordinate d = r * in[d] + i, so walking (r0, i0, r1, i1, ...) in row-major order is
  // walking the output in row-major order; r has stride 0 in the input.
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  Shape out, dims;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < in.size(); ++d) {
    if (repeats[d] < 0) return ctx.Invalid("repeats must not be negative");
    out.push_back(in[d] * repeats[d]);
    dims.insert(dims.end(), {repeats[d], in[d]});
    strides.insert(strides.end(), {0, in_strides[d]});
  }
  return MakeGatherCopy(ctx, out, dims, std::move(strides), 0);
}

struct SliceArgs {
  std::vector<int64_t> starts, ends, axes, steps;
};

absl::StatusOr<SliceArgs> ReadSliceArgs(const CompileContext& ctx, int64_t rank) {
  SliceArgs args;
  if (ctx.opset < 10) {
    args.starts = ctx.node.GetInts("starts");
    args.ends = ctx.node.GetInts("ends");
    args.axes = ctx.node.GetInts("axes");
  } else {
    ASSIGN_OR_RETURN(args.starts, KnownInts(ctx, 1));
    ASSIGN_OR_RETURN(args.ends, KnownInts(ctx, 2));
    if (ctx.has_input(3)) {
      ASSIGN_OR_RETURN(args.axes, KnownInts(ctx, 3));
    }
    if (ctx.has_input(4)) {
      ASSIGN_OR_RETURN(args.steps, KnownInts(ctx, 4));
    }
  }
  const size_t n = args.starts.size();
  if (args.axes.empty()) {
    for (size_t i = 0; i < n; ++i) args.axes.push_back(static_cast<int64_t>(i));
  }
  if (args.steps.empty()) args.steps.assign(n, 1);
  if (args.ends.size() != n || args.axes.size() != n || args.steps.size() != n) {
    return ctx.Invalid("starts, ends, axes and steps must have the same length");
  }
  ASSIGN_OR_RETURN(args.axes, NormalizeAxes(ctx, args.axes, rank));
  return args;
}

// Clamps like the ONNX spec: for positive steps into [0, dim], for negative ones into [0, dim-1]
// (start) and [-1, dim-1] (end). Returns the element count.
int64_t ClampSlice(int64_t dim, int64_t step, int64_t& start, int64_t end) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    return end > start ? (end - start - 1) / step + 1 : 0;
  }
  start = std::clamp<int64_t>(start, 0, dim - 1);
  end = std::clamp<int64_t>(end, -1, dim - 1);
  const int64_t stride = step == INT64_MIN ? INT64_MAX : -step;  // -INT64_MIN overflows
  return start > end ? (start - end - 1) / stride + 1 : 0;
}

absl::StatusOr<CompiledKernel> SliceFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, ctx.opset < 10 ? 1 : 3, ctx.opset < 10 ? 1 : 5));
  const Shape& in = ctx.desc(0).shape;
  ASSIGN_OR_RETURN(SliceArgs args, ReadSliceArgs(ctx, static_cast<int64_t>(in.size())));
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  Shape out = in;
  std::vector<int64_t> strides = in_strides;
  int64_t base = 0;
  for (size_t i = 0; i < args.axes.size(); ++i) {
    const size_t axis = static_cast<size_t>(args.axes[i]);
    const int64_t step = args.steps[i];
    if (step == 0) return ctx.Invalid("step must not be zero");
    int64_t start = args.starts[i];
    out[axis] = in[axis] == 0 ? 0 : ClampSlice(in[axis], step, start, args.ends[i]);
    if (out[axis] > 0) base += start * in_strides[axis];
    // With one element or none the stride is never used (and a huge step would overflow it).
    strides[axis] = out[axis] > 1 ? in_strides[axis] * step : 0;
  }
  return MakeGatherCopy(ctx, out, out, std::move(strides), Count(out) == 0 ? 0 : base);
}

// DepthToSpace / SpaceToDepth: a reshape to 6-D, a transpose, and a reshape back, done as one
// strided gather over the 6-D view.
absl::StatusOr<CompiledKernel> DepthSpaceFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const Shape& in = ctx.desc(0).shape;
  if (in.size() != 4) return ctx.Invalid("input must be 4-D (N, C, H, W)");
  const int64_t b = ctx.node.GetInt("blocksize", 0);
  if (b <= 0) return ctx.Invalid("blocksize must be positive");
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  Shape view, out;
  std::vector<int64_t> perm;
  if (ctx.node.op_type == "DepthToSpace") {
    if (c % (b * b) != 0) return ctx.Invalid("channels must be divisible by blocksize^2");
    const bool crd = ctx.node.GetString("mode", "DCR") == "CRD";
    view = crd ? Shape{n, c / (b * b), b, b, h, w} : Shape{n, b, b, c / (b * b), h, w};
    perm = crd ? std::vector<int64_t>{0, 1, 4, 2, 5, 3} : std::vector<int64_t>{0, 3, 4, 1, 5, 2};
    out = {n, c / (b * b), h * b, w * b};
  } else {
    if (h % b != 0 || w % b != 0) return ctx.Invalid("height and width must be divisible by blocksize");
    view = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    out = {n, c * b * b, h / b, w / b};
  }
  const std::vector<int64_t> view_strides = RowMajorStrides(view);
  Shape dims;
  std::vector<int64_t> strides;
  for (int64_t p : perm) {
    dims.push_back(view[static_cast<size_t>(p)]);
    strides.push_back(view_strides[static_cast<size_t>(p)]);
  }
  return MakeGatherCopy(ctx, out, dims, std::move(strides), 0);
}

}  // namespace

void RegisterMoveKernels(KernelRegistry& registry) {
  registry.Register({"Transpose", &TransposeFactory, kPriorityRef, {}});
  registry.Register({"Expand", &ExpandFactory, kPriorityRef, {1}});
  registry.Register({"Tile", &TileFactory, kPriorityRef, {1}});
  registry.Register({"Slice", &SliceFactory, kPriorityRef, {1, 2, 3, 4}});
  registry.Register({"DepthToSpace", &DepthSpaceFactory, kPriorityRef, {}});
  registry.Register({"SpaceToDepth", &DepthSpaceFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
