#include "engine/kernels/dnnl/rnn_weights.h"

#include <algorithm>

namespace peregrine::engine::rnn {
namespace {

// ONNX gate index feeding oneDNN gate g.
int64_t OnnxGate(const Spec& spec, int64_t g) {
  static constexpr int64_t kLstm[4] = {0, 2, 3, 1};  // oneDNN i, f, c, o <- ONNX i, o, f, c
  return spec.cell == Cell::kLstm ? kLstm[g] : g;
}

}  // namespace

int64_t LayerWeightsSize(const Spec& spec) { return spec.input * spec.gates() * spec.hidden; }
int64_t IterWeightsSize(const Spec& spec) { return spec.hidden * spec.gates() * spec.hidden; }
int64_t BiasSize(const Spec& spec) { return spec.bias_gates() * spec.hidden; }
int64_t PeepholeSize(const Spec& spec) { return 3 * spec.hidden; }

// Per gate this is a transpose of [hidden, channels] into rows of stride gates*hidden; done in
// tiles because either loop order alone strides through memory badly (4x slower and worse).
void ConvertWeights(const Spec& spec, const float* onnx, int64_t channels, float* ldigo) {
  constexpr int64_t kTile = 16;
  const int64_t gates = spec.gates(), hidden = spec.hidden, row = gates * hidden;
  for (int64_t g = 0; g < gates; ++g) {
    const float* src = onnx + OnnxGate(spec, g) * hidden * channels;
    float* dst = ldigo + g * hidden;
    for (int64_t o0 = 0; o0 < hidden; o0 += kTile) {
      const int64_t o1 = std::min(o0 + kTile, hidden);
      for (int64_t c0 = 0; c0 < channels; c0 += kTile) {
        const int64_t c1 = std::min(c0 + kTile, channels);
        for (int64_t c = c0; c < c1; ++c) {
          for (int64_t o = o0; o < o1; ++o) dst[c * row + o] = src[o * channels + c];
        }
      }
    }
  }
}

void ConvertBias(const Spec& spec, const float* onnx, float* ldgo) {
  const int64_t gates = spec.gates(), hidden = spec.hidden;
  const int64_t size = BiasSize(spec);
  if (onnx == nullptr) {
    for (int64_t k = 0; k < size; ++k) ldgo[k] = 0.0f;
    return;
  }
  const float* wb = onnx;
  const float* rb = onnx + gates * hidden;
  for (int64_t g = 0; g < gates; ++g) {
    const int64_t from = OnnxGate(spec, g) * hidden;
    // Linear-before-reset GRU: the candidate gate's recurrent bias goes to gate u' (index 3).
    const bool split = spec.bias_gates() > gates && g == 2;
    for (int64_t o = 0; o < hidden; ++o) ldgo[g * hidden + o] = wb[from + o] + (split ? 0.0f : rb[from + o]);
  }
  if (spec.bias_gates() > gates) {
    for (int64_t o = 0; o < hidden; ++o) ldgo[3 * hidden + o] = rb[2 * hidden + o];
  }
}

void ConvertPeephole(const Spec& spec, const float* onnx, float* ldgo) {
  static constexpr int64_t kOnnxGate[3] = {0, 2, 1};  // oneDNN i, f, o <- ONNX i, o, f
  for (int64_t g = 0; g < 3; ++g) {
    for (int64_t o = 0; o < spec.hidden; ++o) ldgo[g * spec.hidden + o] = onnx[kOnnxGate[g] * spec.hidden + o];
  }
}

}  // namespace peregrine::engine::rnn
