// GenerationService: text generation for one model version - the decode loop over a step model, with
// continuous batching across requests. The model's GET/POST endpoints stay with its scheduler; this
// serves POST .../generate and .../generate_stream (src/kserve/generate_routes.h).
//
// One thread steps the batch (generation/step_batch.h). Before each step, finished, cancelled or
// timed-out sequences leave (their rows, and so their state, are dropped) and waiting ones join while
// fewer than max_sequences_per_step are in it; then one model call ([n, 1] tokens, the state rows
// stacked along each state's batch axis) advances every row by one token. A row that joined takes its
// prompt through the batch one token per step from zero state, then samples like the others, each
// sequence with its own seeded sampler. The thread never waits while the batch has rows, and sleeps
// (no polling, after at most limits.idle_spin of looking) while it has none and nobody waits.
//
// Why prompts ride in the batch: a row of a batched step costs a fraction of a one-row call (for the
// example model at 32 rows about a fifth), so a prompt token in the batch is far cheaper than in a
// call of its own; prompts of different lengths cannot share one [k, L] call, and every new [k, L]
// shape would compile its own engine plan (about 100 ms for the example model) on the serving path.
// A sequence alone in the batch has no company to share with: it takes its prompt in calls of up to
// prompt_chunk_tokens tokens ([1, k], plans compiled at start), so a lone request costs no more than a
// one-call prefill. The price under load: a prompt of L tokens reaches its first token L steps after
// joining.
//
// Batched and unbatched runs give the same tokens: a row's results depend neither on the other rows
// nor on whether its prompt came in one call or one token per step (tested), and each sequence samples
// with its own seed.
//
// Contract:
//  - Submit() rejects at once (returns the error, callbacks never called): InvalidArgument for a bad
//    request (naming the parameter), Unavailable when max_queued sequences already wait or the service
//    is shutting down. Otherwise `done` is called exactly once, after `on_token` for every output token.
//  - Callbacks run on the service's thread, one sequence's in order; they must not block.
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
  int prompt_chunk_tokens = 8;                   // most prompt tokens per call of a sequence alone (>= 1)
  // How long the step thread keeps looking for new work, yielding its core, after the batch empties and
  // before it sleeps. A request that arrives meanwhile starts without a wake-up, which on an idle
  // virtualised core costs tens of microseconds. 0: sleep at once.
  std::chrono::microseconds idle_spin{0};
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
  // Nanoseconds from `received`: until it joined the batch, until its first token, until done.
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
  // Takes two sessions of the step model: one for the batched steps, one for a lone sequence's prompt
  // chunks (plans per chunk length). Compiles and warms up the plans for 1..max_sequences_per_step rows
  // and for chunks of 2..prompt_chunk_tokens tokens before returning.
  static absl::StatusOr<std::unique_ptr<GenerationService>> Create(GenerationServiceOptions options,
                                                                   std::unique_ptr<engine::Session> decode_session,
                                                                   std::unique_ptr<engine::Session> chunk_session);
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
  size_t active() const;  // in the batch (taking their prompt or generating)

  // Counts a request refused before Submit (e.g. malformed JSON) in the request metrics.
  void CountInvalid();

 private:
  struct State;
  explicit GenerationService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace peregrine::serving
