// Continuation: the bookkeeping of one generated sequence, apart from the model - sampling each next
// token from its logits with the sequence's own seeded sampler, and ending on the end token, a stop
// sequence or the token limit.
//
// Final tokens are the ones that will be in the output. A token that might still begin a stop sequence
// is held back until the next tokens show whether the stop sequence completes (then it and the stop
// sequence are dropped) or not (then it becomes final). So a client streaming the final tokens never
// sees text that a stop sequence later removes, and the streamed tokens add up to the whole output.
//
// Not thread-safe; one per sequence.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "generation/sampler.h"

namespace peregrine::generation {

struct ContinuationParams {
  int max_tokens = 20;  // sampled tokens at most (> 0)
  SamplingParams sampling;
  int64_t end_id = -1;  // sampling it ends the sequence; not part of the output. -1: none
  // Token sequences (non-empty) that end the sequence when generated; dropped from the output. An id of
  // -1 never matches (a word the vocabulary lacks).
  std::vector<std::vector<int64_t>> stop_sequences;
};

enum class FinishReason { kNone, kLength, kEndToken, kStopSequence };
const char* FinishReasonName(FinishReason reason);  // "", "length", "end_token", "stop"

class Continuation {
 public:
  explicit Continuation(ContinuationParams params);

  // Samples the next token from `logits` (one row: the vocabulary) and applies the stop rules. Returns
  // how many tokens became final with it (they are the last ones of final_tokens()). Only before
  // finished().
  size_t Advance(std::span<const float> logits);

  bool finished() const { return reason_ != FinishReason::kNone; }
  FinishReason reason() const { return reason_; }
  // The tokens of the output so far (all of it once finished).
  std::span<const int64_t> final_tokens() const { return {tokens_.data(), final_}; }
  // The token to feed the model on the next step: the one sampled last.
  int64_t last_sampled() const { return last_sampled_; }
  int sampled() const { return sampled_; }

 private:
  // Tokens at the end of tokens_ that a stop sequence could still continue from.
  size_t HeldBack() const;
  void Finish(FinishReason reason);

  ContinuationParams params_;
  Sampler sampler_;
  std::vector<int64_t> tokens_;  // sampled and kept: final, then held back
  size_t final_ = 0;
  int sampled_ = 0;
  int64_t last_sampled_ = -1;
  FinishReason reason_ = FinishReason::kNone;
};

}  // namespace peregrine::generation
