// GenerationService: text generation for one model version - the decode loop over a step model, with
// continuous batching across requests. The model's GET/POST endpoints stay with its scheduler; this
// serves POST .../generate and .../generate_stream (src/kserve/generate_routes.h).
//
// Threads (each owns its own engine session, compiled and warmed up before Create returns):
//  - The prefill thread takes queued sequences while fewer than max_sequences_per_step are in flight,
//    runs each prompt in one model call ([1, L] tokens, zero state), and samples its first token.
//  - The decode thread steps the batch. Before each step, prefilled sequences join it and finished,
//    cancelled or timed-out ones leave (their rows, and so their state, are dropped); then one model call
//    ([n, 1] tokens, the state rows stacked along each state's batch axis) advances every sequence in the
//    batch by one token, each sampled by its own seeded sampler. See generation/step_batch.h.
//  With one sequence in flight nothing waits for company: each step starts when the last one is done.
//
// Why prompts are prefilled one by one, not batched: prompts of different lengths cannot share a call,
// and every new [k, L] shape compiles its own engine plan (about 100 ms for the example model), so
// batching equal lengths would trade a little prefill time for compiles on the serving path. And why
// prefill has a thread of its own: a prompt of a length not seen before compiles a plan, and must not
// stall the sequences being decoded meanwhile.
//
// Batched and unbatched runs give the same tokens: a row's results do not depend on the other rows
// (tested), and each sequence samples with its own seed.
//
// Contract:
//  - Submit() rejects at once (returns the error, callbacks never called): InvalidArgument for a bad
//    request (naming the parameter), Unavailable when max_queued sequences already wait or the service
//    is shutting down. Otherwise `done` is called exactly once, after `on_token` for every output token.
//  - Callbacks run on the service's threads, one sequence's in order; they must not block.
//  - A sequence whose cancellation flag is set, or whose deadline passes, ends within one step (or
//    while still queued) with Cancelled / DeadlineExceeded, and its state is freed.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancellation.h"
#include "common/status.h"
#include "engine/session.h"
#include "generation/continuation.h"
#include "generation/step_model.h"
#include "generation/vocabulary.h"
#include "metrics/metrics.h"
#include "serving/inference.h"

namespace peregrine::serving {

struct GenerationLimits {
  int default_max_tokens = 20;
  int max_tokens_limit = 1024;
  int max_prompt_tokens = 1024;
  int max_sequences_per_step = 32;
  size_t max_queued = 256;                       // sequences waiting to start; more -> Unavailable
  std::chrono::microseconds default_timeout{0};  // for requests without a deadline; 0: none
  int prefill_warmup_lengths = 8;                // prompt lengths 1..n compiled at start
};

struct GenerationServiceOptions {
  std::string model_name;
  int64_t version = 0;
  generation::StepModelSpec spec;
  std::shared_ptr<const generation::Vocabulary> vocabulary;  // required; its size is the logits width
  int64_t end_id = -1;                                       // -1: no end token
  GenerationLimits limits;
  metrics::Registry* metrics = nullptr;      // optional
  std::function<Clock::time_point()> clock;  // tests inject one; default steady_clock
};

struct GenerationRequest {
  std::vector<int64_t> prompt;        // 1..max_prompt_tokens ids
  std::optional<int64_t> max_tokens;  // 1..max_tokens_limit; absent: default_max_tokens
  generation::SamplingParams sampling;
  std::vector<std::vector<int64_t>> stop_sequences;  // see generation/continuation.h
  std::optional<Clock::time_point> deadline;
  std::shared_ptr<CancellationFlag> cancelled;  // may be null
  Clock::time_point received = Clock::now();
};

struct GenerationResult {
  absl::Status status;          // OK, Cancelled, DeadlineExceeded, Unavailable, Internal
  std::vector<int64_t> tokens;  // the output (with OK)
  generation::FinishReason finish_reason = generation::FinishReason::kNone;
  int prompt_tokens = 0;
  int sampled_tokens = 0;  // model steps that sampled a token (output, end token, stop words)
  // Nanoseconds from `received`: until its prefill started, until its first token, until done.
  int64_t queue_ns = 0;
  int64_t first_token_ns = 0;
  int64_t total_ns = 0;
};

struct GenerationCallbacks {
  std::function<void(int64_t token)> on_token;   // optional: each output token as it becomes final
  std::function<void(GenerationResult&&)> done;  // required
};

class GenerationService {
 public:
  // Takes two sessions of the step model (decode and prefill). Compiles and warms up the decode plans
  // for 1..max_sequences_per_step rows and the prefill plans for short prompts on the service's own
  // threads before returning.
  static absl::StatusOr<std::unique_ptr<GenerationService>> Create(GenerationServiceOptions options,
                                                                   std::unique_ptr<engine::Session> decode_session,
                                                                   std::unique_ptr<engine::Session> prefill_session);
  ~GenerationService();  // Shutdown(true)
  GenerationService(const GenerationService&) = delete;
  GenerationService& operator=(const GenerationService&) = delete;

  absl::Status Submit(GenerationRequest request, GenerationCallbacks callbacks);

  // Stops accepting. drain: the sequences queued and running finish first; otherwise they end with
  // Unavailable. Then joins the threads. Idempotent.
  void Shutdown(bool drain);

  const generation::Vocabulary& vocabulary() const;
  std::shared_ptr<const generation::Vocabulary> shared_vocabulary() const;
  const GenerationLimits& limits() const;
  int64_t end_id() const;

  size_t queued() const;  // waiting to start
  size_t active() const;  // prefilling, prefilled, or in the batch

  // Counts a request refused before Submit (e.g. malformed JSON) in the request metrics.
  void CountInvalid();

 private:
  struct State;
  explicit GenerationService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace peregrine::serving
