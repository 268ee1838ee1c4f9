// Running one ONNX backend test through the engine and classifying the outcome.
//
// Outcomes:
//   pass         every data set ran and every output matched (compare.h)
//   fail         a wrong answer (dtype, shape or values), or an error other than Unimplemented,
//                or an exception escaping the engine
//   unsupported  the engine (or the loader) answered Unimplemented: an op, opset, type or feature
//                Peregrine does not claim; also models with non-tensor inputs/outputs
//   skipped      the test cannot be run at all (the `real` suite's model was not downloaded)
// RunTest never throws: every error, including exceptions from the engine, becomes a result.
#pragma once

#include <string>
#include <vector>

#include "engine/precision.h"
#include "result.h"
#include "test_case.h"

namespace peregrine::conformance {

struct RunOptions {
  int threads = 1;        // SessionOptions::threads
  bool optimize = true;   // SessionOptions::optimize
  int runs = 2;           // times each data set is run (and checked) on one session: plan reuse is tested too
  // SessionOptions::precision. With bf16 every comparison also accepts bfloat16's rounding
  // (kBfloat16Tolerance), and a test passes only if its session really computed in bfloat16 where
  // the CPU can (so the run checks the bfloat16 kernels, not a float32 fallback).
  engine::Precision precision = engine::Precision::kFloat32;
};

// Added to each test's own tolerance in bf16 runs: an 8-bit mantissa rounds inputs and weights by up
// to 2^-9 relative, and sums of many such products drift by a few times that.
inline constexpr double kBfloat16Tolerance = 2e-2;

TestResult RunTest(const TestCase& test, const RunOptions& options);

// The op of `ops` that `message` names as a whole word (the earliest mention), or "".
// Domain-qualified ops ("ai.onnx.ml:LabelEncoder") match on their bare name.
std::string FindOpInMessage(const std::string& message, const std::vector<std::string>& ops);

}  // namespace peregrine::conformance
