// Guards around shape-inference functions of Debian's libonnx (1.12) that read out of bounds on
// malformed nodes instead of reporting an error; found by fuzz/loader_fuzzer. Each guard checks what
// later ONNX releases check and throws onnx's InferenceError, so a bad model fails to load (or gets
// no inferred shape for that node) instead of crashing the process.
//
// Known cases (Conv, ConvInteger, QLinearConv, ConvTranspose, AveragePool, MaxPool, LpPool):
//   - weights W of another rank than X: reads past a vector (ConvTranspose: a null dereference);
//   - a zero stride: integer division by zero (SIGFPE);
//   - spatial attributes of the wrong length: reads past X's dims.
#pragma once

namespace peregrine::onnx_import {

// Wraps the inference functions in ONNX's global schema registry. Idempotent and thread-safe; call
// before onnx::shape_inference runs.
void InstallShapeInferenceGuards();

}  // namespace peregrine::onnx_import
