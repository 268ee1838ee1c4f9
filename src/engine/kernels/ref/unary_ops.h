// The table of elementwise unary functions (Abs, Exp, Relu, Sigmoid, ...) shared by the unary
// kernels and by fused activation post-ops.
#pragma once

#include <cstdint>
#include <string_view>

#include "tensor/data_type.h"

namespace peregrine::engine::ref {

// Attribute values an activation needs (LeakyRelu alpha, Selu alpha/gamma, HardSigmoid alpha/beta,
// Clip min/max as alpha/beta).
struct UnaryParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
};

// Applies the function to n contiguous elements. `in` may equal `out` (in place).
using UnaryFn = void (*)(const void* in, void* out, int64_t n, const UnaryParams& params);

struct UnaryOpInfo {
  const char* name;                   // ONNX op type
  UnaryFn (*select)(DataType type);   // nullptr when the op does not accept `type`
  UnaryParams defaults;               // ONNX attribute defaults
  bool is_onnx_op;                    // false for helper entries (Clip as a post-op)
};

// The entry for `name`, or nullptr.
const UnaryOpInfo* FindUnaryOp(std::string_view name);
// All entries, `count` set to their number.
const UnaryOpInfo* UnaryOps(size_t* count);

}  // namespace peregrine::engine::ref
