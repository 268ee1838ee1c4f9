// The oneDNN-backed kernel for ONNX LSTM, GRU and RNN (inference; float32, or for an LSTM bfloat16
// when the session's precision is bf16 and the weights are constants without peepholes: X, Y, the
// hidden state and the weights are then bf16, the cell state and the bias float32, and the compiler
// converts X and initial_h in, Y and Y_h out, where float32 kernels meet them).
//
// Each ONNX direction runs as its own unidirectional oneDNN primitive whose src/dst memory
// descriptors are strided views straight into the ONNX tensors (X, initial_h/c, Y, Y_h, Y_c in
// either layout), so no data is copied around the primitive. Weights known at compile time are
// converted (gate order, ldigo, summed biases) and reordered into the primitive's preferred layout
// once; weights fed as graph inputs are converted into scratch on every run and used in plain ldigo.
// Omitted outputs land in scratch. sequence_lens must equal seq_length for every batch entry: known
// values are checked at compile time, runtime values on each run (Unimplemented otherwise).
#pragma once

#include "common/status.h"
#include "engine/kernel.h"
#include "engine/kernels/dnnl/rnn_spec.h"

namespace peregrine::engine::rnn {

// Builds the kernel for a node already validated into `spec`.
absl::StatusOr<CompiledKernel> BuildKernel(const CompileContext& ctx, const Spec& spec);

}  // namespace peregrine::engine::rnn
