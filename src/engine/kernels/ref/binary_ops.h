// Elementwise binary functions with NumPy broadcasting: the inner loops (BinaryFn), their
// selection by op and dtype, and RunBinary, which walks a broadcast StridedPlan.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/kernels/ref/strided.h"

namespace peregrine::engine::ref {

// o[i] = op(a[i * sa], b[i * sb]) for i in [0, n); sa and sb are 0 (broadcast) or 1. `o` may equal
// `a` or `b` when that operand's stride is 1.
using BinaryFn = void (*)(const void* a, int64_t sa, const void* b, int64_t sb, void* o, int64_t n);

struct BinarySelection {
  BinaryFn fn = nullptr;  // nullptr: the op does not accept these dtypes
  DataType output = DataType::kUndefined;
};

// The loop for ONNX op `op` on inputs of types a and b. `fmod` is Mod's attribute; BitShift is
// named "BitShiftLeft" or "BitShiftRight" by its direction.
BinarySelection SelectBinary(std::string_view op, DataType a, DataType b, bool fmod);

// Runs `fn` over `plan` (operands 0 = a, 1 = b; the output is row-major over plan.dims).
void RunBinary(const StridedPlan& plan, BinaryFn fn, size_t a_size, size_t b_size, size_t o_size, const void* a,
               const void* b, void* o, int threads);

}  // namespace peregrine::engine::ref
