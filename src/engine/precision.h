// The arithmetic precision a session computes in.
//
// kFloat32 is exact with respect to the model: every kernel computes in float32. kBfloat16 trades a
// little accuracy for speed where the CPU has bfloat16 dot-product instructions (AVX512_BF16 or AMX):
// convolutions, Gemm/MatMul and LSTM (constant weights) read bfloat16 activations and weights and
// accumulate in float32. Convolutions hand bfloat16 activations to the next convolution, pooling or
// activation step; an LSTM keeps its hidden state in bfloat16 (the cell state and biases stay
// float32). Model inputs and outputs stay float32, the compiler's reorders convert where a float32
// kernel meets a bfloat16 value, and every other kernel computes in float32. bfloat16 keeps float32's
// range with an 8-bit mantissa, so results differ from float32 by about 1e-2 relative: fine for
// classifiers and scores, a choice for the model's owner to make.
#pragma once

#include <string_view>

#include "common/status.h"

namespace peregrine::engine {

enum class Precision { kFloat32, kBfloat16 };

// "fp32" or "bf16"; InvalidArgument naming the accepted values otherwise.
absl::StatusOr<Precision> ParsePrecision(std::string_view name);
std::string_view PrecisionName(Precision precision);

// True when this CPU runs bfloat16 dot products natively (oneDNN's ISA includes AVX512_BF16).
bool HasNativeBfloat16();

// The precision a session asking for `requested` gets here: bfloat16 only with native support
// (emulated bfloat16 is slower than float32), else float32.
Precision EffectivePrecision(Precision requested);

}  // namespace peregrine::engine
