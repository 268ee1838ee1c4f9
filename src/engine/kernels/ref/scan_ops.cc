// Ops that walk one axis in order, viewing the input as [outer, n, inner]: CumSum, TopK,
// ReverseSequence.
#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Integer sums wrap instead of overflowing (undefined behaviour for signed types).
template <typename T>
T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<std::common_type_t<T, int>>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

// A strict total order for sorting: NaN is greater than every number (and equal to NaN).
template <typename T>
bool Greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool an = std::isnan(a), bn = std::isnan(b);
    if (an || bn) return an && !bn;
  }
  return a > b;
}

template <typename T>
class CumSumKernel : public Kernel {
 public:
  CumSumKernel(AxisView v, bool exclusive, bool reverse) : v_(v), exclusive_(exclusive), reverse_(reverse) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* x = ctx.input_as<T>(0);
    T* y = ctx.output_as<T>(0);
    for (int64_t o = 0; o < v_.outer; ++o) {
      for (int64_t i = 0; i < v_.inner; ++i) {
        T sum = 0;
        for (int64_t step = 0; step < v_.n; ++step) {
          const int64_t r = reverse_ ? v_.n - 1 - step : step;
          const int64_t at = (o * v_.n + r) * v_.inner + i;
          const T value = x[at];  // read first: y may be x (in place)
          if (exclusive_) {
            y[at] = sum;
            sum = WrapAdd(sum, value);
          } else {
            sum = WrapAdd(sum, value);
            y[at] = sum;
          }
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  AxisView v_;
  bool exclusive_, reverse_;
};

absl::StatusOr<CompiledKernel> CumSumFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& x = ctx.desc(0);
  ASSIGN_OR_RETURN(std::vector<int64_t> axis_value, KnownInts(ctx, 1));
  if (axis_value.size() != 1) return ctx.Invalid("axis must be a scalar");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, axis_value[0], std::max<int64_t>(rank, 1)));
  const AxisView v = rank == 0 ? AxisView{} : ViewAround(x.shape, axis);
  const bool exclusive = ctx.node.GetInt("exclusive", 0) != 0, reverse = ctx.node.GetInt("reverse", 0) != 0;
  CompiledKernel ck;
  const bool ok = DispatchNumeric(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<CumSumKernel<T>>(v, exclusive, reverse);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  ck.alias_input = 0;
  return ck;
}

// TopK along an axis: values and int64 indices of the k largest (or smallest), sorted, ties broken
// by the lower index. Uses scratch for the index permutation of one row.
template <typename T>
class TopKKernel : public Kernel {
 public:
  TopKKernel(AxisView v, int64_t k, bool largest) : v_(v), k_(k), largest_(largest) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* x = ctx.input_as<T>(0);
    T* values = ctx.output_as<T>(0);
    int64_t* indices = ctx.output_as<int64_t>(1);
    int64_t* order = static_cast<int64_t*>(ctx.scratch());
    for (int64_t o = 0; o < v_.outer; ++o) {
      for (int64_t i = 0; i < v_.inner; ++i) {
        const T* row = x + o * v_.n * v_.inner + i;
        for (int64_t r = 0; r < v_.n; ++r) order[r] = r;
        auto before = [&](int64_t a, int64_t b) {
          const T va = row[a * v_.inner], vb = row[b * v_.inner];
          if (Greater(va, vb)) return largest_;
          if (Greater(vb, va)) return !largest_;
          return a < b;
        };
        std::partial_sort(order, order + k_, order + v_.n, before);
        for (int64_t j = 0; j < k_; ++j) {
          const int64_t at = (o * k_ + j) * v_.inner + i;
          if (values != nullptr) values[at] = row[order[j] * v_.inner];
          if (indices != nullptr) indices[at] = order[j];
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  AxisView v_;
  int64_t k_;
  bool largest_;
};

absl::StatusOr<CompiledKernel> TopKFactory(const CompileContext& ctx) {
  const bool k_input = ctx.opset >= 10;
  RETURN_IF_ERROR(CheckInputCount(ctx, k_input ? 2 : 1, k_input ? 2 : 1));
  const TensorDesc& x = ctx.desc(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return ctx.Invalid("input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", -1), rank));
  int64_t k = ctx.node.GetInt("k", -1);
  if (k_input) {
    ASSIGN_OR_RETURN(std::vector<int64_t> kv, KnownInts(ctx, 1));
    if (kv.size() != 1) return ctx.Invalid("K must hold one value");
    k = kv[0];
  }
  const AxisView v = ViewAround(x.shape, axis);
  if (k < 0 || k > v.n) return ctx.Invalid("k = " + std::to_string(k) + " is out of range for an axis of size " + std::to_string(v.n));
  if (ctx.node.outputs.size() != 2) return ctx.Invalid("needs two outputs");
  const bool largest = ctx.node.GetInt("largest", 1) != 0;
  CompiledKernel ck;
  const bool ok = DispatchNumeric(x.dtype, [&]<typename T>() { ck.kernel = std::make_unique<TopKKernel<T>>(v, k, largest); });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  Shape out = x.shape;
  out[static_cast<size_t>(axis)] = k;
  ck.outputs.push_back(ctx.node.output(0) ? PlainDesc(x.dtype, out) : TensorDesc());
  ck.outputs.push_back(ctx.node.output(1) ? PlainDesc(DataType::kInt64, out) : TensorDesc());
  ck.scratch_bytes = static_cast<size_t>(v.n) * sizeof(int64_t);
  return ck;
}

// ReverseSequence: for batch b, the first sequence_lens[b] steps along the time axis reversed.
class ReverseSequenceKernel : public Kernel {
 public:
  ReverseSequenceKernel(std::string node, DataType dtype, const Shape& shape, int64_t time_axis, int64_t batch_axis)
      : node_(std::move(node)), dtype_(dtype), strides_(RowMajorStrides(shape)), count_(NumElements(shape)),
        time_axis_(time_axis), batch_axis_(batch_axis), steps_(shape[static_cast<size_t>(time_axis)]),
        batches_(shape[static_cast<size_t>(batch_axis)]) {}

  absl::Status Run(const RunContext& ctx) override {
    const int64_t* lens = ctx.input_as<int64_t>(1);
    for (int64_t b = 0; b < batches_; ++b) {
      if (lens[b] < 0 || lens[b] > steps_) {
        return absl::InvalidArgumentError(node_ + ": sequence length " + std::to_string(lens[b]) + " is out of range");
      }
    }
    const size_t es = ElementSize(dtype_);
    const char* x = static_cast<const char*>(ctx.input(0));
    char* y = static_cast<char*>(ctx.output(0));
    const int64_t ts = strides_[static_cast<size_t>(time_axis_)], bs = strides_[static_cast<size_t>(batch_axis_)];
    // Every element: find its (time, batch) coordinates and its source along the time axis.
    for (int64_t e = 0; e < count_; ++e) {
      const int64_t t = (e / ts) % steps_, b = (e / bs) % batches_;
      const int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
      CopyElements(dtype_, x + (e + (src_t - t) * ts) * static_cast<int64_t>(es), y + e * static_cast<int64_t>(es), 1);
    }
    return absl::OkStatus();
  }

 private:
  std::string node_;
  DataType dtype_;
  std::vector<int64_t> strides_;
  int64_t count_, time_axis_, batch_axis_, steps_, batches_;
};

absl::StatusOr<CompiledKernel> ReverseSequenceFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& x = ctx.desc(0);
  if (x.shape.size() < 2) return ctx.Invalid("input must have rank >= 2");
  const int64_t time_axis = ctx.node.GetInt("time_axis", 0), batch_axis = ctx.node.GetInt("batch_axis", 1);
  if (!((time_axis == 0 && batch_axis == 1) || (time_axis == 1 && batch_axis == 0))) {
    return ctx.Invalid("time_axis and batch_axis must be 0 and 1");
  }
  const TensorDesc& lens = ctx.desc(1);
  if (lens.dtype != DataType::kInt64 || lens.shape != Shape{x.shape[static_cast<size_t>(batch_axis)]}) {
    return ctx.Invalid("sequence_lens must be int64 of shape [batch]");
  }
  if (ElementSize(x.dtype) == 0) return ctx.Unsupported("unsupported dtype");
  CompiledKernel ck;
  ck.kernel = std::make_unique<ReverseSequenceKernel>(ctx.node.Describe(), x.dtype, x.shape, time_axis, batch_axis);
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  return ck;
}

}  // namespace

void RegisterScanKernels(KernelRegistry& registry) {
  registry.Register({"CumSum", &CumSumFactory, kPriorityRef, {1}});
  registry.Register({"TopK", &TopKFactory, kPriorityRef, {1}});
  registry.Register({"ReverseSequence", &ReverseSequenceFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
