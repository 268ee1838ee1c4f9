// What an ONNX LSTM, GRU or RNN node asks for, validated and reduced to the facts the oneDNN RNN
// kernel needs: cell type, sizes, directions, layout and per-direction activation.
#pragma once

#include <cstdint>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "common/status.h"
#include "engine/kernel.h"

namespace peregrine::engine::rnn {

enum class Cell { kRnn, kLstm, kGru };

// ONNX input positions shared by the three operators (initial_c and P exist for LSTM only).
inline constexpr int kInputX = 0;
inline constexpr int kInputW = 1;
inline constexpr int kInputR = 2;
inline constexpr int kInputB = 3;
inline constexpr int kInputSeqLens = 4;
inline constexpr int kInputInitialH = 5;
inline constexpr int kInputInitialC = 6;
inline constexpr int kInputP = 7;
// Output positions (Y_c exists for LSTM only).
inline constexpr int kOutputY = 0;
inline constexpr int kOutputYH = 1;
inline constexpr int kOutputYC = 2;

struct Spec {
  Cell cell = Cell::kLstm;
  bool linear_before_reset = false;  // GRU only
  int64_t seq = 0;                   // T
  int64_t batch = 0;                 // N
  int64_t input = 0;                 // I, channels of X
  int64_t hidden = 0;                // H
  int64_t dirs = 1;                  // 1 or 2
  bool reverse = false;              // single direction runs right to left ("reverse")
  bool batch_first = false;          // layout = 1: X [N, T, I], Y [N, T, D, H], states [N, D, H]
  // RNN only: the activation of each direction (eltwise_tanh, eltwise_relu or eltwise_logistic).
  std::vector<dnnl::algorithm> activations;

  // Gates in W/R (1, 4 or 3) and in oneDNN's bias (linear-before-reset GRU has an extra one).
  int64_t gates() const { return cell == Cell::kRnn ? 1 : cell == Cell::kLstm ? 4 : 3; }
  int64_t bias_gates() const { return cell == Cell::kGru && linear_before_reset ? 4 : gates(); }
  // Whether direction d (0-based) runs right to left.
  bool is_reversed(int64_t d) const { return dirs == 2 ? d == 1 : reverse; }
};

// Validates the node behind `ctx` as an ONNX `cell` operator: InvalidArgument for malformed nodes
// (ranks, shapes, attribute values), Unimplemented for valid features the oneDNN kernel lacks
// (non-float32 data, clip, input_forget, non-default LSTM/GRU activations, ragged sequence_lens
// known at compile time).
absl::StatusOr<Spec> ParseSpec(const CompileContext& ctx, Cell cell);

// Output shapes in ONNX layout: Y, and Y_h / Y_c.
Shape OutputYShape(const Spec& spec);
Shape StateShape(const Spec& spec);

}  // namespace peregrine::engine::rnn
