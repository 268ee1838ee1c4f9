// Conversion of one direction's ONNX recurrent weights into oneDNN's layouts and gate orders.
//
// ONNX stores W [gates*hidden, channels] per direction (gate-major, gates in ONNX order), B as
// [Wb | Rb] (2*gates*hidden) and LSTM peepholes P as [i, o, f] (3*hidden). oneDNN wants weights in
// ldigo ([channels, gates, hidden] for one layer and one direction), one bias per gate (ldgo) and
// peepholes in ldgo with gates i, f, o. Gate orders:
//   LSTM  ONNX i, o, f, c    oneDNN i, f, c, o
//   GRU   ONNX z, r, h       oneDNN u, r, o   (same gates, same order; h_t uses (1 - z) both ways)
//   RNN   one gate
// The functions write plain float arrays and never allocate, so the kernel uses them both at
// compile time (constant weights) and at run time (weights fed as graph inputs) into scratch.
#pragma once

#include <cstdint>

#include "engine/kernels/dnnl/rnn_spec.h"

namespace peregrine::engine::rnn {

// Elements of each converted array for one direction.
int64_t LayerWeightsSize(const Spec& spec);  // input * gates * hidden
int64_t IterWeightsSize(const Spec& spec);   // hidden * gates * hidden
int64_t BiasSize(const Spec& spec);          // bias_gates * hidden
int64_t PeepholeSize(const Spec& spec);      // 3 * hidden

// `onnx` is one direction of W (channels = spec.input) or R (channels = spec.hidden):
// [gates*hidden, channels]. Writes [channels, gates, hidden] with gates in oneDNN order.
void ConvertWeights(const Spec& spec, const float* onnx, int64_t channels, float* ldigo);

// `onnx` is one direction of B (2*gates*hidden), or nullptr for the ONNX default of zeros.
// Writes bias_gates*hidden values: Wb + Rb per gate in oneDNN order; for linear-before-reset GRU
// the h gate keeps Wbh and the extra fourth gate holds Rbh (oneDNN's u' bias, applied inside r*(.)).
void ConvertBias(const Spec& spec, const float* onnx, float* ldgo);

// `onnx` is one direction of P ([i, o, f] each hidden long). Writes [i, f, o].
void ConvertPeephole(const Spec& spec, const float* onnx, float* ldgo);

}  // namespace peregrine::engine::rnn
