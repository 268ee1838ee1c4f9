// Small helpers shared by the portable (ref) kernels: output descriptors, axis normalization,
// reading compile-time-known inputs, dtype dispatch, a parallel loop, and element copies.
//
// Everything here runs at compile time (factories) except ParallelFor and CopyElements, which are
// allocation-free and safe to call from Kernel::Run.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/kernel.h"

namespace peregrine::engine::ref {

// Work (in elements) below which a loop stays on one thread: forking OpenMP threads costs a few
// microseconds, more than a simple pass over 64K floats.
inline constexpr int64_t kParallelThreshold = int64_t{1} << 16;

// A shape seen as [outer, n, inner] around one axis (n = the axis' size): the loop bounds of every
// kernel that works along an axis (Concat, Softmax, CumSum, ArgMax, ...).
struct AxisView {
  int64_t outer = 1;  // product of dims before the axis
  int64_t n = 1;
  int64_t inner = 1;  // product of dims after the axis
};
inline AxisView ViewAround(const Shape& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const int64_t s = shape[static_cast<size_t>(d)];
    if (d < axis) v.outer *= s;
    else if (d == axis) v.n = s;
    else v.inner *= s;
  }
  return v;
}

// Steps the row-major coordinate `coord` over `shape` by one element and moves `base` (an offset
// with `strides`) along, leaving out `skip_axis`, whose term the caller adds from an index tensor
// (Gather/Scatter along an axis).
inline void AdvanceExceptAxis(std::vector<int64_t>& coord, const Shape& shape, const std::vector<int64_t>& strides,
                              int64_t skip_axis, int64_t& base) {
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t step = static_cast<int64_t>(d) == skip_axis ? 0 : strides[d];
    if (++coord[d] < shape[d]) {
      base += step;
      return;
    }
    base -= step * (shape[d] - 1);
    coord[d] = 0;
  }
}

// Copies input 0 to output 0 element by element (no-op reductions, same-type casts).
class ElementCopyKernel : public Kernel {
 public:
  ElementCopyKernel(DataType dtype, int64_t n) : dtype_(dtype), n_(n) {}
  absl::Status Run(const RunContext& ctx) override;

 private:
  DataType dtype_;
  int64_t n_;
};

// A dense row-major output descriptor.
TensorDesc PlainDesc(DataType dtype, Shape shape);

// `axis` in [-rank, rank) mapped to [0, rank); InvalidArgument naming the node otherwise.
absl::StatusOr<int64_t> NormalizeAxis(const CompileContext& ctx, int64_t axis, int64_t rank);
// Every axis normalized; duplicates are InvalidArgument. Order is preserved.
absl::StatusOr<std::vector<int64_t>> NormalizeAxes(const CompileContext& ctx, const std::vector<int64_t>& axes,
                                                   int64_t rank);

// The compile-time value of input i as int64s. InvalidArgument when the input is absent,
// Unimplemented when it is present but its value is not known.
absl::StatusOr<std::vector<int64_t>> KnownInts(const CompileContext& ctx, size_t i);
// The compile-time value of input i, or nullptr when it is absent or unknown.
const Tensor* KnownValue(const CompileContext& ctx, size_t i);

// Requires at least `min` and at most `max` inputs on the node (omitted optional ones count).
absl::Status CheckInputCount(const CompileContext& ctx, size_t min, size_t max);

// Total element count for a shape; a negative-free shape is assumed.
inline int64_t Count(const Shape& shape) { return NumElements(shape); }

// Calls f(begin) for begin in [0, tasks). Runs on `threads` OpenMP threads when `work` (elements
// touched in total) is large enough to pay for the fork, else inline. f must be thread-safe.
template <typename F>
void ParallelFor(int64_t tasks, int64_t work, int threads, F&& f) {
  if (threads <= 1 || tasks <= 1 || work < kParallelThreshold) {
    for (int64_t t = 0; t < tasks; ++t) f(t);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < tasks; ++t) f(t);
}

// Copies n elements of `dtype` (strings element by element); a no-op when src == dst.
void CopyElements(DataType dtype, const void* src, void* dst, int64_t n);

// --- dtype dispatch -------------------------------------------------------------------------
// Each Dispatch* calls f.template operator()<T>() with the C++ type of `type` and returns true,
// or returns false when `type` is outside the family. bool maps to C++ bool (one byte, 0 or 1).

template <typename F>
bool DispatchFloat(DataType type, F&& f) {
  switch (type) {
    case DataType::kFloat32: f.template operator()<float>(); return true;
    case DataType::kFloat64: f.template operator()<double>(); return true;
    default: return false;
  }
}

template <typename F>
bool DispatchSignedInt(DataType type, F&& f) {
  switch (type) {
    case DataType::kInt8: f.template operator()<int8_t>(); return true;
    case DataType::kInt16: f.template operator()<int16_t>(); return true;
    case DataType::kInt32: f.template operator()<int32_t>(); return true;
    case DataType::kInt64: f.template operator()<int64_t>(); return true;
    default: return false;
  }
}

template <typename F>
bool DispatchUnsignedInt(DataType type, F&& f) {
  switch (type) {
    case DataType::kUint8: f.template operator()<uint8_t>(); return true;
    case DataType::kUint16: f.template operator()<uint16_t>(); return true;
    case DataType::kUint32: f.template operator()<uint32_t>(); return true;
    case DataType::kUint64: f.template operator()<uint64_t>(); return true;
    default: return false;
  }
}

// float32/64 and every integer type (not bool).
template <typename F>
bool DispatchNumeric(DataType type, F&& f) {
  return DispatchFloat(type, f) || DispatchSignedInt(type, f) || DispatchUnsignedInt(type, f);
}

// Numeric types plus bool.
template <typename F>
bool DispatchNumericOrBool(DataType type, F&& f) {
  if (type == DataType::kBool) {
    f.template operator()<bool>();
    return true;
  }
  return DispatchNumeric(type, f);
}

// For kernels that only move elements: an unsigned integer type of the element's size, or
// std::string for kString. float16/bfloat16 move as uint16_t.
template <typename F>
bool DispatchBySize(DataType type, F&& f) {
  if (type == DataType::kString) {
    f.template operator()<std::string>();
    return true;
  }
  switch (ElementSize(type)) {
    case 1: f.template operator()<uint8_t>(); return true;
    case 2: f.template operator()<uint16_t>(); return true;
    case 4: f.template operator()<uint32_t>(); return true;
    case 8: f.template operator()<uint64_t>(); return true;
    default: return false;
  }
}

// Wraps a finished CompiledKernel so that the node's fused post-ops (graph::PostOp) run after the
// kernel on its float32/float64 output. Returns `compiled` unchanged when there are none;
// Unimplemented for post-ops it cannot apply.
absl::StatusOr<CompiledKernel> WithPostOps(const CompileContext& ctx, CompiledKernel compiled);

}  // namespace peregrine::engine::ref
