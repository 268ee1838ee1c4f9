// Scheduler: runs the requests of one model version on a pool of instances, each a worker thread that
// owns one ModelInstance (an engine session), fed by one bounded queue.
//
// Contract:
//  - Submit() either rejects the request at once (queue full -> Unavailable, shutting down ->
//    Unavailable; `done` is NOT called) or accepts it, and then `done` is called exactly once.
//  - A request whose deadline passes while it is still queued - waiting for an instance or for batch
//    partners - is completed with DeadlineExceeded promptly (a timer, not the next free instance) and
//    never runs. A request already running finishes.
//  - A request whose cancellation flag is set before it is picked is completed with Cancelled and
//    never runs.
//  - Without batching, requests are picked in arrival order and each instance runs one request at a time.
//  - With dynamic batching (options.batching.max_batch_size > 0) an idle instance runs the oldest queued
//    request together with later requests of the same input dtypes and dims apart from the first (batch)
//    dimension - never others - concatenated along that dimension into one engine call of at most
//    max_batch_size rows; when it dispatches is batch_policy.h's DecideBatch. Each request gets exactly its
//    own rows of every output back. The engine call may be padded with zero rows up to a batch size whose
//    plan is compiled (EngineBatchRows); padding rows are never returned. An engine error fails every
//    request of the call with that error.
//  - Inline execution (options.inline_max_compute > 0, no batching): when nothing is queued, an instance
//    is idle and the model's recent mean compute time is at most inline_max_compute (and the request is
//    not much larger than recent ones), Submit runs the request itself on that instance, on the calling
//    thread, and `done` is called before Submit returns. For a model that computes in microseconds the
//    two thread hand-offs (to a worker and back) cost more than the model; the HTTP I/O thread that
//    decoded the request runs it and writes the response without waking anyone. An instance still runs
//    one request at a time.
//  - Shutdown(drain=true) stops accepting, runs everything already queued (without waiting for batch
//    partners), then joins the workers; drain=false fails queued requests with Unavailable. The
//    destructor drains.
//
// The scheduler trusts its input: request.inputs are already validated and ordered as the session's
// inputs (see request_validation.h). Outputs are the instance's outputs followed by the derived outputs
// (derived_outputs.h), filtered by request.outputs (all of them, binary per request.binary_outputs, when
// that is empty).
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/status.h"
#include "serving/derived_outputs.h"
#include "serving/inference.h"
#include "serving/model_instance.h"
#include "tensor/tensor.h"

namespace peregrine::serving {

// Triton's dynamic_batching block, resolved (see batching_config.h for how a model config maps here).
struct BatchingOptions {
  int max_batch_size = 0;  // rows per engine call; 0: no batching, each request runs as sent
  std::vector<int> preferred_batch_sizes;  // within 1..max_batch_size
  std::chrono::microseconds max_queue_delay{0};
  // Create() compiles and runs these batch sizes on every instance, from `warm_row` (one row of every
  // input, in instance input order) repeated, so that serving them never compiles. Nothing when warm_row
  // is empty.
  std::vector<int> warm_batch_sizes;
  std::vector<Tensor> warm_row;
  size_t max_compiled_sizes = 8;  // per instance and input shape; see EngineBatchRows
};

struct SchedulerOptions {
  size_t max_queue_size = 256;  // requests waiting (not running); must be > 0
  // Applied to requests without a deadline; zero means none.
  std::chrono::microseconds default_timeout{0};
  BatchingOptions batching;
  std::shared_ptr<const DerivedOutputs> derived_outputs;  // may be null
  // Requests of a model whose mean compute time (input copy and engine call) is at most this run
  // on the submitting thread when an instance is idle; zero: never. Ignored with dynamic batching.
  std::chrono::microseconds inline_max_compute{0};
};

class Scheduler {
 public:
  // Takes the instances (at least one, all of the same model), warms the batch sizes of
  // options.batching on each (InvalidArgument naming the size when that fails) and starts a worker
  // thread for each.
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
