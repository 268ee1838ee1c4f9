// StepBatch: batched stepping of a step model (step_model.h) for continuous batching.
//
// Row i of the batch is one sequence: row i of the token input [n, 1], of every state tensor along its
// batch axis, and of the logits [n, vocabulary]. Between steps the state stays in the batch's buffers -
// a step's state outputs become the next step's inputs by swapping two buffers, with no copy. Rows move
// only when the membership changes: SetRows() lays out the rows that stay (in runs, one copy per run of
// consecutive rows) and zeroes the rows of sequences that join, which then take their prompt through
// the batch one token per step like any other row. Buffers are allocated once for `capacity` rows and a
// batch of n rows uses views of them shaped for n, so stepping allocates nothing.
//
// A batch of one row can also take several tokens in one call ([1, k] tokens, StepAlone): a sequence
// that is alone takes its prompt in a few calls instead of one step per token. That runs on a second
// session of the same model, which keeps those plans apart from the per-batch-size ones.
//
// Not thread-safe; the sessions must outlive it and be used by nothing else meanwhile. Exceptions from
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

class StepBatch {
 public:
  // binding.vocab_size must be set (the logits width). `chunk_session` (may be null: then
  // max_chunk is 1) runs StepAlone calls of 2..max_chunk tokens.
  static absl::StatusOr<std::unique_ptr<StepBatch>> Create(engine::Session* session, StepModelBinding binding,
                                                           int capacity, engine::Session* chunk_session = nullptr,
                                                           int max_chunk = 1);

  // Where row i of the new layout comes from: sources[i] is a row of the current batch, or kNewRow for
  // a sequence that starts from zero state.
  static constexpr int kNewRow = -1;
  // Makes the batch sources.size() (<= capacity) rows.
  absl::Status SetRows(std::span<const int> sources);

  // One model call: tokens[i] (tokens.size() == rows()) is fed to row i with its state; afterwards
  // logits(i) is row i's next-token logits and the state has advanced.
  absl::Status Step(std::span<const int64_t> tokens);

  // With rows() == 1: feeds the row 1..max_chunk() tokens in one call, as Step would one at a time;
  // afterwards logits(0) is the logits after the last of them.
  absl::Status StepAlone(std::span<const int64_t> tokens);

  std::span<const float> logits(int row) const;
  int rows() const { return rows_; }
  int capacity() const { return capacity_; }
  int max_chunk() const { return max_chunk_; }

  // Compiles (and runs once, on zeros) the plans for every row count 1..capacity, so that no step
  // compiles while serving. Leaves the batch empty.
  absl::Status WarmUp();
  // The same for StepAlone's 2..max_chunk tokens (on the chunk session; the batch is left as it was).
  absl::Status WarmUpChunks();

 private:
  StepBatch(engine::Session* session, StepModelBinding binding, int capacity, engine::Session* chunk_session,
            int max_chunk);
  void MakeViews(int rows);
  absl::Status CheckOutputsInPlace() const;
  // The new state becomes the current one; the old buffers receive the next.
  void SwapState();

  engine::Session* session_;
  engine::Session* chunk_session_;
  StepModelBinding binding_;
  int capacity_;
  int max_chunk_;
  int rows_ = 0;
  int64_t vocab_ = 0;
  // Capacity-sized storage; index [state][0] holds the current state, [state][1] receives the next.
  std::vector<std::array<Tensor, 2>> state_storage_;
  Tensor token_storage_;  // max(capacity, max_chunk) tokens
  Tensor logits_storage_;
  std::vector<Tensor> inputs_;   // views for rows_ rows, in the session's input order
  std::vector<Tensor> outputs_;  // views for rows_ rows, in the session's output order
};

// engine::Session::Run with exceptions turned into Internal errors.
absl::Status RunStep(engine::Session& session, std::span<const Tensor> inputs, std::vector<Tensor>& outputs);

}  // namespace peregrine::generation
