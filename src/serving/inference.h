// The request and response of one inference, as they travel from the protocol codec through a model's
// scheduler to an instance and back. Protocol-neutral: the HTTP/KServe layer fills them in, gRPC could too.
//
// Ownership: tensors in a request either own their data or borrow it from `keep_alive` (the received
// body, for binary tensor data), which the request holds until it is completed. Output tensors own
// their data.
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
#include "tensor/tensor.h"

namespace peregrine::serving {

using Clock = std::chrono::steady_clock;

// A request parameter value (KServe parameters are bool, int64, double or string).
struct Parameter {
  enum class Kind { kBool, kInt, kDouble, kString } kind = Kind::kString;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0;
  std::string string_value;
};
using Parameters = std::vector<std::pair<std::string, Parameter>>;

struct InferenceInput {
  std::string name;
  Tensor tensor;  // dtype and shape as sent by the client
};

struct RequestedOutput {
  std::string name;
  bool binary = false;  // return this output as binary tensor data
};

struct InferenceRequest {
  std::string id;              // echoed in the response; may be empty
  std::string model;
  int64_t version = 0;         // 0: the highest ready version
  std::vector<InferenceInput> inputs;
  // Empty: every output of the model, binary when `binary_outputs` is set.
  std::vector<RequestedOutput> outputs;
  bool binary_outputs = false;
  Parameters parameters;       // request-level parameters other than the ones decoded above
  std::optional<Clock::time_point> deadline;  // drop with DeadlineExceeded when still queued then
  std::shared_ptr<CancellationFlag> cancelled;  // may be null; schedulers drop a cancelled request
  std::shared_ptr<const void> keep_alive;       // backs borrowed input tensors
  Clock::time_point received = Clock::now();
};

struct InferenceOutput {
  std::string name;
  Tensor tensor;
  bool binary = false;
};

struct InferenceResponse {
  std::string id;
  std::string model;
  int64_t version = 0;
  std::vector<InferenceOutput> outputs;
  Parameters parameters;
};

// Where the time of one request went, in nanoseconds (Triton's statistics split).
struct RequestTimings {
  int64_t queue_ns = 0;           // enqueued -> picked by an instance
  int64_t compute_input_ns = 0;   // preparing the engine inputs
  int64_t compute_infer_ns = 0;   // engine Run
  int64_t compute_output_ns = 0;  // gathering outputs into the response
  int batch_size = 1;             // requests (or batch rows) that shared this engine call
  bool counts_execution = true;   // exactly one request of a shared engine call counts it
};

struct InferenceResult {
  absl::Status status;             // OK, or why the request failed (see common/status.h codes)
  InferenceResponse response;      // meaningful only when status is OK
  RequestTimings timings;
};

// Called exactly once per accepted request, on a scheduler thread (or the submitting thread for a
// request rejected before queueing). Must not block for long.
using InferenceCallback = std::function<void(InferenceResult&&)>;

}  // namespace peregrine::serving
