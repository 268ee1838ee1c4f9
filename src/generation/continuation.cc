#include "generation/continuation.h"

#include <algorithm>
#include <utility>

namespace peregrine::generation {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kLength: return "length";
    case FinishReason::kEndToken: return "end_token";
    case FinishReason::kStopSequence: return "stop";
  }
  return "";
}

Continuation::Continuation(ContinuationParams params) : params_(std::move(params)), sampler_(params_.sampling) {
  tokens_.reserve(static_cast<size_t>(std::min(params_.max_tokens, 4096)));
}

size_t Continuation::Advance(std::span<const float> logits) {
  const size_t final_before = final_;
  const int64_t token = sampler_.Next(logits);
  ++sampled_;
  last_sampled_ = token;
  if (token == params_.end_id) {
    Finish(FinishReason::kEndToken);
    return final_ - final_before;
  }
  tokens_.push_back(token);
  for (const std::vector<int64_t>& stop : params_.stop_sequences) {
    if (stop.size() <= tokens_.size() && std::equal(stop.rbegin(), stop.rend(), tokens_.rbegin())) {
      // Every token of the match was held back (each prefix of it was a prefix of this stop sequence).
      tokens_.resize(tokens_.size() - stop.size());
      Finish(FinishReason::kStopSequence);
      return final_ - final_before;
    }
  }
  if (sampled_ >= params_.max_tokens) {
    Finish(FinishReason::kLength);
  } else {
    final_ = tokens_.size() - HeldBack();
  }
  return final_ - final_before;
}

size_t Continuation::HeldBack() const {
  size_t held = 0;
  const size_t open = tokens_.size() - final_;
  for (const std::vector<int64_t>& stop : params_.stop_sequences) {
    // The longest suffix of the open tokens that is a proper prefix of `stop`.
    for (size_t k = std::min(open, stop.size() - 1); k > held; --k) {
      if (std::equal(stop.begin(), stop.begin() + static_cast<std::ptrdiff_t>(k),
                     tokens_.end() - static_cast<std::ptrdiff_t>(k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}

void Continuation::Finish(FinishReason reason) {
  reason_ = reason;
  final_ = tokens_.size();  // what was held back for a stop sequence that did not come is output
}

}  // namespace peregrine::generation
