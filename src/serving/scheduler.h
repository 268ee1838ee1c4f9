// Scheduler: runs the requests of one model version on a pool of instances, each a worker thread that
// owns one ModelInstance (an engine session), fed by one bounded FIFO queue.
//
// Contract:
//  - Submit() either rejects the request at once (queue full -> Unavailable, shutting down ->
//    Unavailable; `done` is NOT called) or accepts it, and then `done` is called exactly once.
//  - A request whose deadline passes while it is still queued is completed with DeadlineExceeded
//    promptly (a timer, not the next free instance) and never runs. A request already running finishes.
//  - A request whose cancellation flag is set before it is picked is completed with Cancelled and
//    never runs.
//  - Requests are picked in arrival order. Each instance runs one request at a time.
//  - Shutdown(drain=true) stops accepting, runs everything already queued, then joins the workers;
//    drain=false fails queued requests with Unavailable. The destructor drains.
//
// The scheduler trusts its input: request.inputs are already validated and ordered as the session's
// inputs (see request_validation.h). Outputs are the instance's outputs filtered by request.outputs
// (all of them, binary per request.binary_outputs, when that is empty).
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/status.h"
#include "serving/inference.h"
#include "serving/model_instance.h"

namespace peregrine::serving {

struct SchedulerOptions {
  size_t max_queue_size = 256;  // requests waiting (not running); must be > 0
  // Applied to requests without a deadline; zero means none.
  std::chrono::microseconds default_timeout{0};
};

class Scheduler {
 public:
  // Takes the instances (at least one, all of the same model) and starts a worker thread for each.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(std::vector<std::unique_ptr<ModelInstance>> instances,
                                                           SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  absl::Status Submit(InferenceRequest request, InferenceCallback done);

  void Shutdown(bool drain);

  size_t queue_depth() const;     // accepted, not yet picked
  size_t busy_instances() const;  // instances running a request now
  size_t instance_count() const;

 private:
  struct State;
  explicit Scheduler(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace peregrine::serving
