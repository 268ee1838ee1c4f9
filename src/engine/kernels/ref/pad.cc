// Pad: constant, reflect, edge and wrap modes; negative pads crop. Each output coordinate maps,
// per dimension, to a source index or to "padding"; the maps are built at compile time.
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

template <typename T>
class PadKernel : public Kernel {
 public:
  PadKernel(Shape out, std::vector<int64_t> in_strides, std::vector<std::vector<int64_t>> maps, T value,
            bool value_input, int threads)
      : out_(std::move(out)), in_strides_(std::move(in_strides)), maps_(std::move(maps)), value_(value),
        value_input_(value_input), threads_(threads) {
    inner_ = out_.back();
    rows_ = inner_ == 0 ? 0 : NumElements(out_) / inner_;
  }

  absl::Status Run(const RunContext& ctx) override {
    const T& value = value_input_ ? ctx.input_as<T>(2)[0] : value_;
    const T* in = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    const std::vector<int64_t>& last = maps_.back();
    ParallelFor(rows_, rows_ * inner_, threads_, [&](int64_t row) {
      int64_t r = row, offset = 0;
      bool pad = false;
      for (size_t d = out_.size() - 1; d-- > 0;) {
        const int64_t m = maps_[d][static_cast<size_t>(r % out_[d])];
        r /= out_[d];
        if (m < 0) pad = true;
        offset += m * in_strides_[d];
      }
      T* dst = out + row * inner_;
      if (pad) {
        for (int64_t j = 0; j < inner_; ++j) dst[j] = value;
        return;
      }
      const T* src = in + offset;
      for (int64_t j = 0; j < inner_; ++j) dst[j] = last[static_cast<size_t>(j)] < 0 ? value : src[last[static_cast<size_t>(j)]];
    });
    return absl::OkStatus();
  }

 private:
  Shape out_;
  std::vector<int64_t> in_strides_;
  std::vector<std::vector<int64_t>> maps_;
  T value_;
  bool value_input_;
  int threads_;
  int64_t inner_ = 0, rows_ = 0;
};

// Source index for output coordinate `o` of a dim of size n padded by `begin` in front; -1 = pad.
int64_t MapIndex(PadMode mode, int64_t o, int64_t begin, int64_t n) {
  int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return i < 0 ? 0 : n - 1;
    case PadMode::kWrap: return ((i % n) + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      i = ((i % period) + period) % period;
      return i < n ? i : period - i;
    }
  }
  return -1;
}

absl::StatusOr<std::vector<int64_t>> ReadPads(const CompileContext& ctx, size_t rank) {
  std::vector<int64_t> pads;
  if (ctx.opset < 11) {
    pads = ctx.node.GetInts("pads");
  } else {
    ASSIGN_OR_RETURN(pads, KnownInts(ctx, 1));
  }
  if (ctx.has_input(3)) {  // opset 18 axes: pads cover only these axes
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, KnownInts(ctx, 3));
    ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, axes, static_cast<int64_t>(rank)));
    if (pads.size() != 2 * axes.size()) return ctx.Invalid("pads must have two entries per axis");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      full[static_cast<size_t>(axes[i])] = pads[i];
      full[static_cast<size_t>(axes[i]) + rank] = pads[i + axes.size()];
    }
    return full;
  }
  if (pads.size() != 2 * rank) return ctx.Invalid("pads must have 2 * rank entries");
  return pads;
}

absl::StatusOr<PadMode> ReadMode(const CompileContext& ctx) {
  const std::string mode = ctx.node.GetString("mode", "constant");
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") return PadMode::kWrap;
  return ctx.Invalid("unknown mode '" + mode + "'");
}

absl::StatusOr<CompiledKernel> PadFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, ctx.opset < 11 ? 1 : 4));
  const TensorDesc& x = ctx.desc(0);
  Shape in = x.shape.empty() ? Shape{1} : x.shape;
  ASSIGN_OR_RETURN(PadMode mode, ReadMode(ctx));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadPads(ctx, x.shape.size()));
  if (x.shape.empty()) pads = {0, 0};
  const size_t rank = in.size();
  Shape out(rank);
  std::vector<std::vector<int64_t>> maps(rank);
  for (size_t d = 0; d < rank; ++d) {
    out[d] = in[d] + pads[d] + pads[d + rank];
    if (out[d] < 0) return ctx.Invalid("pads make dimension " + std::to_string(d) + " negative");
    if (in[d] == 0 && out[d] > 0 && mode != PadMode::kConstant) return ctx.Invalid("cannot pad an empty dimension in this mode");
    for (int64_t o = 0; o < out[d]; ++o) maps[d].push_back(MapIndex(mode, o, pads[d], in[d]));
  }
  const bool value_input = ctx.opset >= 11 && ctx.has_input(2);
  if (value_input && (ctx.desc(2).dtype != x.dtype || Count(ctx.desc(2).shape) != 1)) {
    return ctx.Invalid("constant_value must be a scalar of the input's type");
  }
  Tensor value = Tensor::Zeros(x.dtype, {});
  const float attr_value = ctx.node.GetFloat("value", 0.0f);
  if (ctx.opset < 11 && attr_value != 0.0f) {
    const bool ok = DispatchNumeric(x.dtype, [&]<typename T>() { value.data_as<T>()[0] = static_cast<T>(attr_value); });
    if (!ok) return ctx.Unsupported("a non-zero pad value for this dtype is not supported");
  }
  CompiledKernel ck;
  const bool ok = DispatchBySize(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<PadKernel<T>>(out, RowMajorStrides(in), std::move(maps), value.data_as<T>()[0],
                                               value_input, ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape.empty() ? Shape{} : out));
  return ck;
}

}  // namespace

void RegisterPadKernels(KernelRegistry& registry) {
  registry.Register({"Pad", &PadFactory, kPriorityRef, {1, 3}});
}

}  // namespace peregrine::engine::ref
