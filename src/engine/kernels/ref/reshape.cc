// Ops that only relabel the shape: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
// (inference). Each copies its input (a no-op when the planner gives output and input one buffer,
// which alias_input = 0 allows).
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

class CopyKernel : public Kernel {
 public:
  // `mask_bytes` of output 1 are set to `mask_byte` (Dropout's mask); none when 0.
  CopyKernel(DataType dtype, int64_t n, size_t mask_bytes = 0, int mask_byte = 0)
      : dtype_(dtype), n_(n), mask_bytes_(mask_bytes), mask_byte_(mask_byte) {}

  absl::Status Run(const RunContext& ctx) override {
    CopyElements(dtype_, ctx.input(0), ctx.output(0), n_);
    if (mask_bytes_ > 0) std::memset(ctx.output(1), mask_byte_, mask_bytes_);
    return absl::OkStatus();
  }

 private:
  DataType dtype_;
  int64_t n_;
  size_t mask_bytes_;
  int mask_byte_;
};

CompiledKernel MakeCopy(const CompileContext& ctx, Shape out) {
  const TensorDesc& x = ctx.desc(0);
  CompiledKernel ck;
  ck.kernel = std::make_unique<CopyKernel>(x.dtype, Count(x.shape));
  ck.outputs.push_back(PlainDesc(x.dtype, std::move(out)));
  ck.alias_input = 0;
  return ck;
}

absl::StatusOr<Shape> ReshapeTarget(const CompileContext& ctx, const Shape& in, std::vector<int64_t> shape,
                                    bool allowzero) {
  int64_t infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) return ctx.Invalid("shape has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (shape[i] == 0 && !allowzero) {
      if (i >= in.size()) return ctx.Invalid("shape copies dimension " + std::to_string(i) + " the input lacks");
      shape[i] = in[i];
    }
    if (shape[i] < 0) return ctx.Invalid("shape has negative dimension " + std::to_string(shape[i]));
    if (shape[i] > 0 && known > std::numeric_limits<int64_t>::max() / shape[i]) return ctx.Invalid("shape is too large");
    known *= shape[i];
  }
  const int64_t total = Count(in);
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      return ctx.Invalid("cannot reshape " + ShapeToString(in) + " to " + ShapeToString(shape));
    }
    shape[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    return ctx.Invalid("cannot reshape " + ShapeToString(in) + " to " + ShapeToString(shape));
  }
  return shape;
}

absl::StatusOr<CompiledKernel> ReshapeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, KnownInts(ctx, 1));
  const bool allowzero = ctx.opset >= 14 && ctx.node.GetInt("allowzero", 0) != 0;
  ASSIGN_OR_RETURN(Shape out, ReshapeTarget(ctx, ctx.desc(0).shape, std::move(shape), allowzero));
  return MakeCopy(ctx, std::move(out));
}

absl::StatusOr<CompiledKernel> FlattenFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const Shape& in = ctx.desc(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = ctx.node.GetInt("axis", 1);
  if (axis < -rank || axis > rank) return ctx.Invalid("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= in[static_cast<size_t>(d)];
  int64_t inner = 1;
  for (int64_t d = axis; d < rank; ++d) inner *= in[static_cast<size_t>(d)];
  return MakeCopy(ctx, {outer, inner});
}

// Squeeze/Unsqueeze axes: an attribute before opset 13, an (optional for Squeeze) input from 13.
absl::StatusOr<std::optional<std::vector<int64_t>>> AxesOf(const CompileContext& ctx) {
  if (ctx.opset < 13) {
    if (!ctx.node.has("axes")) return std::optional<std::vector<int64_t>>();
    return std::optional<std::vector<int64_t>>(ctx.node.GetInts("axes"));
  }
  if (!ctx.has_input(1)) return std::optional<std::vector<int64_t>>();
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, KnownInts(ctx, 1));
  return std::optional<std::vector<int64_t>>(std::move(axes));
}

absl::StatusOr<CompiledKernel> SqueezeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 2));
  const Shape& in = ctx.desc(0).shape;
  ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, AxesOf(ctx));
  std::vector<bool> drop(in.size(), false);
  if (!axes.has_value()) {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  } else {
    ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, *axes, static_cast<int64_t>(in.size())));
    for (int64_t a : norm) {
      if (in[static_cast<size_t>(a)] != 1) {
        return ctx.Invalid("cannot squeeze axis " + std::to_string(a) + " of size " +
                           std::to_string(in[static_cast<size_t>(a)]));
      }
      drop[static_cast<size_t>(a)] = true;
    }
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!drop[d]) out.push_back(in[d]);
  }
  return MakeCopy(ctx, std::move(out));
}

absl::StatusOr<CompiledKernel> UnsqueezeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 2));
  const Shape& in = ctx.desc(0).shape;
  ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, AxesOf(ctx));
  if (!axes.has_value()) return ctx.Invalid("axes are required");
  const int64_t rank = static_cast<int64_t>(in.size() + axes->size());
  ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, *axes, rank));
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t a : norm) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) out.push_back(inserted[static_cast<size_t>(d)] ? 1 : in[next++]);
  return MakeCopy(ctx, std::move(out));
}

absl::StatusOr<CompiledKernel> IdentityFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  return MakeCopy(ctx, ctx.desc(0).shape);
}

// Dropout in inference: a copy. From opset 12 `training_mode` is an input; a training-mode
// Dropout with a non-zero ratio is random and unsupported here.
absl::StatusOr<CompiledKernel> DropoutFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 3));
  if (ctx.has_input(2)) {
    const Tensor* training = KnownValue(ctx, 2);
    if (training == nullptr) return ctx.Unsupported("training_mode must be known at compile time");
    if (training->num_elements() > 0 && training->GetAsDouble(0) != 0) {
      const Tensor* ratio = KnownValue(ctx, 1);
      const bool zero_ratio = ratio != nullptr && ratio->num_elements() > 0 && ratio->GetAsDouble(0) == 0;
      if (!zero_ratio) return ctx.Unsupported("training mode is not supported");
    }
  }
  const TensorDesc& x = ctx.desc(0);
  CompiledKernel ck;
  const size_t outputs = ctx.node.outputs.size();
  const bool mask = outputs > 1 && ctx.node.output(1) != nullptr;
  // The mask is bool (all kept) from opset 10. Before that it has the input's type and is "not
  // filled" in test mode; it is zeroed so that it is at least deterministic.
  const DataType mask_type = ctx.opset < 10 ? x.dtype : DataType::kBool;
  const size_t mask_bytes = mask ? static_cast<size_t>(Count(x.shape)) * ElementSize(mask_type) : 0;
  if (mask && mask_type == DataType::kString) return ctx.Unsupported("a string Dropout mask is not supported");
  ck.kernel = std::make_unique<CopyKernel>(x.dtype, Count(x.shape), mask_bytes, ctx.opset < 10 ? 0 : 1);
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  if (outputs > 1) ck.outputs.push_back(mask ? PlainDesc(mask_type, x.shape) : TensorDesc());
  ck.alias_input = 0;
  return ck;
}

}  // namespace

void RegisterReshapeKernels(KernelRegistry& registry) {
  registry.Register({"Reshape", &ReshapeFactory, kPriorityRef, {1}});
  registry.Register({"Flatten", &FlattenFactory, kPriorityRef, {}});
  registry.Register({"Squeeze", &SqueezeFactory, kPriorityRef, {1}});
  registry.Register({"Unsqueeze", &UnsqueezeFactory, kPriorityRef, {1}});
  registry.Register({"Identity", &IdentityFactory, kPriorityRef, {}});
  registry.Register({"Dropout", &DropoutFactory, kPriorityRef, {1, 2}});
}

}  // namespace peregrine::engine::ref
