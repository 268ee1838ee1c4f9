// Model: one loaded version of a model from the repository - its completed configuration, the
// signature clients see, its scheduler with warmed-up instances, and its statistics.
//
// Infer() checks a request against the model (request_validation.h) and hands it to the scheduler;
// the callback sees the result after statistics and metrics are recorded. A model whose config has a
// `generation` block also has a GenerationService (text generation with continuous batching).
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "metrics/metrics.h"
#include "proto/model_config.pb.h"
#include "serving/generation_service.h"
#include "serving/inference.h"
#include "serving/scheduler.h"

namespace peregrine::serving {

// Triton's statistics extension, per model version. Durations are cumulative nanoseconds.
struct ModelStatistics {
  struct Duration {
    uint64_t count = 0;
    uint64_t ns = 0;
  };
  uint64_t last_inference_ms = 0;  // wall clock, milliseconds since the epoch; 0 before the first
  uint64_t inference_count = 0;    // successful inferences (batch rows)
  uint64_t execution_count = 0;    // engine runs
  Duration success, fail, queue, compute_input, compute_infer, compute_output;
};

struct ModelSpec {
  std::string name;
  int64_t version = 0;
  std::filesystem::path path;       // the .onnx file
  config::ModelConfig config;       // completed
  std::string provider;             // chosen execution provider
  std::vector<engine::TensorInfo> inputs;   // of the engine session
  std::vector<engine::TensorInfo> outputs;
};

class Model {
 public:
  Model(ModelSpec spec, std::unique_ptr<Scheduler> scheduler, metrics::Registry* metrics,
        std::unique_ptr<GenerationService> generation = nullptr);
  ~Model();  // drains the scheduler and the generation service

  const ModelSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  int64_t version() const { return spec_.version; }
  const config::ModelConfig& config() const { return spec_.config; }

  // Validation errors are returned (done not called), as are Unavailable (queue full). Otherwise done
  // is called exactly once.
  absl::Status Infer(InferenceRequest request, InferenceCallback done);

  // Null when the config has no `generation` block.
  GenerationService* generation() const { return generation_.get(); }

  // Submits a generation (generation() must not be null) as GenerationService::Submit does, and counts
  // it in statistics() like an inference: success or fail with its whole time, queue until it joined
  // the decode batch, compute_infer the rest; one inference per request (its steps are shared with
  // other requests, so they add no executions). A refused request counts as fail.
  absl::Status Generate(GenerationRequest request, GenerationCallbacks callbacks);
  // Counts a generate request refused before Generate (e.g. a malformed body) as fail.
  void CountInvalidGeneration(Clock::time_point received);

  ModelStatistics statistics() const;
  size_t queue_depth() const { return scheduler_->queue_depth(); }

  // Stops accepting; `drain` runs what is queued first.
  void Shutdown(bool drain) {
    scheduler_->Shutdown(drain);
    if (generation_) generation_->Shutdown(drain);
  }

 private:
  struct Stats;
  struct Metrics;
  void Record(const InferenceResult& result, Clock::time_point received);
  void RecordGeneration(const GenerationResult& result);

  ModelSpec spec_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<GenerationService> generation_;
  std::unique_ptr<Stats> stats_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace peregrine::serving
