// Batched stepping of a step model (step_model.h) for continuous batching.
//
// StepBatch: one decode step for many sequences in one model call. Row i of the batch is one sequence:
// row i of the token input [n, 1], of every state tensor along its batch axis, and of the logits
// [n, vocabulary]. Between steps the state stays in the batch's buffers - a step's state outputs become
// the next step's inputs by swapping two buffers, with no copy. Rows move only when the membership
// changes: SetRows() gathers the rows that stay, and the state of the sequences that join, into the
// layout for the new row count. Buffers are allocated once for `capacity` rows and a batch of n rows
// uses views of them shaped for n, so stepping allocates nothing.
//
// Prefiller: runs one prompt [1, L] from zero state, giving the first logits and the sequence's state,
// which it later brings into a StepBatch.
//
// Neither is thread-safe; each uses its session alone, and the session must outlive it. Exceptions from
// the engine's libraries become Internal errors here.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "generation/step_model.h"
#include "tensor/tensor.h"

namespace peregrine::generation {

// The state of one sequence outside a batch: one tensor per state pair, of its row_shape.
using RowState = std::vector<Tensor>;

class StepBatch {
 public:
  // binding.vocab_size must be set (the logits width).
  static absl::StatusOr<std::unique_ptr<StepBatch>> Create(engine::Session* session, StepModelBinding binding,
                                                           int capacity);

  // Where a row of the new layout comes from: row `batch_row` of the current batch, or `state`.
  struct RowSource {
    int batch_row = -1;
    const RowState* state = nullptr;
  };
  // Makes the batch rows.size() (<= capacity) rows, row i taken from rows[i].
  absl::Status SetRows(std::span<const RowSource> rows);

  // One model call: tokens[i] (tokens.size() == rows()) is fed to row i with its state; afterwards
  // logits(i) is row i's next-token logits and the state has advanced.
  absl::Status Step(std::span<const int64_t> tokens);

  std::span<const float> logits(int row) const;
  int rows() const { return rows_; }
  int capacity() const { return capacity_; }

  // Compiles (and runs once, on zeros) the plans for every row count 1..capacity, so that no step
  // compiles while serving. Leaves the batch empty.
  absl::Status WarmUp();

 private:
  StepBatch(engine::Session* session, StepModelBinding binding, int capacity);
  void MakeViews(int rows);

  engine::Session* session_;
  StepModelBinding binding_;
  int capacity_;
  int rows_ = 0;
  int64_t vocab_ = 0;
  // Capacity-sized storage; index [state][0] holds the current state, [state][1] receives the next.
  std::vector<std::array<Tensor, 2>> state_storage_;
  Tensor token_storage_;
  Tensor logits_storage_;
  std::vector<Tensor> inputs_;   // views for rows_ rows, in the session's input order
  std::vector<Tensor> outputs_;  // views for rows_ rows, in the session's output order
};

struct Prefilled {
  Tensor logits;   // [1, vocabulary]
  RowState state;  // the state after the prompt
};

class Prefiller {
 public:
  static absl::StatusOr<std::unique_ptr<Prefiller>> Create(engine::Session* session, StepModelBinding binding);

  // One model call over the whole prompt (non-empty), from zero state.
  absl::StatusOr<Prefilled> Run(std::span<const int64_t> prompt);

 private:
  Prefiller(engine::Session* session, StepModelBinding binding) : session_(session), binding_(std::move(binding)) {}

  engine::Session* session_;
  StepModelBinding binding_;
  std::vector<Tensor> inputs_;  // zero state, token slot replaced per call
};

// engine::Session::Run with exceptions turned into Internal errors.
absl::Status RunStep(engine::Session& session, std::span<const Tensor> inputs, std::vector<Tensor>& outputs);

}  // namespace peregrine::generation
