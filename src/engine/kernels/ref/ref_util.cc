#include "engine/kernels/ref/ref_util.h"

#include <algorithm>

namespace peregrine::engine::ref {

TensorDesc PlainDesc(DataType dtype, Shape shape) {
  TensorDesc desc;
  desc.dtype = dtype;
  desc.shape = std::move(shape);
  return desc;
}

absl::StatusOr<int64_t> NormalizeAxis(const CompileContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return ctx.Invalid("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

absl::StatusOr<std::vector<int64_t>> NormalizeAxes(const CompileContext& ctx, const std::vector<int64_t>& axes,
                                                   int64_t rank) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t axis : axes) {
    ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx, axis, rank));
    if (std::find(out.begin(), out.end(), a) != out.end()) {
      return ctx.Invalid("axis " + std::to_string(axis) + " is listed twice");
    }
    out.push_back(a);
  }
  return out;
}

const Tensor* KnownValue(const CompileContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return nullptr;
  return ctx.inputs[i].value;
}

absl::StatusOr<std::vector<int64_t>> KnownInts(const CompileContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.Invalid("input " + std::to_string(i) + " is missing");
  const Tensor* value = ctx.inputs[i].value;
  if (value == nullptr) return ctx.Unsupported("input " + std::to_string(i) + " must be known at compile time");
  if (!IsInteger(value->dtype())) {
    return ctx.Invalid("input " + std::to_string(i) + " must be an integer tensor, not " +
                       std::string(DataTypeName(value->dtype())));
  }
  return value->ToInt64Vector();
}

absl::Status CheckInputCount(const CompileContext& ctx, size_t min, size_t max) {
  const size_t n = ctx.inputs.size();
  if (n < min || n > max) {
    return ctx.Invalid("expects " + (min == max ? std::to_string(min) : std::to_string(min) + " to " +
                                                                            std::to_string(max)) +
                       " inputs, got " + std::to_string(n));
  }
  for (size_t i = 0; i < min; ++i) {
    if (!ctx.has_input(i)) return ctx.Invalid("required input " + std::to_string(i) + " is missing");
  }
  return absl::OkStatus();
}

void CopyElements(DataType dtype, const void* src, void* dst, int64_t n) {
  if (src == dst || n <= 0) return;
  if (dtype == DataType::kString) {
    const auto* s = static_cast<const std::string*>(src);
    auto* d = static_cast<std::string*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
    return;
  }
  std::memmove(dst, src, static_cast<size_t>(n) * ElementSize(dtype));
}

absl::Status ElementCopyKernel::Run(const RunContext& ctx) {
  CopyElements(dtype_, ctx.input(0), ctx.output(0), n_);
  return absl::OkStatus();
}

}  // namespace peregrine::engine::ref
