// GenerationService: the step thread of continuous batching (see the header).
#include "serving/generation_service.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "generation/step_batch.h"

namespace peregrine::serving {
namespace {

constexpr const char* kOutcomes[] = {"success", "invalid", "rejected", "timeout", "cancelled", "error"};
enum OutcomeIndex { kSuccess, kInvalid, kRejected, kTimeout, kCancelled, kError };

OutcomeIndex OutcomeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return kSuccess;
    case absl::StatusCode::kInvalidArgument: return kInvalid;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted: return kRejected;
    case absl::StatusCode::kDeadlineExceeded: return kTimeout;
    case absl::StatusCode::kCancelled: return kCancelled;
    default: return kError;
  }
}

int64_t Ns(Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The same for every model (a metric family has one set of buckets): powers of two up to the largest
// max_sequences_per_step allowed.
std::vector<double> BatchSizeBuckets() {
  std::vector<double> bounds;
  for (int b = 1; b <= 1024; b *= 2) bounds.push_back(b);
  return bounds;
}

struct Sequence {
  Sequence(GenerationRequest r, GenerationCallbacks c, generation::ContinuationParams params)
      : request(std::move(r)), callbacks(std::move(c)), continuation(std::move(params)) {}

  // Still taking its prompt: the next token it is fed is a prompt token, and its logits are not sampled.
  bool in_prompt() const { return fed < request.prompt.size(); }

  GenerationRequest request;
  GenerationCallbacks callbacks;
  generation::Continuation continuation;
  size_t fed = 0;  // prompt tokens fed to the model so far
  Clock::time_point joined{};
  Clock::time_point first_token{};
  bool done = false;
};

using Ended = std::pair<std::unique_ptr<Sequence>, absl::Status>;

}  // namespace

struct GenerationService::State {
  GenerationServiceOptions options;
  std::unique_ptr<engine::Session> decode_session;
  std::unique_ptr<engine::Session> chunk_session;
  std::unique_ptr<generation::StepBatch> batch;  // the step thread's, after Create

  mutable std::mutex mu;
  std::condition_variable step_cv;               // the step thread sleeps on it while it has no rows
  std::condition_variable warm_cv;
  bool warm_done = false;
  absl::Status warm_status;
  std::deque<std::unique_ptr<Sequence>> queued;  // waiting to join the batch
  bool stopping = false;
  bool drain = true;
  std::atomic<size_t> queued_count{0};
  std::atomic<size_t> active_count{0};

  std::mutex shutdown_mu;
  bool joined = false;
  std::thread step_thread;

  struct Metrics {
    metrics::Counter* outcomes[std::size(kOutcomes)] = {};
    metrics::Counter* output_tokens = nullptr;
    metrics::Counter* prompt_tokens = nullptr;
    metrics::Histogram* batch_size = nullptr;
    metrics::Histogram* time_per_output_token = nullptr;
    metrics::Histogram* time_to_first_token = nullptr;
    std::unique_ptr<metrics::Registry::CallbackHandle> queued;
    std::unique_ptr<metrics::Registry::CallbackHandle> active;
  };
  std::unique_ptr<Metrics> metrics;

  // The step thread's own, kept across steps so that stepping allocates nothing.
  std::vector<std::unique_ptr<Sequence>> rows;  // the batch, in row order
  std::vector<std::unique_ptr<Sequence>> kept;
  std::vector<std::unique_ptr<Sequence>> joining;
  std::vector<int> sources;
  std::vector<int64_t> tokens;
  std::vector<Ended> ended;
  size_t emitted = 0;  // output tokens of this step, counted once per step

  int capacity() const { return options.limits.max_sequences_per_step; }
  Clock::time_point Now() const { return options.clock(); }

  void RegisterMetrics();
  void CountOutcome(const absl::Status& status) {
    if (metrics) metrics->outcomes[OutcomeOf(status)]->Increment();
  }

  // ---- sequence life ----

  absl::Status EndReason(const Sequence& seq, Clock::time_point now, bool abort) const {
    if (abort) return absl::UnavailableError(absl::StrCat("model '", options.model_name, "' is being unloaded"));
    if (seq.request.cancelled && seq.request.cancelled->cancelled()) {
      return absl::CancelledError("the generation was cancelled (the client went away)");
    }
    if (seq.request.deadline && now >= *seq.request.deadline) {
      return absl::DeadlineExceededError("the generation did not finish within its timeout");
    }
    return absl::OkStatus();
  }

  // Hands the tokens that just became final to the client.
  void Emit(Sequence& seq, size_t count) {
    if (count == 0) return;
    emitted += count;
    if (!seq.callbacks.on_token) return;
    std::span<const int64_t> final_tokens = seq.continuation.final_tokens();
    for (size_t i = final_tokens.size() - count; i < final_tokens.size(); ++i) seq.callbacks.on_token(final_tokens[i]);
  }

  void CountEmitted() {
    if (metrics && emitted > 0) metrics->output_tokens->Increment(static_cast<double>(emitted));
    emitted = 0;
  }

  // Samples from `logits` into the sequence, emits, and finishes it when it is complete.
  void Advance(Sequence& seq, std::span<const float> logits) {
    const bool first = seq.continuation.sampled() == 0;
    Emit(seq, seq.continuation.Advance(logits));
    if (first) seq.first_token = Now();
    if (seq.continuation.finished()) Finish(seq, absl::OkStatus());
  }

  void Finish(Sequence& seq, absl::Status status) {
    seq.done = true;
    const Clock::time_point now = Now();
    const Clock::time_point received = seq.request.received;
    GenerationResult result;
    result.status = std::move(status);
    result.prompt_tokens = static_cast<int>(seq.request.prompt.size());
    result.sampled_tokens = seq.continuation.sampled();
    result.finish_reason = seq.continuation.reason();
    result.queue_ns = seq.joined == Clock::time_point{} ? Ns(now - received) : Ns(seq.joined - received);
    result.first_token_ns = seq.first_token == Clock::time_point{} ? 0 : Ns(seq.first_token - received);
    result.total_ns = Ns(now - received);
    if (result.status.ok()) {
      std::span<const int64_t> tokens = seq.continuation.final_tokens();
      result.tokens.assign(tokens.begin(), tokens.end());
    }
    if (metrics) {
      metrics->outcomes[OutcomeOf(result.status)]->Increment();
      if (result.status.ok()) {
        metrics->prompt_tokens->Increment(result.prompt_tokens);
        metrics->time_to_first_token->Observe(Seconds(seq.first_token - received));
        if (result.sampled_tokens > 1) {
          metrics->time_per_output_token->Observe(Seconds(now - seq.first_token) / (result.sampled_tokens - 1));
        }
      }
    }
    seq.callbacks.done(std::move(result));
  }

  void FinishEnded() {
    for (auto& [seq, status] : ended) Finish(*seq, std::move(status));
    ended.clear();
  }

  // Under mu: moves queued sequences that were cancelled or timed out (or all of them, when the service
  // stops without draining) to `ended`.
  void SweepQueued(Clock::time_point now, bool abort) {
    for (auto it = queued.begin(); it != queued.end();) {
      absl::Status end = EndReason(**it, now, abort);
      if (end.ok()) {
        ++it;
        continue;
      }
      ended.emplace_back(std::move(*it), std::move(end));
      it = queued.erase(it);
    }
  }

  // ---- the step thread ----

  // Before sleeping: watches the queue for up to idle_spin, yielding the core to anyone who needs it.
  void LookForWork() const {
    if (options.limits.idle_spin.count() <= 0) return;
    const auto until = std::chrono::steady_clock::now() + options.limits.idle_spin;
    while (queued_count.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
  }

  // Waits (without polling, after LookForWork) until there is work; takes the sequences that join. False: stop.
  bool TakeWork(bool& abort) {
    if (rows.empty()) LookForWork();
    std::unique_lock lock(mu);
    if (rows.empty()) step_cv.wait(lock, [&] { return !queued.empty() || stopping; });
    if (rows.empty() && queued.empty()) return false;  // stopping, and nothing is left
    abort = stopping && !drain;
    // Queued sequences wait for a row while the batch is full; end the cancelled and timed-out ones now.
    SweepQueued(Now(), abort);
    // Rows that finished in the last step leave before this one: their places are free already.
    const auto staying =
        static_cast<size_t>(std::count_if(rows.begin(), rows.end(), [](const auto& seq) { return !seq->done; }));
    while (!queued.empty() && staying + joining.size() < static_cast<size_t>(capacity())) {
      joining.push_back(std::move(queued.front()));
      queued.pop_front();
    }
    queued_count.store(queued.size());
    return true;
  }

  // Finished, cancelled and timed-out sequences leave; the joining ones are added at the end.
  void UpdateMembership(bool abort) {
    const Clock::time_point now = Now();
    kept.clear();
    sources.clear();
    for (size_t row = 0; row < rows.size(); ++row) {
      Sequence& seq = *rows[row];
      if (!seq.done) {
        if (absl::Status end = EndReason(seq, now, abort); !end.ok()) Finish(seq, std::move(end));
      }
      if (seq.done) continue;
      sources.push_back(static_cast<int>(row));
      kept.push_back(std::move(rows[row]));
    }
    for (auto& seq : joining) {
      if (absl::Status end = EndReason(*seq, now, abort); !end.ok()) {
        Finish(*seq, std::move(end));
        continue;
      }
      seq->joined = now;
      sources.push_back(generation::StepBatch::kNewRow);
      kept.push_back(std::move(seq));
    }
    joining.clear();
    if (absl::Status status = batch->SetRows(sources); !status.ok()) {
      for (auto& seq : kept) Finish(*seq, status);
      kept.clear();
      (void)batch->SetRows({});
    }
    rows.swap(kept);
    kept.clear();  // the sequences that left
    active_count.store(rows.size());
  }

  // One model call for the whole batch.
  void StepRows() {
    absl::Status status;
    if (rows.size() == 1 && rows[0]->request.prompt.size() - rows[0]->fed >= 2) {
      // Alone with at least two prompt tokens to go: several of them in one call.
      Sequence& seq = *rows[0];
      const size_t k = std::min(seq.request.prompt.size() - seq.fed, static_cast<size_t>(batch->max_chunk()));
      status = batch->StepAlone(std::span<const int64_t>(seq.request.prompt).subspan(seq.fed, k));
      seq.fed += k;
    } else {
      tokens.clear();
      for (const auto& seq : rows) {
        tokens.push_back(seq->in_prompt() ? seq->request.prompt[seq->fed++] : seq->continuation.last_sampled());
      }
      status = batch->Step(tokens);
    }
    if (metrics) metrics->batch_size->Observe(static_cast<double>(rows.size()));
    for (size_t row = 0; row < rows.size(); ++row) {
      Sequence& seq = *rows[row];
      if (!status.ok()) {
        Finish(seq, status);
      } else if (!seq.in_prompt()) {  // the logits after its last prompt token, or after its last sample
        Advance(seq, batch->logits(static_cast<int>(row)));
      }
    }
    CountEmitted();
  }

  void StepMain() {
    // Every plan compiled and run once before the first request. One after the other: the engine's
    // libraries initialise shared state lazily on first use, and the thread is idle until then anyway.
    absl::Status warm = batch->WarmUp();
    if (warm.ok()) warm = batch->WarmUpChunks();
    {
      std::lock_guard lock(mu);
      warm_done = true;
      warm_status = warm;
    }
    warm_cv.notify_all();
    if (warm.ok()) StepLoop();
  }

  void StepLoop() {
    bool abort = false;
    while (TakeWork(abort)) {
      FinishEnded();
      UpdateMembership(abort);
      if (!rows.empty()) StepRows();
    }
  }
};

void GenerationService::State::RegisterMetrics() {
  metrics::Registry* registry = options.metrics;
  if (registry == nullptr) return;
  metrics = std::make_unique<Metrics>();
  const metrics::Labels labels = {{"model", options.model_name}, {"version", std::to_string(options.version)}};
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    metrics::Labels with_outcome = labels;
    with_outcome.emplace_back("outcome", kOutcomes[i]);
    metrics->outcomes[i] = &registry->GetCounter("peregrine_generate_requests_total",
                                                 "Generate requests by model, version and outcome.", with_outcome);
  }
  metrics->output_tokens =
      &registry->GetCounter("peregrine_generate_output_tokens_total", "Tokens generated and sent to clients.", labels);
  metrics->prompt_tokens = &registry->GetCounter("peregrine_generate_prompt_tokens_total",
                                                 "Prompt tokens of successful generate requests.", labels);
  metrics->batch_size = &registry->GetHistogram(
      "peregrine_generate_batch_size", "Sequences advanced together by one decode step.", labels, BatchSizeBuckets());
  metrics->time_per_output_token = &registry->GetHistogram(
      "peregrine_generate_time_per_output_token_seconds",
      "Per successful generate request: time from its first to its last token, per token after the first.", labels,
      metrics::LatencyBuckets());
  metrics->time_to_first_token = &registry->GetHistogram(
      "peregrine_generate_time_to_first_token_seconds",
      "Per successful generate request: time from receiving it to its first token.", labels, metrics::LatencyBuckets());
  metrics->queued = registry->AddCallbackGauge("peregrine_generate_queued_sequences",
                                               "Generate requests waiting for a sequence slot.", labels,
                                               [this] { return static_cast<double>(queued_count.load()); });
  metrics->active =
      registry->AddCallbackGauge("peregrine_generate_active_sequences", "Sequences in the batch (taking their prompt or generating).", labels,
                                 [this] { return static_cast<double>(active_count.load()); });
}

GenerationService::GenerationService(std::unique_ptr<State> state) : state_(std::move(state)) {}

GenerationService::~GenerationService() {
  Shutdown(/*drain=*/true);
  if (state_->metrics) {
    state_->metrics->queued.reset();  // before the state they read goes away
    state_->metrics->active.reset();
  }
}

absl::StatusOr<std::unique_ptr<GenerationService>> GenerationService::Create(
    GenerationServiceOptions options, std::unique_ptr<engine::Session> decode_session,
    std::unique_ptr<engine::Session> chunk_session) {
  if (options.vocabulary == nullptr) return absl::InvalidArgumentError("a generation service needs a vocabulary");
  GenerationLimits& limits = options.limits;
  if (limits.max_sequences_per_step < 1 || limits.max_tokens_limit < 1 || limits.max_prompt_tokens < 1 ||
      limits.default_max_tokens < 1 || limits.default_max_tokens > limits.max_tokens_limit || limits.max_queued < 1 ||
      limits.prompt_chunk_tokens < 1) {
    return absl::InvalidArgumentError(
        "generation limits must be positive, with default_max_tokens <= max_tokens_limit");
  }
  if (!options.clock) options.clock = [] { return Clock::now(); };
  auto state = std::make_unique<State>();
  ASSIGN_OR_RETURN(generation::StepModelBinding binding,
                   generation::BindStepModel(decode_session->inputs(), decode_session->outputs(), options.spec));
  const int64_t vocab = static_cast<int64_t>(options.vocabulary->size());
  if (binding.vocab_size > 0 && binding.vocab_size != vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("the vocabulary has ", vocab, " tokens but the logits are ", binding.vocab_size, " wide"));
  }
  binding.vocab_size = vocab;
  const int max_chunk = std::min(limits.prompt_chunk_tokens, limits.max_prompt_tokens);
  ASSIGN_OR_RETURN(state->batch, generation::StepBatch::Create(decode_session.get(), binding,
                                                               limits.max_sequences_per_step, chunk_session.get(),
                                                               max_chunk));
  state->decode_session = std::move(decode_session);
  state->chunk_session = std::move(chunk_session);
  state->options = std::move(options);

  state->RegisterMetrics();

  State* raw = state.get();
  std::unique_ptr<GenerationService> service(new GenerationService(std::move(state)));
  raw->step_thread = std::thread([raw] { raw->StepMain(); });
  absl::Status warm;
  {
    std::unique_lock lock(raw->mu);
    raw->warm_cv.wait(lock, [raw] { return raw->warm_done; });
    warm = raw->warm_status;
  }
  if (!warm.ok()) {
    service->Shutdown(/*drain=*/false);
    return absl::Status(warm.code(), absl::StrCat("generation warm-up failed: ", warm.message()));
  }
  return service;
}

absl::Status GenerationService::Submit(GenerationRequest request, GenerationCallbacks callbacks) {
  State& s = *state_;
  const GenerationLimits& limits = s.options.limits;
  absl::Status invalid;
  const int64_t max_tokens = request.max_tokens.value_or(limits.default_max_tokens);
  if (request.prompt.empty()) {
    invalid = absl::InvalidArgumentError("the prompt has no tokens");
  } else if (request.prompt.size() > static_cast<size_t>(limits.max_prompt_tokens)) {
    invalid =
        absl::InvalidArgumentError(absl::StrCat("text_input has ", request.prompt.size(), " tokens; model '",
                                                s.options.model_name, "' accepts at most ", limits.max_prompt_tokens));
  } else if (max_tokens < 1 || max_tokens > limits.max_tokens_limit) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be in 1..", limits.max_tokens_limit, ", got ", max_tokens));
  } else {
    invalid = request.sampling.Validate();
  }
  for (const auto& stop : request.stop_sequences) {
    if (invalid.ok() && stop.empty()) invalid = absl::InvalidArgumentError("a stop sequence has no tokens");
  }
  for (int64_t id : request.prompt) {
    if (invalid.ok() && (id < 0 || id >= static_cast<int64_t>(s.options.vocabulary->size()))) {
      invalid = absl::InvalidArgumentError(absl::StrCat("prompt token id ", id, " is outside the vocabulary"));
    }
  }
  if (!invalid.ok()) {
    s.CountOutcome(invalid);
    return invalid;
  }
  if (!callbacks.done) return absl::InvalidArgumentError("Submit needs a done callback");

  if (!request.deadline && s.options.limits.default_timeout.count() > 0) {
    request.deadline = request.received + s.options.limits.default_timeout;
  }
  generation::ContinuationParams params;
  params.max_tokens = static_cast<int>(max_tokens);
  params.sampling = request.sampling;
  params.end_id = s.options.end_id;
  params.stop_sequences = request.stop_sequences;
  auto seq = std::make_unique<Sequence>(std::move(request), std::move(callbacks), std::move(params));
  absl::Status rejected;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) {
      rejected = absl::UnavailableError(absl::StrCat("model '", s.options.model_name, "' is shutting down"));
    } else if (s.queued.size() >= limits.max_queued) {
      rejected = absl::UnavailableError(absl::StrCat("generation queue of model '", s.options.model_name, "' is full (",
                                                     limits.max_queued, " requests waiting); retry later"));
    } else {
      s.queued.push_back(std::move(seq));
      s.queued_count.store(s.queued.size());
    }
  }
  if (!rejected.ok()) {
    s.CountOutcome(rejected);
    return rejected;
  }
  s.step_cv.notify_one();
  return absl::OkStatus();
}

void GenerationService::Shutdown(bool drain) {
  State& s = *state_;
  std::lock_guard shutdown_lock(s.shutdown_mu);
  if (s.joined) return;
  {
    std::lock_guard lock(s.mu);
    s.stopping = true;
    s.drain = drain;
  }
  s.step_cv.notify_all();
  if (s.step_thread.joinable()) s.step_thread.join();
  s.joined = true;
}

const generation::Vocabulary& GenerationService::vocabulary() const { return *state_->options.vocabulary; }
std::shared_ptr<const generation::Vocabulary> GenerationService::shared_vocabulary() const {
  return state_->options.vocabulary;
}
const GenerationLimits& GenerationService::limits() const { return state_->options.limits; }
int64_t GenerationService::end_id() const { return state_->options.end_id; }
size_t GenerationService::queued() const { return state_->queued_count.load(); }
size_t GenerationService::active() const { return state_->active_count.load(); }
void GenerationService::CountInvalid() { state_->CountOutcome(absl::InvalidArgumentError("")); }

}  // namespace peregrine::serving
