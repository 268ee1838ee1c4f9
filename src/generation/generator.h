// Generator: the decode loop over a stateful step model (token ids + state in, logits + state out),
// run entirely in C++ next to the engine.
//
// The step model: token input [batch, seq] int64; logits output [batch, vocab] (the last position);
// state pairs (input -> output) such as h0 -> hn and c0 -> cn, whose batch axis is given. The prompt is
// prefilled in one step call, then one call per new token. State moves from outputs to inputs by
// swapping two preallocated buffer sets, never by copying.
//
// A Generator owns per-sequence buffers: one generation at a time, not thread-safe. The Session must
// outlive it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "generation/sampler.h"
#include "generation/step_model.h"

namespace peregrine::generation {

struct GenerateRequest {
  std::vector<int64_t> prompt;  // at least one token
  int max_new_tokens = 20;
  SamplingParams sampling;
  std::vector<int64_t> stop_ids;  // generation ends (token not emitted) on any of these
};

struct GenerateResult {
  std::vector<int64_t> tokens;  // generated tokens, prompt excluded
  enum class Finish { kLength, kStop, kCancelled } finish = Finish::kLength;
};

class Generator {
 public:
  static absl::StatusOr<std::unique_ptr<Generator>> Create(engine::Session* session, StepModelSpec spec);

  // `on_token` (optional) sees each new token and returns false to cancel the generation.
  absl::StatusOr<GenerateResult> Generate(const GenerateRequest& request,
                                          const std::function<bool(int64_t)>& on_token = nullptr);

 private:
  Generator(engine::Session* session, StepModelSpec spec) : session_(session), spec_(std::move(spec)) {}
  absl::Status Bind();
  absl::Status Step(const Tensor& tokens);

  engine::Session* session_;
  StepModelSpec spec_;
  StepModelBinding binding_;
  std::vector<Tensor> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<Tensor> spare_state_;  // the other half of each state ping-pong pair
  Tensor step_token_;                // [1, 1]
};

}  // namespace peregrine::generation
