// Scheduler: one bounded FIFO (RequestQueue), one worker thread per instance, one deadline timer thread.
//
// Threads and the lock. `mu` guards the queue and the counters. Workers sleep on `work_cv`; Submit
// wakes one only when one is waiting, so a request that finds an idle instance costs exactly one
// wake-up and nothing polls. The timer sleeps on `timer_cv` until the earliest queued deadline and
// completes expired requests; Submit wakes it only when the new deadline is earlier than the one it
// sleeps until and the request will actually wait (more queued requests than idle workers) - a request
// that an idle worker picks at once is checked against its deadline at pick time instead, which saves
// the timer's wake-up on the fast path. Callbacks always run outside `mu`.
//
// Shape of a worker: TakeWork() (the only place that decides what runs next) -> complete the requests
// it dropped -> Execute(). Dynamic batching changes TakeWork to gather several requests and Execute to
// concatenate them into one Run; the rest stays.
#include "serving/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "serving/request_queue.h"

namespace peregrine::serving {

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

// Moves the instance's outputs into the response, filtered and ordered by request.outputs.
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

// What one worker does next: requests to run in one engine call, and requests found unrunnable on the
// way (cancelled, expired), which are completed without running. Reused across iterations so the
// vectors keep their capacity.
struct Work {
  std::vector<PendingRequest> run;
  std::vector<std::pair<PendingRequest, absl::Status>> dropped;
  Clock::time_point picked;
  std::vector<Tensor> engine_inputs;  // scratch for Execute
  bool holds_instance = false;        // `run` was non-empty: counted in busy until the next TakeWork
};

}  // namespace

struct Scheduler::State {
  State(std::vector<std::unique_ptr<ModelInstance>> instances_in, SchedulerOptions options_in)
      : instances(std::move(instances_in)), options(options_in), queue(options.max_queue_size) {}

  bool TakeWork(Work& work);
  void Execute(ModelInstance& instance, Work& work);
  void RunOne(ModelInstance& instance, PendingRequest& pending, Work& work);
  void WorkerLoop(ModelInstance& instance);
  void TimerLoop();
  void Shutdown(bool drain);

  const std::vector<std::unique_ptr<ModelInstance>> instances;
  const SchedulerOptions options;

  mutable std::mutex mu;
  std::condition_variable work_cv;   // workers: the queue is not empty, or shutting down
  std::condition_variable timer_cv;  // timer: an earlier deadline arrived, or stop
  RequestQueue queue;                // guarded by mu
  bool accepting = true;             // guarded by mu
  bool timer_stop = false;           // guarded by mu
  size_t idle_workers = 0;           // guarded by mu: workers waiting on work_cv
  size_t busy = 0;                   // guarded by mu
  // When the timer will look at the queue next: max() while it sleeps without a deadline, min() while
  // it is awake (it re-reads the queue before sleeping, so it needs no wake-up). Guarded by mu.
  Clock::time_point timer_wake = Clock::time_point::min();

  std::vector<std::thread> workers;
  std::thread timer;
  std::mutex join_mu;  // serializes joining when Shutdown runs on several threads
};

// Blocks until there is work or the scheduler has stopped and drained (returns false). Pops requests
// in arrival order, setting aside cancelled and expired ones, until it has one to run.
bool Scheduler::State::TakeWork(Work& work) {
  std::unique_lock lock(mu);
  if (work.holds_instance) {
    --busy;
    work.holds_instance = false;
  }
  while (queue.empty()) {
    if (!accepting) return false;
    ++idle_workers;
    work_cv.wait(lock);
    --idle_workers;
  }
  const Clock::time_point now = Clock::now();
  while (!queue.empty()) {
    PendingRequest pending = queue.PopFront();
    const InferenceRequest& request = pending.request;
    if (request.cancelled && request.cancelled->cancelled()) {
      absl::Status status = Cancelled(pending);
      work.dropped.emplace_back(std::move(pending), std::move(status));
    } else if (request.deadline && *request.deadline <= now) {
      absl::Status status = TimedOut(pending, now);
      work.dropped.emplace_back(std::move(pending), std::move(status));
    } else {
      work.run.push_back(std::move(pending));
      break;
    }
  }
  work.picked = now;
  if (!work.run.empty()) {
    ++busy;
    work.holds_instance = true;
  }
  return true;
}

void Scheduler::State::RunOne(ModelInstance& instance, PendingRequest& pending, Work& work) {
  InferenceResult result;
  RequestTimings& timings = result.timings;
  timings.queue_ns = Nanos(work.picked - pending.enqueued);
  timings.batch_size = 1;

  const Clock::time_point t0 = Clock::now();
  work.engine_inputs.clear();
  for (const InferenceInput& input : pending.request.inputs) work.engine_inputs.push_back(input.tensor);
  const Clock::time_point t1 = Clock::now();
  // Fresh output tensors every time: the engine writes into tensors that fit, and the previous ones
  // now belong to an earlier response.
  std::vector<Tensor> outputs;
  absl::Status status = RunInstance(instance, work.engine_inputs, outputs, pending.request.model);
  const Clock::time_point t2 = Clock::now();
  if (status.ok()) status = FillOutputs(instance.outputs(), pending.request, outputs, result.response);
  if (!status.ok()) result.response.outputs.clear();
  const Clock::time_point t3 = Clock::now();

  timings.compute_input_ns = Nanos(t1 - t0);
  timings.compute_infer_ns = Nanos(t2 - t1);
  timings.compute_output_ns = Nanos(t3 - t2);
  result.status = std::move(status);
  Complete(pending, std::move(result));
  work.engine_inputs.clear();
}

// Until dynamic batching, TakeWork hands out one request at a time; batching replaces this loop with
// concatenate -> one Run -> split when work.run holds several.
void Scheduler::State::Execute(ModelInstance& instance, Work& work) {
  for (PendingRequest& pending : work.run) RunOne(instance, pending, work);
}

void Scheduler::State::WorkerLoop(ModelInstance& instance) {
  Work work;
  while (TakeWork(work)) {
    for (auto& [pending, status] : work.dropped) Fail(pending, std::move(status), work.picked);
    work.dropped.clear();
    if (!work.run.empty()) Execute(instance, work);
    work.run.clear();
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
  work_cv.notify_all();
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

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(std::vector<std::unique_ptr<ModelInstance>> instances,
                                                             SchedulerOptions options) {
  if (instances.empty()) return absl::InvalidArgumentError("a scheduler needs at least one model instance");
  for (const auto& instance : instances) {
    if (instance == nullptr) return absl::InvalidArgumentError("a scheduler was given a null model instance");
  }
  if (options.max_queue_size == 0) return absl::InvalidArgumentError("max_queue_size must be greater than 0");
  if (options.default_timeout.count() < 0) return absl::InvalidArgumentError("default_timeout must not be negative");

  auto state = std::make_unique<State>(std::move(instances), options);
  State* s = state.get();
  try {
    s->workers.reserve(s->instances.size());
    for (const auto& instance : s->instances) {
      ModelInstance* raw = instance.get();
      s->workers.emplace_back([s, raw] { s->WorkerLoop(*raw); });
    }
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
  enum class Rejection { kNone, kShuttingDown, kFull } rejection = Rejection::kNone;
  bool wake_worker = false;
  bool wake_timer = false;
  {
    std::lock_guard lock(s.mu);
    if (!s.accepting) {
      rejection = Rejection::kShuttingDown;
    } else if (s.queue.full()) {
      rejection = Rejection::kFull;
    } else {
      s.queue.Push({std::move(request), std::move(done), now});
      wake_worker = s.idle_workers > 0;
      wake_timer = deadline && *deadline < s.timer_wake && s.queue.size() > s.idle_workers;
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
  if (wake_worker) s.work_cv.notify_one();
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
