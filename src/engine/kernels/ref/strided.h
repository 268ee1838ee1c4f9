// StridedPlan: the index arithmetic behind broadcasting, Transpose, Slice, Expand and Tile.
//
// A plan walks an output tensor in row-major order and, for each of its operands (inputs), says
// where the matching element lives: operand k's element for output coordinate (i0, i1, ...) is at
// base[k] + sum(i_d * strides[k][d]) (in elements; strides may be 0 or negative). Dimensions are
// collapsed at build time (size-1 dims dropped, contiguous neighbours merged) so that the innermost
// loop is as long as possible. A plan is built in a factory and only read in Run.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {

struct StridedPlan {
  std::vector<int64_t> dims;                  // collapsed output dims, at least one
  std::vector<std::vector<int64_t>> strides;  // per operand, one per dim
  std::vector<int64_t> base;                  // per operand
  int64_t inner = 1;                          // dims.back()
  int64_t rows = 1;                           // product of the other dims
  int64_t total = 0;                          // rows * inner

  // Element offset of operand k at the start of row `row` (row in [0, rows)).
  int64_t RowOffset(size_t k, int64_t row) const {
    int64_t offset = base[k];
    const std::vector<int64_t>& s = strides[k];
    for (size_t d = dims.size() - 1; d-- > 0;) {
      const int64_t n = dims[d];
      offset += (row % n) * s[d];
      row /= n;
    }
    return offset;
  }
  int64_t InnerStride(size_t k) const { return strides[k].back(); }
};

// Builds a plan over output dims `dims` for operands with the given strides and base offsets.
StridedPlan MakeStridedPlan(const Shape& dims, std::vector<std::vector<int64_t>> strides, std::vector<int64_t> base);

// NumPy multidirectional broadcast of `shapes`; InvalidArgument naming the node when incompatible.
absl::StatusOr<Shape> BroadcastShapes(const CompileContext& ctx, const std::vector<Shape>& shapes);

// A plan that reads each input (shape broadcastable to `out`) at the broadcast position.
StridedPlan MakeBroadcastPlan(const Shape& out, const std::vector<Shape>& inputs);

// Calls f(row, begin, end) for every row of `plan`, covering inner indices [begin, end). Long
// rows are split into chunks so that a single huge row still runs in parallel.
template <typename F>
void ForEachRowChunk(const StridedPlan& plan, int threads, F&& f) {
  if (plan.total == 0) return;
  constexpr int64_t kChunk = int64_t{1} << 14;
  const bool parallel = threads > 1 && plan.total >= kParallelThreshold;
  const int64_t per_row = parallel ? (plan.inner + kChunk - 1) / kChunk : 1;
  const int64_t chunk = parallel ? kChunk : plan.inner;
  ParallelFor(plan.rows * per_row, plan.total, threads, [&](int64_t task) {
    const int64_t row = task / per_row;
    const int64_t begin = (task % per_row) * chunk;
    const int64_t end = begin + chunk < plan.inner ? begin + chunk : plan.inner;
    f(row, begin, end);
  });
}

}  // namespace peregrine::engine::ref
