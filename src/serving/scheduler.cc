// Scheduler: one bounded queue (RequestQueue), one worker thread per instance, one deadline timer thread.
//
// Threads and the lock. `mu` guards the queue and the counters. Each worker sleeps on its own condition
// variable and, while it sleeps, is listed in `idle` (most recent last); Submit takes one worker off the
// list and wakes exactly that one, so a request that finds an idle instance costs exactly one wake-up,
// nothing polls, and the worker woken is the one whose caches are warmest. The timer sleeps on `timer_cv` until the earliest queued deadline and
// completes expired requests; Submit wakes it only when the new deadline is earlier than the one it
// sleeps until and the request may actually wait (more queued requests than idle workers, or a batcher
// that delays) - a request that an idle worker picks at once is checked against its deadline at pick
// time instead, which saves the timer's wake-up on the fast path. Callbacks always run outside `mu`.
//
// Inline execution. Submit may instead take an idle worker off the list and mark its instance
// `claimed`: the submitting thread runs the request on that instance (Execute, as a worker would) and
// then releases it. A claimed worker that wakes goes back to sleep until the release, so the instance
// never runs two requests at once; the release lists the worker as idle again (it is still asleep) and
// wakes a worker when requests queued meanwhile. Whether a model qualifies is decided from the compute
// times its workers measure (an average, updated with relaxed atomics: an occasional lost update only
// delays the average).
//
// Shape of a worker: TakeWork() (the only place that decides what runs next) -> complete the requests
// it dropped -> Execute(). With dynamic batching, TakeWork gathers the candidate batch (the oldest
// request and the later compatible ones) and asks batch_policy.h's DecideBatch: it takes the batch, or
// sleeps until the answer's time; an arrival wakes it earlier to ask again, so every idle worker that
// sleeps with work queued has a time to wake at. Execute concatenates the requests' inputs (padded up
// to a compiled batch size, EngineBatchRows), runs the instance once and copies every output's rows
// back to their requests. A single request that needs no padding runs on its own tensors, no copies.
#include "serving/scheduler.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "serving/batch_policy.h"
#include "serving/request_queue.h"

namespace peregrine::serving {

using internal::BatchKey;
using internal::PendingRequest;
using internal::RequestQueue;

namespace {

int64_t Nanos(Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

absl::Status TimedOut(const PendingRequest& pending, Clock::time_point now) {
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - pending.enqueued).count();
  return absl::DeadlineExceededError(
      absl::StrCat("request timed out after ", waited, " ms in the queue of model ", pending.request.model));
}

absl::Status Cancelled(const PendingRequest& pending) {
  return absl::CancelledError(
      absl::StrCat("request was cancelled while in the queue of model ", pending.request.model));
}

absl::Status NotRun(const PendingRequest& pending) {
  return absl::UnavailableError(absl::StrCat("model ", pending.request.model, " was shut down before the request ran"));
}

// Hands the result to the request's callback, exactly once. The response's identity is filled here
// so that failed results carry it too (the protocol layer logs it).
void Complete(PendingRequest& pending, InferenceResult&& result) {
  result.response.id = std::move(pending.request.id);
  result.response.model = std::move(pending.request.model);
  result.response.version = pending.request.version;
  InferenceCallback done = std::move(pending.done);
  pending.done = nullptr;
  // A throwing callback is a bug in the caller; it must not take the worker (and every later request
  // of the model) down with it.
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peregrine: inference callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "peregrine: inference callback threw an unknown exception\n");
  }
}

void Fail(PendingRequest& pending, absl::Status status, Clock::time_point now) {
  InferenceResult result;
  result.status = std::move(status);
  result.timings.queue_ns = Nanos(now - pending.enqueued);
  result.timings.counts_execution = false;  // it never reached an instance
  Complete(pending, std::move(result));
}

// Requests with equal keys can share an engine call: same dtypes, same dims after the first, which
// every input shares. Strings are not concatenated (their elements are objects, not bytes).
BatchKey MakeBatchKey(const std::vector<InferenceInput>& inputs) {
  BatchKey key;
  if (inputs.empty()) return key;
  const Tensor& first = inputs[0].tensor;
  if (first.rank() == 0 || first.shape()[0] < 1 || first.shape()[0] > (1 << 30)) return key;
  key.rows = static_cast<int>(first.shape()[0]);
  for (const InferenceInput& input : inputs) {
    const Tensor& t = input.tensor;
    if (t.dtype() == DataType::kString || t.rank() == 0 || t.shape()[0] != key.rows || !t.has_data()) {
      key.signature.clear();
      key.rows = 1;
      return key;
    }
    key.signature.push_back(static_cast<int64_t>(t.dtype()));
    key.signature.push_back(t.rank());
    key.signature.insert(key.signature.end(), t.shape().begin() + 1, t.shape().end());
  }
  key.batchable = true;
  return key;
}

Shape WithRows(Shape shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}

// Copies rows [from, from + count) of `src` to rows [to, to + count) of `dst`; both have the same dtype
// and the same dims after the first.
void CopyRows(const Tensor& src, int64_t from, Tensor& dst, int64_t to, int64_t count) {
  const int64_t rows = src.shape()[0];
  const size_t row_elements = rows == 0 ? 0 : static_cast<size_t>(src.num_elements() / rows);
  if (row_elements == 0 || count == 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* first = src.data_as<std::string>() + from * row_elements;
    std::copy(first, first + count * row_elements, dst.data_as<std::string>() + to * row_elements);
    return;
  }
  const size_t row_bytes = row_elements * ElementSize(src.dtype());
  std::memcpy(static_cast<char*>(dst.data()) + to * row_bytes, static_cast<const char*>(src.data()) + from * row_bytes,
              count * row_bytes);
}

Tensor SliceRows(const Tensor& src, int64_t from, int64_t count) {
  Tensor out = Tensor::Zeros(src.dtype(), WithRows(src.shape(), count));
  CopyRows(src, from, out, 0, count);
  return out;
}

// Moves the outputs into the response, filtered and ordered by request.outputs. `infos` names them.
absl::Status FillOutputs(const std::vector<engine::TensorInfo>& infos, const InferenceRequest& request,
                         std::vector<Tensor>& outputs, InferenceResponse& response) {
  if (outputs.size() != infos.size()) {
    return absl::InternalError(
        absl::StrCat("model ", request.model, " produced ", outputs.size(), " outputs, expected ", infos.size()));
  }
  if (request.outputs.empty()) {
    response.outputs.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      response.outputs.push_back({infos[i].name, std::move(outputs[i]), request.binary_outputs});
    }
    return absl::OkStatus();
  }
  response.outputs.reserve(request.outputs.size());
  for (const RequestedOutput& wanted : request.outputs) {
    auto it =
        std::find_if(infos.begin(), infos.end(), [&](const engine::TensorInfo& i) { return i.name == wanted.name; });
    if (it == infos.end()) {
      return absl::InternalError(absl::StrCat("model ", request.model, " has no output ", wanted.name));
    }
    // A copy of the handle, not the data: the same output requested twice stays valid.
    response.outputs.push_back({wanted.name, outputs[it - infos.begin()], wanted.binary});
  }
  return absl::OkStatus();
}

absl::Status RunInstance(ModelInstance& instance, std::span<const Tensor> inputs, std::vector<Tensor>& outputs,
                         const std::string& model) {
  try {
    return instance.Run(inputs, outputs);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("an instance of model ", model, " failed: ", std::string(e.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat("an instance of model ", model, " failed with an unknown exception"));
  }
}

// Every output of a batched call must have the call's rows first; anything else cannot be split.
absl::Status CheckBatchOutputs(const std::vector<engine::TensorInfo>& infos, const std::vector<Tensor>& outputs,
                               int rows, const std::string& model) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].rank() == 0 || outputs[i].shape()[0] != rows) {
      return absl::InternalError(absl::StrCat("model ", model, " output '", i < infos.size() ? infos[i].name : "?",
                                              "' has shape ", ShapeToString(outputs[i].shape()), " for a batch of ",
                                              rows, " rows; it cannot be split back into the requests"));
    }
  }
  return absl::OkStatus();
}

// What one worker does next: requests to run in one engine call, and requests found unrunnable on the
// way (cancelled, expired), which are completed without running. Reused across iterations so the
// vectors keep their capacity.
struct Work {
  std::vector<PendingRequest> run;
  std::vector<std::pair<PendingRequest, absl::Status>> dropped;
  // Results of the last Execute, completed (callbacks called) by the caller after it released the
  // instance: encoding and writing a response need no instance.
  std::vector<std::pair<PendingRequest, InferenceResult>> finished;
  Clock::time_point picked;
  bool holds_instance = false;  // `run` was non-empty: counted in busy until the next TakeWork
  // Batching scratch: the candidate's arrival numbers and summary, the concatenated inputs (reused when
  // the next batch has the same shapes), the tensors handed to the engine.
  std::vector<uint64_t> candidate_seqs;
  BatchCandidate candidate;
  std::vector<Tensor> batch_inputs;
  std::vector<Tensor> engine_inputs;
};

// Calls the callbacks of the requests the last Execute finished.
void CompleteFinished(Work& work) {
  for (auto& [pending, result] : work.finished) Complete(pending, std::move(result));
  work.finished.clear();
}

// Batch sizes an instance has plans for, by input signature (BatchKey::signature).
using CompiledSizes = std::map<std::vector<int64_t>, std::set<int>>;
constexpr size_t kMaxSignatures = 64;
// Executions measured before a model may run inline: the first runs after loading are not typical.
constexpr int kInlineMinSamples = 8;

size_t InputBytes(const std::vector<InferenceInput>& inputs) {
  size_t bytes = 0;
  for (const InferenceInput& input : inputs) bytes += input.tensor.byte_size();
  return bytes;
}

}  // namespace

struct Scheduler::State {
  State(std::vector<std::unique_ptr<ModelInstance>> instances_in, SchedulerOptions options_in)
      : instances(std::move(instances_in)), options(std::move(options_in)), slots(instances.size()),
        queue(options.max_queue_size), batching(options.batching.max_batch_size > 0), compiled(instances.size()),
        may_inline(!batching && options.inline_max_compute.count() > 0),
        inline_max_compute_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(options.inline_max_compute).count()) {
    policy.max_batch_size = std::max(1, options.batching.max_batch_size);
    policy.preferred_batch_sizes = options.batching.preferred_batch_sizes;
    std::sort(policy.preferred_batch_sizes.begin(), policy.preferred_batch_sizes.end());
    policy.preferred_batch_sizes.erase(
        std::unique(policy.preferred_batch_sizes.begin(), policy.preferred_batch_sizes.end()),
        policy.preferred_batch_sizes.end());
    policy.max_queue_delay = options.batching.max_queue_delay;
    may_delay = batching && options.batching.max_queue_delay.count() > 0;
    // Compatible requests are looked for this far into the queue, so that a long queue of other shapes
    // does not make every decision scan all of it.
    scan_limit = std::max<size_t>(64, 4 * static_cast<size_t>(policy.max_batch_size));
    output_infos = DerivedOutputs::AllOutputs(instances.front()->outputs(), options.derived_outputs.get());
  }

  absl::Status WarmBatchSizes(size_t index);
  bool TakeWork(size_t index, Work& work);
  void Sleep(size_t index, std::unique_lock<std::mutex>& lock, std::optional<Clock::time_point> until);
  std::optional<size_t> PopIdle();
  bool MayRunInline(size_t input_bytes) const;
  void RunInline(size_t index, PendingRequest pending);
  void RecordCompute(Clock::duration compute, size_t input_bytes);
  void DropUnrunnableFront(Clock::time_point now, Work& work);
  void GatherCandidate(Work& work);
  void TakeCandidate(size_t count, Clock::time_point now, Work& work);
  void Execute(size_t index, ModelInstance& instance, Work& work);
  absl::Status Concatenate(const std::vector<PendingRequest>& run, int engine_rows, Work& work);
  void WorkerLoop(size_t index);
  void TimerLoop();
  void Shutdown(bool drain);

  const std::vector<std::unique_ptr<ModelInstance>> instances;
  const SchedulerOptions options;

  // One per worker (and instance); all fields but cv guarded by mu.
  struct WorkerSlot {
    std::condition_variable cv;  // the queue changed, the instance was released, or shutting down
    bool idle = false;           // listed in `idle`: may be woken for work or claimed
    bool claimed = false;        // an inline runner holds the instance
  };

  mutable std::mutex mu;
  std::vector<WorkerSlot> slots;
  std::vector<size_t> idle;          // guarded by mu: sleeping, unclaimed workers, most recent last
  std::condition_variable timer_cv;  // timer: an earlier deadline arrived, or stop
  RequestQueue queue;                // guarded by mu
  bool accepting = true;             // guarded by mu
  bool timer_stop = false;           // guarded by mu
  size_t busy = 0;                   // guarded by mu: instances running a request (workers or inline)
  // When the timer will look at the queue next: max() while it sleeps without a deadline, min() while
  // it is awake (it re-reads the queue before sleeping, so it needs no wake-up). Guarded by mu.
  Clock::time_point timer_wake = Clock::time_point::min();
  // Arrivals, for DecideBatch's rule 6 (tracked only when the batcher may delay). Guarded by mu.
  Clock::time_point last_arrival;
  Clock::duration mean_arrival_gap{0};  // zero until the second arrival
  bool any_arrival = false;

  void RecordArrival(Clock::time_point now);

  // Fixed after construction.
  const bool batching;
  bool may_delay = false;  // batching with max_queue_delay > 0: requests may wait while instances idle
  BatchPolicy policy;
  size_t scan_limit = 64;
  std::vector<engine::TensorInfo> output_infos;  // the instances' outputs, then the derived ones
  // compiled[i] belongs to instance i: written by Create before the workers start, then only by whoever
  // runs instance i (its worker, or an inline runner holding the claim).
  std::vector<CompiledSizes> compiled;
  // Inline execution: off when batching or when options.inline_max_compute is zero.
  const bool may_inline;
  const int64_t inline_max_compute_ns;
  // Moving averages over executions (weight 1/8 for the newest) of compute time and input bytes.
  std::atomic<int64_t> mean_compute_ns{0};
  std::atomic<int64_t> mean_input_bytes{0};
  std::atomic<int> compute_samples{0};  // counts up to kInlineMinSamples

  std::vector<std::thread> workers;
  std::thread timer;
  std::mutex join_mu;  // serializes joining when Shutdown runs on several threads
};

// Runs options.batching.warm_row repeated to each warm batch size on instance `index`, which compiles
// (and caches) the plan of each, and records the sizes as compiled.
absl::Status Scheduler::State::WarmBatchSizes(size_t index) {
  const BatchingOptions& b = options.batching;
  if (!batching || b.warm_row.empty() || b.warm_batch_sizes.empty()) return absl::OkStatus();
  std::vector<InferenceInput> row;
  for (const Tensor& t : b.warm_row) row.push_back({"", t});
  const BatchKey key = MakeBatchKey(row);
  if (!key.batchable || key.rows != 1) {
    return absl::InvalidArgumentError("batching.warm_row must hold one row of every input (numeric tensors)");
  }
  std::set<int>& sizes = compiled[index][key.signature];
  for (int size : b.warm_batch_sizes) {
    std::vector<Tensor> inputs;
    try {
      for (const Tensor& t : b.warm_row) {
        Tensor batch = Tensor::Zeros(t.dtype(), WithRows(t.shape(), size));
        for (int r = 0; r < size; ++r) CopyRows(t, 0, batch, r, 1);
        inputs.push_back(std::move(batch));
      }
    } catch (const std::bad_alloc&) {
      return absl::InvalidArgumentError(absl::StrCat("warming batch size ", size, ": out of memory"));
    }
    std::vector<Tensor> outputs;
    absl::Status status = RunInstance(*instances[index], inputs, outputs, "(warm-up)");
    if (status.ok()) status = CheckBatchOutputs(output_infos, outputs, size, "(warm-up)");
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("warming batch size ", size, ": ", status.message()));
    }
    sizes.insert(size);
  }
  return absl::OkStatus();
}

// A moving average of the gaps between arrivals (weight 1/4 for the newest). A gap longer than twice the
// delay counts as twice the delay: it only has to say "sparse", and a lull must not take long to forget.
void Scheduler::State::RecordArrival(Clock::time_point now) {
  if (any_arrival) {
    const Clock::duration cap = 2 * std::chrono::duration_cast<Clock::duration>(policy.max_queue_delay);
    const Clock::duration gap = std::min(now - last_arrival, cap);
    mean_arrival_gap = mean_arrival_gap.count() == 0 ? gap : (3 * mean_arrival_gap + gap) / 4;
    mean_arrival_gap = std::max(mean_arrival_gap, Clock::duration(1));
  }
  last_arrival = now;
  any_arrival = true;
}

// Sets aside cancelled and expired requests at the front of the queue, so that the front can run.
void Scheduler::State::DropUnrunnableFront(Clock::time_point now, Work& work) {
  while (!queue.empty()) {
    const InferenceRequest& request = queue.Front().request;
    const bool cancelled = request.cancelled && request.cancelled->cancelled();
    if (!cancelled && !(request.deadline && *request.deadline <= now)) return;
    PendingRequest pending = queue.PopFront();
    absl::Status status = cancelled ? Cancelled(pending) : TimedOut(pending, now);
    work.dropped.emplace_back(std::move(pending), std::move(status));
  }
}

// The candidate batch: the front request, then later requests with its key while their rows fit.
void Scheduler::State::GatherCandidate(Work& work) {
  BatchCandidate& c = work.candidate;
  c.cumulative_rows.clear();
  c.can_grow = true;
  c.arrivals_blocked = !accepting || queue.full();
  c.last_arrival = last_arrival;
  c.mean_arrival_gap = mean_arrival_gap;
  work.candidate_seqs.clear();
  const BatchKey* key = nullptr;
  int rows = 0;
  size_t scanned = 0;
  queue.Scan([&](uint64_t seq, const PendingRequest& pending) {
    if (key == nullptr) {
      key = &pending.key;
      rows = pending.key.rows;
      c.oldest_enqueued = pending.enqueued;
      c.cumulative_rows.push_back(rows);
      work.candidate_seqs.push_back(seq);
      c.can_grow = pending.key.batchable && rows < policy.max_batch_size;
      return c.can_grow;
    }
    if (++scanned > scan_limit) return false;
    if (!pending.key.batchable || pending.key.signature != key->signature) return true;  // never mixed
    if (rows + pending.key.rows > policy.max_batch_size) {
      c.can_grow = false;
      return false;
    }
    rows += pending.key.rows;
    c.cumulative_rows.push_back(rows);
    work.candidate_seqs.push_back(seq);
    c.can_grow = rows < policy.max_batch_size;
    return c.can_grow;
  });
}

// Takes the candidate's first `count` requests off the queue; any cancelled or expired since they were
// queued are dropped instead.
void Scheduler::State::TakeCandidate(size_t count, Clock::time_point now, Work& work) {
  for (size_t i = 0; i < count && i < work.candidate_seqs.size(); ++i) {
    PendingRequest pending = queue.Take(work.candidate_seqs[i]);
    const InferenceRequest& request = pending.request;
    if (request.cancelled && request.cancelled->cancelled()) {
      absl::Status status = Cancelled(pending);
      work.dropped.emplace_back(std::move(pending), std::move(status));
    } else if (request.deadline && *request.deadline <= now) {
      absl::Status status = TimedOut(pending, now);
      work.dropped.emplace_back(std::move(pending), std::move(status));
    } else {
      work.run.push_back(std::move(pending));
    }
  }
}

// Blocks until there is work or the scheduler has stopped and drained (returns false). Returns with
// requests to run in one engine call, or only with dropped requests to complete.
bool Scheduler::State::TakeWork(size_t index, Work& work) {
  std::unique_lock lock(mu);
  if (work.holds_instance) {
    --busy;
    work.holds_instance = false;
  }
  Clock::time_point now = Clock::now();
  for (;;) {
    DropUnrunnableFront(now, work);
    if (queue.empty()) {
      if (!work.dropped.empty()) break;  // complete them before sleeping
      if (!accepting) return false;
      Sleep(index, lock, std::nullopt);
      now = Clock::now();
      continue;
    }
    if (!batching) {
      work.run.push_back(queue.PopFront());
      break;
    }
    GatherCandidate(work);
    const BatchDecision decision = DecideBatch(work.candidate, now, policy);
    if (decision.action == BatchDecision::Action::kDispatch) {
      TakeCandidate(decision.requests, now, work);
      if (!work.run.empty()) break;
      continue;  // all of them were dropped: look again
    }
    if (!work.dropped.empty()) break;
    Sleep(index, lock, decision.wait_until);
    now = Clock::now();
  }
  work.picked = now;
  if (!work.run.empty()) {
    ++busy;
    work.holds_instance = true;
  }
  // One arrival wakes one worker, which may have left requests behind (a full batch, other shapes):
  // hand them to the next idle worker.
  if (!queue.empty()) {
    if (std::optional<size_t> next = PopIdle()) slots[*next].cv.notify_one();
  }
  return true;
}

// Sleeps listed as idle until woken, or until `until`; returns only while no inline runner holds the
// instance.
void Scheduler::State::Sleep(size_t index, std::unique_lock<std::mutex>& lock,
                             std::optional<Clock::time_point> until) {
  WorkerSlot& slot = slots[index];
  slot.idle = true;
  idle.push_back(index);
  if (until) {
    slot.cv.wait_until(lock, *until);
  } else {
    slot.cv.wait(lock);
  }
  while (slot.claimed) slot.cv.wait(lock);
  if (slot.idle) {  // woken by its time, spuriously, or by shutdown rather than by PopIdle
    slot.idle = false;
    idle.erase(std::find(idle.begin(), idle.end(), index));
  }
}

// Takes the most recently idled worker off the idle list (the caller wakes or claims it). Needs mu.
std::optional<size_t> Scheduler::State::PopIdle() {
  if (idle.empty()) return std::nullopt;
  const size_t index = idle.back();
  idle.pop_back();
  slots[index].idle = false;
  return index;
}

bool Scheduler::State::MayRunInline(size_t input_bytes) const {
  if (!may_inline || compute_samples.load(std::memory_order_relaxed) < kInlineMinSamples) return false;
  if (mean_compute_ns.load(std::memory_order_relaxed) > inline_max_compute_ns) return false;
  // A request much larger than the recent ones would take longer than they did: it goes to a worker.
  return static_cast<int64_t>(input_bytes) <= 2 * mean_input_bytes.load(std::memory_order_relaxed) + 4096;
}

void Scheduler::State::RecordCompute(Clock::duration compute, size_t input_bytes) {
  const int64_t ns = Nanos(compute);
  const int64_t bytes = static_cast<int64_t>(input_bytes);
  if (compute_samples.load(std::memory_order_relaxed) < kInlineMinSamples) {
    // Until enough samples: the largest seen, so that a slow first run is not averaged away early.
    mean_compute_ns.store(std::max(mean_compute_ns.load(std::memory_order_relaxed), ns), std::memory_order_relaxed);
    mean_input_bytes.store(std::max(mean_input_bytes.load(std::memory_order_relaxed), bytes),
                           std::memory_order_relaxed);
    compute_samples.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int64_t mean = mean_compute_ns.load(std::memory_order_relaxed);
  mean_compute_ns.store(mean + (ns - mean) / 8, std::memory_order_relaxed);
  const int64_t mean_bytes = mean_input_bytes.load(std::memory_order_relaxed);
  mean_input_bytes.store(mean_bytes + (bytes - mean_bytes) / 8, std::memory_order_relaxed);
}

// Runs one request on instance `index`, which Submit claimed for this thread, then releases it.
void Scheduler::State::RunInline(size_t index, PendingRequest pending) {
  Work work;
  work.picked = Clock::now();
  const InferenceRequest& request = pending.request;
  if (request.cancelled && request.cancelled->cancelled()) {
    absl::Status status = Cancelled(pending);
    Fail(pending, std::move(status), work.picked);
  } else if (request.deadline && *request.deadline <= work.picked) {
    absl::Status status = TimedOut(pending, work.picked);
    Fail(pending, std::move(status), work.picked);
  } else {
    work.run.push_back(std::move(pending));
    Execute(index, *instances[index], work);
  }
  // Released before the response is encoded and written, so that a request arriving meanwhile on
  // another thread finds the instance free.
  std::optional<size_t> wake;
  {
    std::lock_guard lock(mu);
    WorkerSlot& slot = slots[index];
    slot.claimed = false;
    --busy;
    // The worker is still in Sleep (a claimed worker cannot leave it): listed as idle again, it can be
    // woken or claimed as before.
    slot.idle = true;
    idle.push_back(index);
    if (!accepting) {
      wake = index;  // it must see the shutdown
    } else if (!queue.empty()) {
      wake = PopIdle();
    }
  }
  if (wake) slots[*wake].cv.notify_one();
  CompleteFinished(work);
}

// Fills work.engine_inputs with the requests' inputs concatenated along the first dimension, padded
// with zero rows to `engine_rows`.
absl::Status Scheduler::State::Concatenate(const std::vector<PendingRequest>& run, int engine_rows, Work& work) {
  const std::vector<InferenceInput>& first = run.front().request.inputs;
  work.batch_inputs.resize(first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    const Tensor& model = first[i].tensor;
    const Shape shape = WithRows(model.shape(), engine_rows);
    Tensor& batch = work.batch_inputs[i];
    if (!batch.owns_data() || batch.dtype() != model.dtype() || batch.shape() != shape) {
      try {
        batch = Tensor::Zeros(model.dtype(), shape);
      } catch (const std::bad_alloc&) {
        return absl::ResourceExhaustedError(absl::StrCat("out of memory batching input '", first[i].name, "'"));
      }
    }
    int64_t row = 0;
    for (const PendingRequest& pending : run) {
      const Tensor& t = pending.request.inputs[i].tensor;
      CopyRows(t, 0, batch, row, t.shape()[0]);
      row += t.shape()[0];
    }
    // Padding rows are zeros, whatever the previous batch left there.
    if (row < engine_rows) {
      const size_t row_bytes = batch.byte_size() / static_cast<size_t>(engine_rows);
      std::memset(static_cast<char*>(batch.data()) + row * row_bytes, 0, (engine_rows - row) * row_bytes);
    }
    work.engine_inputs.push_back(batch);
  }
  return absl::OkStatus();
}

void Scheduler::State::Execute(size_t index, ModelInstance& instance, Work& work) {
  std::vector<PendingRequest>& run = work.run;
  const BatchKey& key = run.front().key;
  const std::string model = run.front().request.model;
  int rows = 0;
  for (const PendingRequest& pending : run) rows += batching ? pending.key.rows : 1;
  CompiledSizes& known = compiled[index];
  // Models with variable dims beyond the batch meet many signatures; the engine keeps only its most
  // recent plans anyway, so forget them all rather than grow without bound.
  if (known.size() > kMaxSignatures && !known.count(key.signature)) known.clear();
  std::set<int>* sizes = batching && key.batchable ? &known[key.signature] : nullptr;
  const int engine_rows = sizes ? EngineBatchRows(rows, *sizes, options.batching.max_compiled_sizes) : rows;
  const bool as_sent = run.size() == 1 && engine_rows == rows;

  const Clock::time_point t0 = Clock::now();
  work.engine_inputs.clear();
  absl::Status status;
  if (as_sent) {
    for (const InferenceInput& input : run.front().request.inputs) work.engine_inputs.push_back(input.tensor);
  } else {
    status = Concatenate(run, engine_rows, work);
  }
  const Clock::time_point t1 = Clock::now();
  // Fresh output tensors every time: the engine writes into tensors that fit, and the previous ones
  // now belong to an earlier response.
  std::vector<Tensor> outputs;
  if (status.ok()) status = RunInstance(instance, work.engine_inputs, outputs, model);
  const Clock::time_point t2 = Clock::now();
  work.engine_inputs.clear();
  if (status.ok() && sizes) sizes->insert(engine_rows);
  if (status.ok() && !as_sent) status = CheckBatchOutputs(instance.outputs(), outputs, engine_rows, model);

  if (may_inline && status.ok()) RecordCompute(t2 - t0, InputBytes(run.front().request.inputs));

  int64_t row = 0;
  for (size_t j = 0; j < run.size(); ++j) {
    PendingRequest& pending = run[j];
    const int64_t request_rows = as_sent ? rows : pending.key.rows;
    InferenceResult result;
    result.status = status;
    if (status.ok()) {
      std::vector<Tensor> own;
      if (as_sent) {
        own = std::move(outputs);
      } else {
        own.reserve(outputs.size());
        for (const Tensor& output : outputs) own.push_back(SliceRows(output, row, request_rows));
      }
      if (options.derived_outputs) result.status = options.derived_outputs->Append(pending.request, own);
      if (result.status.ok()) result.status = FillOutputs(output_infos, pending.request, own, result.response);
      if (!result.status.ok()) result.response.outputs.clear();
    }
    row += request_rows;
    RequestTimings& timings = result.timings;
    timings.queue_ns = Nanos(work.picked - pending.enqueued);
    timings.compute_input_ns = Nanos(t1 - t0);
    timings.compute_infer_ns = Nanos(t2 - t1);
    timings.compute_output_ns = Nanos(Clock::now() - t2);
    timings.batch_size = rows;
    timings.counts_execution = j == 0;  // one engine call, counted once
    work.finished.emplace_back(std::move(pending), std::move(result));
  }
}


void Scheduler::State::WorkerLoop(size_t index) {
  ModelInstance& instance = *instances[index];
  Work work;
  while (TakeWork(index, work)) {
    for (auto& [pending, status] : work.dropped) Fail(pending, std::move(status), work.picked);
    work.dropped.clear();
    if (!work.run.empty()) Execute(index, instance, work);
    work.run.clear();
    CompleteFinished(work);
  }
}

void Scheduler::State::TimerLoop() {
  std::vector<PendingRequest> expired;
  std::unique_lock lock(mu);
  while (!timer_stop) {
    const Clock::time_point now = Clock::now();
    queue.TakeExpired(now, expired);
    if (!expired.empty()) {
      lock.unlock();
      for (PendingRequest& pending : expired) Fail(pending, TimedOut(pending, now), now);
      expired.clear();
      lock.lock();
      continue;
    }
    const std::optional<Clock::time_point> next = queue.EarliestDeadline();
    timer_wake = next.value_or(Clock::time_point::max());
    if (next) {
      timer_cv.wait_until(lock, *next);
    } else {
      timer_cv.wait(lock);
    }
    timer_wake = Clock::time_point::min();
  }
}

void Scheduler::State::Shutdown(bool drain) {
  std::vector<PendingRequest> failed;
  {
    std::lock_guard lock(mu);
    accepting = false;
    if (!drain) queue.TakeAll(failed);
  }
  // Idle workers exit; a worker waiting for batch partners dispatches now.
  for (WorkerSlot& slot : slots) slot.cv.notify_all();
  const Clock::time_point now = Clock::now();
  for (PendingRequest& pending : failed) Fail(pending, NotRun(pending), now);

  std::lock_guard join_lock(join_mu);
  for (std::thread& worker : workers) {
    if (worker.joinable()) worker.join();
  }
  // The workers drained the queue, so the timer has nothing left to expire.
  {
    std::lock_guard lock(mu);
    timer_stop = true;
  }
  timer_cv.notify_all();
  if (timer.joinable()) timer.join();
}

namespace {

absl::Status CheckBatchingOptions(const BatchingOptions& b) {
  if (b.max_batch_size < 0) return absl::InvalidArgumentError("batching.max_batch_size must not be negative");
  if (b.max_queue_delay.count() < 0) return absl::InvalidArgumentError("batching.max_queue_delay must not be negative");
  if (b.max_batch_size == 0) return absl::OkStatus();
  for (const auto* list : {&b.preferred_batch_sizes, &b.warm_batch_sizes}) {
    for (int size : *list) {
      if (size < 1 || size > b.max_batch_size) {
        return absl::InvalidArgumentError(absl::StrCat("batch size ", size, " is not within 1..max_batch_size (",
                                                       b.max_batch_size, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(std::vector<std::unique_ptr<ModelInstance>> instances,
                                                             SchedulerOptions options) {
  if (instances.empty()) return absl::InvalidArgumentError("a scheduler needs at least one model instance");
  for (const auto& instance : instances) {
    if (instance == nullptr) return absl::InvalidArgumentError("a scheduler was given a null model instance");
  }
  if (options.max_queue_size == 0) return absl::InvalidArgumentError("max_queue_size must be greater than 0");
  if (options.default_timeout.count() < 0) return absl::InvalidArgumentError("default_timeout must not be negative");
  RETURN_IF_ERROR(CheckBatchingOptions(options.batching));

  auto state = std::make_unique<State>(std::move(instances), std::move(options));
  State* s = state.get();
  for (size_t i = 0; i < s->instances.size(); ++i) RETURN_IF_ERROR(s->WarmBatchSizes(i));
  try {
    s->workers.reserve(s->instances.size());
    for (size_t i = 0; i < s->instances.size(); ++i) s->workers.emplace_back([s, i] { s->WorkerLoop(i); });
    s->timer = std::thread([s] { s->TimerLoop(); });
  } catch (const std::system_error& e) {
    s->Shutdown(/*drain=*/false);
    return absl::InternalError(absl::StrCat("cannot start scheduler threads: ", std::string(e.what())));
  }
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(state)));
}

Scheduler::Scheduler(std::unique_ptr<State> state) : state_(std::move(state)) {}

Scheduler::~Scheduler() { state_->Shutdown(/*drain=*/true); }

absl::Status Scheduler::Submit(InferenceRequest request, InferenceCallback done) {
  State& s = *state_;
  const Clock::time_point now = Clock::now();
  if (!request.deadline && s.options.default_timeout.count() > 0) {
    request.deadline = now + std::chrono::duration_cast<Clock::duration>(s.options.default_timeout);
  }
  const std::optional<Clock::time_point> deadline = request.deadline;
  BatchKey key = s.batching ? MakeBatchKey(request.inputs) : BatchKey{};
  const bool may_inline = s.may_inline && s.MayRunInline(InputBytes(request.inputs));
  enum class Rejection { kNone, kShuttingDown, kFull } rejection = Rejection::kNone;
  std::optional<size_t> wake_worker;
  std::optional<size_t> run_inline;
  bool wake_timer = false;
  {
    std::lock_guard lock(s.mu);
    if (!s.accepting) {
      rejection = Rejection::kShuttingDown;
    } else if (s.queue.full()) {
      rejection = Rejection::kFull;
    } else if (may_inline && s.queue.empty() && (run_inline = s.PopIdle())) {
      s.slots[*run_inline].claimed = true;
      ++s.busy;
    } else {
      s.queue.Push({std::move(request), std::move(done), now, std::move(key)});
      if (s.may_delay) s.RecordArrival(now);
      wake_worker = s.PopIdle();
      wake_timer = deadline && *deadline < s.timer_wake && (s.may_delay || s.queue.size() > s.idle.size());
    }
  }
  switch (rejection) {
    case Rejection::kShuttingDown:
      return absl::UnavailableError(absl::StrCat("model ", request.model, " is shutting down"));
    case Rejection::kFull:
      return absl::UnavailableError(
          absl::StrCat("queue of model ", request.model, " is full (", s.queue.capacity(), " requests)"));
    case Rejection::kNone:
      break;
  }
  if (run_inline) {
    s.RunInline(*run_inline, {std::move(request), std::move(done), now, std::move(key)});
    return absl::OkStatus();
  }
  if (wake_worker) s.slots[*wake_worker].cv.notify_one();
  if (wake_timer) s.timer_cv.notify_one();
  return absl::OkStatus();
}

void Scheduler::Shutdown(bool drain) { state_->Shutdown(drain); }

size_t Scheduler::queue_depth() const {
  std::lock_guard lock(state_->mu);
  return state_->queue.size();
}

size_t Scheduler::busy_instances() const {
  std::lock_guard lock(state_->mu);
  return state_->busy;
}

size_t Scheduler::instance_count() const { return state_->instances.size(); }

}  // namespace peregrine::serving
