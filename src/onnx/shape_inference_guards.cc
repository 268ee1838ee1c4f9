#include "onnx/shape_inference_guards.h"

#include <mutex>
#include <set>

#include "onnx/defs/schema.h"
#include "onnx/defs/shape_inference.h"
#include "onnx/loader.h"

namespace peregrine::onnx_import {
namespace {

// Rank of input i when its shape is known, else -1.
int64_t InputRank(onnx::InferenceContext& ctx, size_t i) {
  if (i >= ctx.getNumInputs()) return -1;
  const onnx::TypeProto* type = ctx.getInputType(i);
  if (type == nullptr || !type->has_tensor_type() || !type->tensor_type().has_shape()) return -1;
  return type->tensor_type().shape().dim_size();
}

void CheckAttributeLength(onnx::InferenceContext& ctx, const char* name, int64_t expected) {
  const onnx::AttributeProto* attr = ctx.getAttribute(name);
  if (attr != nullptr && attr->ints_size() != expected) {
    fail_shape_inference("attribute ", name, " has ", attr->ints_size(), " values, expected ", expected);
  }
}

void CheckPositive(onnx::InferenceContext& ctx, const char* name) {
  const onnx::AttributeProto* attr = ctx.getAttribute(name);
  if (attr == nullptr) return;
  for (int64_t v : attr->ints()) {
    if (v <= 0) fail_shape_inference("attribute ", name, " must be positive, got ", v);
  }
}

// Conv, pooling and ConvTranspose inference in libonnx 1.12 take the kernel size from W's dims 2..
// and index X's spatial dims, the attributes and the kernel with one another's lengths; a W of another
// rank than X makes it read past a vector (a null dereference for an empty one), and a zero stride
// divides by zero. `w_index` is -1 for pooling, which has no weights.
void CheckConvLike(onnx::InferenceContext& ctx, size_t x_index, int w_index) {
  CheckPositive(ctx, "strides");
  CheckPositive(ctx, "dilations");
  CheckPositive(ctx, "kernel_shape");
  const int64_t x_rank = InputRank(ctx, x_index);
  if (x_rank < 0) return;
  if (x_rank < 3) fail_shape_inference("input ", x_index, " must have rank 3 or more, got ", x_rank);
  const int64_t spatial = x_rank - 2;
  for (const char* name : {"kernel_shape", "strides", "dilations", "output_padding", "output_shape"}) {
    CheckAttributeLength(ctx, name, spatial);
  }
  CheckAttributeLength(ctx, "pads", 2 * spatial);
  const int64_t w_rank = w_index < 0 ? -1 : InputRank(ctx, static_cast<size_t>(w_index));
  if (w_rank >= 0 && w_rank != x_rank) {
    fail_shape_inference("input ", w_index, " (weights) must have the rank of input ", x_index, " (", x_rank, "), got ", w_rank);
  }
}

void CheckConv(onnx::InferenceContext& ctx) { CheckConvLike(ctx, 0, 1); }
void CheckQLinearConv(onnx::InferenceContext& ctx) { CheckConvLike(ctx, 0, 3); }
void CheckPool(onnx::InferenceContext& ctx) { CheckConvLike(ctx, 0, -1); }

struct Guard {
  const char* op_type;
  void (*check)(onnx::InferenceContext& ctx);
};
constexpr Guard kGuards[] = {
    {"Conv", CheckConv},         {"ConvInteger", CheckConv}, {"ConvTranspose", CheckConv},
    {"QLinearConv", CheckQLinearConv}, {"AveragePool", CheckPool}, {"MaxPool", CheckPool},
    {"LpPool", CheckPool},
};

void Install() {
  for (const Guard& guard : kGuards) {
    // Every registered version of the op that a supported opset can select.
    std::set<const onnx::OpSchema*> schemas;
    for (int64_t opset = 1; opset <= kMaxOpset; ++opset) {
      const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(guard.op_type, static_cast<int>(opset), "");
      if (schema != nullptr) schemas.insert(schema);
    }
    for (const onnx::OpSchema* schema : schemas) {
      onnx::InferenceFunction original = schema->GetTypeAndShapeInferenceFunction();
      auto check = guard.check;
      // The registry hands out const pointers to schemas it owns as mutable objects, and
      // TypeAndShapeInferenceFunction is the supported way to set the function.
      const_cast<onnx::OpSchema*>(schema)->TypeAndShapeInferenceFunction([original, check](onnx::InferenceContext& ctx) {
        check(ctx);
        if (original) original(ctx);
      });
    }
  }
}

}  // namespace

void InstallShapeInferenceGuards() {
  static std::once_flag once;
  std::call_once(once, Install);
}

}  // namespace peregrine::onnx_import
