// Gather and GatherElements. Indices (int32 or int64, negative counting from the end) are data:
// an index out of range is a Run error naming the node, never an out-of-bounds read.
#include <algorithm>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Reads index i of an int32 or int64 tensor.
inline int64_t IndexAt(const void* indices, bool is64, int64_t i) {
  return is64 ? static_cast<const int64_t*>(indices)[i] : static_cast<const int32_t*>(indices)[i];
}

absl::Status OutOfRange(const std::string& node, int64_t index, int64_t size) {
  return absl::InvalidArgumentError(node + ": index " + std::to_string(index) + " is out of range for an axis of size " +
                                    std::to_string(size));
}

// Data viewed as [outer, n, inner], indices as a flat list of k entries; out is [outer, k, inner].
template <typename T>
class GatherKernel : public Kernel {
 public:
  GatherKernel(std::string node, int64_t outer, int64_t n, int64_t inner, int64_t k, bool is64, int threads)
      : node_(std::move(node)), outer_(outer), n_(n), inner_(inner), k_(k), is64_(is64), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const void* indices = ctx.input(1);
    for (int64_t j = 0; j < k_; ++j) {
      const int64_t idx = IndexAt(indices, is64_, j);
      if (idx < -n_ || idx >= n_) return OutOfRange(node_, idx, n_);
    }
    const T* data = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    ParallelFor(outer_, outer_ * k_ * inner_, threads_, [&](int64_t o) {
      const T* src = data + o * n_ * inner_;
      T* dst = out + o * k_ * inner_;
      for (int64_t j = 0; j < k_; ++j) {
        int64_t idx = IndexAt(indices, is64_, j);
        if (idx < 0) idx += n_;
        if (inner_ == 1) {
          dst[j] = src[idx];
        } else {
          std::copy(src + idx * inner_, src + (idx + 1) * inner_, dst + j * inner_);
        }
      }
    });
    return absl::OkStatus();
  }

 private:
  std::string node_;
  int64_t outer_, n_, inner_, k_;
  bool is64_;
  int threads_;
};

absl::StatusOr<CompiledKernel> GatherFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& data = ctx.desc(0);
  const TensorDesc& indices = ctx.desc(1);
  if (indices.dtype != DataType::kInt32 && indices.dtype != DataType::kInt64) return ctx.Invalid("indices must be int32 or int64");
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) return ctx.Invalid("data must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), rank));
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), indices.shape.begin(), indices.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= data.shape[static_cast<size_t>(d)];
  CompiledKernel ck;
  const bool ok = DispatchBySize(data.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<GatherKernel<T>>(ctx.node.Describe(), outer, data.shape[static_cast<size_t>(axis)], inner,
                                                  Count(indices.shape), indices.dtype == DataType::kInt64, ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(data.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(data.dtype, std::move(out)));
  return ck;
}

// out[c] = data[c with c[axis] replaced by indices[c]], for every coordinate c of indices.
template <typename T>
class GatherElementsKernel : public Kernel {
 public:
  GatherElementsKernel(std::string node, Shape index_shape, std::vector<int64_t> data_strides, int64_t axis,
                       int64_t n, bool is64)
      : node_(std::move(node)), shape_(std::move(index_shape)), strides_(std::move(data_strides)), axis_(axis), n_(n),
        is64_(is64), coord_(shape_.size(), 0) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* data = ctx.input_as<T>(0);
    const void* indices = ctx.input(1);
    T* out = ctx.output_as<T>(0);
    const int64_t total = NumElements(shape_);
    std::fill(coord_.begin(), coord_.end(), 0);
    int64_t base = 0;  // offset of coord_ in data, without the axis term
    for (int64_t e = 0; e < total; ++e) {
      int64_t idx = IndexAt(indices, is64_, e);
      if (idx < -n_ || idx >= n_) return OutOfRange(node_, idx, n_);
      if (idx < 0) idx += n_;
      out[e] = data[base + idx * strides_[static_cast<size_t>(axis_)]];
      AdvanceExceptAxis(coord_, shape_, strides_, axis_, base);
    }
    return absl::OkStatus();
  }

 private:
  std::string node_;
  Shape shape_;
  std::vector<int64_t> strides_;
  int64_t axis_, n_;
  bool is64_;
  std::vector<int64_t> coord_;  // per-run odometer, sized at compile time (Run is never concurrent)
};

absl::StatusOr<CompiledKernel> GatherElementsFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& data = ctx.desc(0);
  const TensorDesc& indices = ctx.desc(1);
  if (indices.dtype != DataType::kInt32 && indices.dtype != DataType::kInt64) return ctx.Invalid("indices must be int32 or int64");
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0 || indices.shape.size() != data.shape.size()) return ctx.Invalid("data and indices must have the same rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), rank));
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis && indices.shape[static_cast<size_t>(d)] > data.shape[static_cast<size_t>(d)]) {
      return ctx.Invalid("indices shape " + ShapeToString(indices.shape) + " exceeds data shape " + ShapeToString(data.shape));
    }
  }
  CompiledKernel ck;
  const bool ok = DispatchBySize(data.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<GatherElementsKernel<T>>(ctx.node.Describe(), indices.shape, RowMajorStrides(data.shape),
                                                          axis, data.shape[static_cast<size_t>(axis)],
                                                          indices.dtype == DataType::kInt64);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(data.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(data.dtype, indices.shape));
  return ck;
}

}  // namespace

void RegisterGatherKernels(KernelRegistry& registry) {
  registry.Register({"Gather", &GatherFactory, kPriorityRef, {}});
  registry.Register({"GatherElements", &GatherElementsFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
