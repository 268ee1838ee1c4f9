// Index-tuple and per-element scatter/gather: GatherND, ScatterND, ScatterElements (and its
// opset 9-10 name Scatter). Indices are data: out-of-range ones are Run errors naming the node.
#include <algorithm>
#include <memory>
#include <type_traits>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

absl::StatusOr<Reduction> ReadReduction(const CompileContext& ctx) {
  const std::string r = ctx.node.GetString("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return ctx.Invalid("unknown reduction '" + r + "'");
}

template <typename T>
T Combine(Reduction r, T old, T update) {
  if constexpr (std::is_same_v<T, bool>) {
    return r == Reduction::kNone ? update : (r == Reduction::kAdd || r == Reduction::kMax ? old || update : old && update);
  } else {
    switch (r) {
      case Reduction::kNone: return update;
      case Reduction::kAdd: return static_cast<T>(old + update);
      case Reduction::kMul: return static_cast<T>(old * update);
      case Reduction::kMax: return std::max(old, update);
      case Reduction::kMin: return std::min(old, update);
    }
    return update;
  }
}

absl::Status OutOfRange(const std::string& node, int64_t index, int64_t size) {
  return absl::InvalidArgumentError(node + ": index " + std::to_string(index) + " is out of range for an axis of size " +
                                    std::to_string(size));
}

// The tuple-indexing geometry shared by GatherND and ScatterND.
struct TupleView {
  int64_t batches = 1;       // product of the batch dims
  int64_t tuples = 1;        // index tuples per batch
  int64_t depth = 0;         // entries per tuple (indices.shape[-1])
  int64_t slice = 1;         // elements addressed by one tuple
  int64_t data_batch = 1;    // elements of data per batch
  std::vector<int64_t> dims;     // data dims the tuple indexes
  std::vector<int64_t> strides;  // their strides in elements
};

absl::StatusOr<TupleView> MakeTupleView(const CompileContext& ctx, const Shape& data, const Shape& indices,
                                        int64_t batch_dims) {
  if (indices.empty()) return ctx.Invalid("indices must have rank >= 1");
  TupleView v;
  v.depth = indices.back();
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(indices.size());
  if (batch_dims < 0 || batch_dims >= std::min(r, q) || v.depth < 1 || batch_dims + v.depth > r) {
    return ctx.Invalid("indices shape " + ShapeToString(indices) + " does not fit data shape " + ShapeToString(data));
  }
  const std::vector<int64_t> strides = RowMajorStrides(data);
  for (int64_t d = 0; d < r; ++d) {
    const size_t i = static_cast<size_t>(d);
    if (d < batch_dims) {
      if (indices[i] != data[i]) return ctx.Invalid("batch dimensions of data and indices differ");
      v.batches *= data[i];
    } else {
      v.data_batch *= data[i];
      if (d < batch_dims + v.depth) {
        v.dims.push_back(data[i]);
        v.strides.push_back(strides[i]);
      } else {
        v.slice *= data[i];
      }
    }
  }
  for (int64_t d = batch_dims; d < q - 1; ++d) v.tuples *= indices[static_cast<size_t>(d)];
  return v;
}

// Element offset (within one batch of data) of tuple `t`, or an error for an index out of range.
absl::StatusOr<int64_t> TupleOffset(const TupleView& v, const int64_t* tuple, const std::string& node) {
  int64_t offset = 0;
  for (int64_t j = 0; j < v.depth; ++j) {
    int64_t idx = tuple[j];
    const int64_t n = v.dims[static_cast<size_t>(j)];
    if (idx < -n || idx >= n) return OutOfRange(node, idx, n);
    if (idx < 0) idx += n;
    offset += idx * v.strides[static_cast<size_t>(j)];
  }
  return offset;
}

template <typename T>
class GatherNDKernel : public Kernel {
 public:
  GatherNDKernel(std::string node, TupleView v) : node_(std::move(node)), v_(std::move(v)) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* data = ctx.input_as<T>(0);
    const int64_t* indices = ctx.input_as<int64_t>(1);
    T* out = ctx.output_as<T>(0);
    for (int64_t b = 0; b < v_.batches; ++b) {
      for (int64_t t = 0; t < v_.tuples; ++t) {
        const int64_t n = b * v_.tuples + t;
        ASSIGN_OR_RETURN(int64_t offset, TupleOffset(v_, indices + n * v_.depth, node_));
        const T* src = data + b * v_.data_batch + offset;
        std::copy(src, src + v_.slice, out + n * v_.slice);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string node_;
  TupleView v_;
};

absl::StatusOr<CompiledKernel> GatherNDFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& data = ctx.desc(0);
  const TensorDesc& indices = ctx.desc(1);
  if (indices.dtype != DataType::kInt64) return ctx.Invalid("indices must be int64");
  const int64_t batch_dims = ctx.node.GetInt("batch_dims", 0);
  ASSIGN_OR_RETURN(TupleView v, MakeTupleView(ctx, data.shape, indices.shape, batch_dims));
  Shape out(indices.shape.begin(), indices.shape.end() - 1);
  out.insert(out.end(), data.shape.begin() + batch_dims + v.depth, data.shape.end());
  CompiledKernel ck;
  const bool ok = DispatchBySize(data.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<GatherNDKernel<T>>(ctx.node.Describe(), v);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(data.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(data.dtype, std::move(out)));
  return ck;
}

template <typename T>
class ScatterNDKernel : public Kernel {
 public:
  ScatterNDKernel(std::string node, TupleView v, int64_t count, Reduction r)
      : node_(std::move(node)), v_(std::move(v)), count_(count), reduction_(r) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* data = ctx.input_as<T>(0);
    const int64_t* indices = ctx.input_as<int64_t>(1);
    const T* updates = ctx.input_as<T>(2);
    T* out = ctx.output_as<T>(0);
    if (out != data) std::copy(data, data + count_, out);
    for (int64_t t = 0; t < v_.tuples; ++t) {
      ASSIGN_OR_RETURN(int64_t offset, TupleOffset(v_, indices + t * v_.depth, node_));
      for (int64_t i = 0; i < v_.slice; ++i) {
        out[offset + i] = Combine(reduction_, out[offset + i], updates[t * v_.slice + i]);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string node_;
  TupleView v_;
  int64_t count_;
  Reduction reduction_;
};

absl::StatusOr<CompiledKernel> ScatterNDFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 3, 3));
  const TensorDesc& data = ctx.desc(0);
  const TensorDesc& indices = ctx.desc(1);
  const TensorDesc& updates = ctx.desc(2);
  if (indices.dtype != DataType::kInt64) return ctx.Invalid("indices must be int64");
  if (updates.dtype != data.dtype) return ctx.Invalid("updates must have the data's type");
  ASSIGN_OR_RETURN(TupleView v, MakeTupleView(ctx, data.shape, indices.shape, 0));
  Shape want(indices.shape.begin(), indices.shape.end() - 1);
  want.insert(want.end(), data.shape.begin() + v.depth, data.shape.end());
  if (updates.shape != want) return ctx.Invalid("updates must have shape " + ShapeToString(want));
  ASSIGN_OR_RETURN(Reduction r, ReadReduction(ctx));
  CompiledKernel ck;
  const bool ok = DispatchNumericOrBool(data.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<ScatterNDKernel<T>>(ctx.node.Describe(), v, Count(data.shape), r);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(data.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(data.dtype, data.shape));
  ck.alias_input = 0;
  return ck;
}

// out = data; out[c with c[axis] = indices[c]] = updates[c] for every coordinate c of indices.
template <typename T>
class ScatterElementsKernel : public Kernel {
 public:
  ScatterElementsKernel(std::string node, Shape index_shape, Shape data_shape, int64_t axis, Reduction r, bool is64)
      : node_(std::move(node)), shape_(std::move(index_shape)), strides_(RowMajorStrides(data_shape)),
        count_(NumElements(data_shape)), n_(data_shape[static_cast<size_t>(axis)]), axis_(axis), reduction_(r),
        is64_(is64), coord_(shape_.size(), 0) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* data = ctx.input_as<T>(0);
    const void* indices = ctx.input(1);
    const T* updates = ctx.input_as<T>(2);
    T* out = ctx.output_as<T>(0);
    if (out != data) std::copy(data, data + count_, out);
    std::fill(coord_.begin(), coord_.end(), 0);
    int64_t base = 0;  // offset of coord_ in data without the axis term
    const int64_t total = NumElements(shape_);
    for (int64_t e = 0; e < total; ++e) {
      int64_t idx = is64_ ? static_cast<const int64_t*>(indices)[e] : static_cast<const int32_t*>(indices)[e];
      if (idx < -n_ || idx >= n_) return OutOfRange(node_, idx, n_);
      if (idx < 0) idx += n_;
      T& target = out[base + idx * strides_[static_cast<size_t>(axis_)]];
      target = Combine(reduction_, target, updates[e]);
      AdvanceExceptAxis(coord_, shape_, strides_, axis_, base);
    }
    return absl::OkStatus();
  }

 private:
  std::string node_;
  Shape shape_;
  std::vector<int64_t> strides_;
  int64_t count_, n_, axis_;
  Reduction reduction_;
  bool is64_;
  std::vector<int64_t> coord_;  // per-run odometer, sized at compile time (Run is never concurrent)
};

absl::StatusOr<CompiledKernel> ScatterElementsFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 3, 3));
  const TensorDesc& data = ctx.desc(0);
  const TensorDesc& indices = ctx.desc(1);
  const TensorDesc& updates = ctx.desc(2);
  if (indices.dtype != DataType::kInt32 && indices.dtype != DataType::kInt64) return ctx.Invalid("indices must be int32 or int64");
  if (updates.dtype != data.dtype || updates.shape != indices.shape) return ctx.Invalid("updates must match indices and data");
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0 || static_cast<int64_t>(indices.shape.size()) != rank) return ctx.Invalid("data and indices must have the same rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), rank));
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis && indices.shape[static_cast<size_t>(d)] > data.shape[static_cast<size_t>(d)]) {
      return ctx.Invalid("indices shape exceeds data shape");
    }
  }
  ASSIGN_OR_RETURN(Reduction r, ReadReduction(ctx));
  CompiledKernel ck;
  const bool ok = DispatchNumericOrBool(data.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<ScatterElementsKernel<T>>(ctx.node.Describe(), indices.shape, data.shape, axis, r,
                                                           indices.dtype == DataType::kInt64);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(data.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(data.dtype, data.shape));
  ck.alias_input = 0;
  return ck;
}

}  // namespace

void RegisterScatterKernels(KernelRegistry& registry) {
  registry.Register({"GatherND", &GatherNDFactory, kPriorityRef, {}});
  registry.Register({"ScatterND", &ScatterNDFactory, kPriorityRef, {}});
  registry.Register({"ScatterElements", &ScatterElementsFactory, kPriorityRef, {}});
  registry.Register({"Scatter", &ScatterElementsFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
