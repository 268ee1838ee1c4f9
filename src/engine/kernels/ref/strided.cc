#include "engine/kernels/ref/strided.h"

#include <algorithm>

namespace peregrine::engine::ref {

StridedPlan MakeStridedPlan(const Shape& dims, std::vector<std::vector<int64_t>> strides, std::vector<int64_t> base) {
  StridedPlan plan;
  const size_t operands = strides.size();
  plan.strides.assign(operands, {});
  plan.base = std::move(base);
  plan.total = NumElements(dims);
  // Keep only dims of size > 1 (a size-1 dim contributes nothing to any offset), merging a dim into
  // the previous kept one when every operand walks both as one contiguous run.
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    bool merge = !plan.dims.empty() && dims[d] != 0 && plan.dims.back() != 0;
    for (size_t k = 0; merge && k < operands; ++k) merge = strides[k][d] * dims[d] == plan.strides[k].back();
    if (merge) {
      plan.dims.back() *= dims[d];
      for (size_t k = 0; k < operands; ++k) plan.strides[k].back() = strides[k][d];
      continue;
    }
    plan.dims.push_back(dims[d]);
    for (size_t k = 0; k < operands; ++k) plan.strides[k].push_back(strides[k][d]);
  }
  if (plan.dims.empty()) {
    plan.dims.push_back(1);
    for (size_t k = 0; k < operands; ++k) plan.strides[k].push_back(0);
  }
  plan.inner = plan.dims.back();
  plan.rows = plan.inner == 0 ? 0 : plan.total / plan.inner;
  if (plan.total == 0) plan.rows = 0;
  return plan;
}

absl::StatusOr<Shape> BroadcastShapes(const CompileContext& ctx, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const size_t offset = rank - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[offset + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o != 1) {
        std::string list;
        for (const Shape& t : shapes) list += (list.empty() ? "" : ", ") + ShapeToString(t);
        return ctx.Invalid("shapes " + list + " cannot be broadcast together");
      }
      o = s[d];
    }
  }
  return out;
}

StridedPlan MakeBroadcastPlan(const Shape& out, const std::vector<Shape>& inputs) {
  std::vector<std::vector<int64_t>> strides;
  for (const Shape& s : inputs) {
    std::vector<int64_t> st(out.size(), 0);
    const size_t offset = out.size() - s.size();
    int64_t stride = 1;
    for (size_t d = s.size(); d-- > 0;) {
      st[offset + d] = s[d] == 1 ? 0 : stride;
      stride *= s[d];
    }
    strides.push_back(std::move(st));
  }
  return MakeStridedPlan(out, std::move(strides), std::vector<int64_t>(inputs.size(), 0));
}

}  // namespace peregrine::engine::ref
