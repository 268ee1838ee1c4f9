// Comparing an engine output with the expected tensor the way ONNX's backend tests do
// (onnx/backend/test/runner: numpy.testing.assert_allclose), with two deliberate differences:
// integers, bools and strings must match exactly, and the dtype must match exactly.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace peregrine::conformance {

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-7;
};

struct Comparison {
  bool ok = true;
  // Why not, for a person: "dtype: expected float32, got float64",
  // "shape: expected [2, 3], got [3, 2]", or "5 of 6 values differ; first at [1] (index 1):
  // expected 0.5, got 0.25; max abs error 0.25, max rel error 0.5". Empty when ok.
  std::string message;
  double max_abs_error = 0;  // over all finite element pairs (floating types)
  double max_rel_error = 0;
};

// Floating types (float16, bfloat16, float32, float64) pass when, for every element,
// |got - expected| <= atol + rtol * |expected|; NaN equals NaN and an infinity equals the same
// infinity. Every other dtype must be equal element for element.
Comparison CompareTensors(const Tensor& expected, const Tensor& got, Tolerance tolerance);

// IEEE half / bfloat16 bits to float (exact).
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);

}  // namespace peregrine::conformance
