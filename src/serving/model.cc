#include "serving/model.h"

#include <chrono>
#include <utility>

#include "serving/request_validation.h"

namespace peregrine::serving {
namespace {

int64_t ElapsedNs(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

uint64_t WallClockMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Prometheus label value of a request's outcome.
const char* Outcome(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return "success";
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound: return "invalid";
    case absl::StatusCode::kUnavailable: return "rejected";
    case absl::StatusCode::kDeadlineExceeded: return "timeout";
    case absl::StatusCode::kCancelled: return "cancelled";
    default: return "error";
  }
}

constexpr const char* kOutcomes[] = {"success", "invalid", "rejected", "timeout", "cancelled", "error"};

}  // namespace

struct Model::Stats {
  struct Duration {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
    void Add(int64_t elapsed_ns) {
      count.fetch_add(1, std::memory_order_relaxed);
      ns.fetch_add(static_cast<uint64_t>(elapsed_ns < 0 ? 0 : elapsed_ns), std::memory_order_relaxed);
    }
    ModelStatistics::Duration Read() const { return {count.load(), ns.load()}; }
  };
  std::atomic<uint64_t> last_inference_ms{0};
  std::atomic<uint64_t> inference_count{0};
  std::atomic<uint64_t> execution_count{0};
  Duration success, fail, queue, compute_input, compute_infer, compute_output;
};

struct Model::Metrics {
  metrics::Counter* outcomes[std::size(kOutcomes)] = {};
  metrics::Histogram* total = nullptr;
  metrics::Histogram* queue = nullptr;
  metrics::Histogram* compute = nullptr;
  metrics::Histogram* batch_rows = nullptr;
  metrics::Gauge* in_flight = nullptr;
  std::unique_ptr<metrics::Registry::CallbackHandle> queue_depth;

  metrics::Counter& ForOutcome(const char* outcome) {
    for (size_t i = 0; i < std::size(kOutcomes); ++i) {
      if (std::string_view(kOutcomes[i]) == outcome) return *outcomes[i];
    }
    return *outcomes[std::size(kOutcomes) - 1];
  }
};

Model::Model(ModelSpec spec, std::unique_ptr<Scheduler> scheduler, metrics::Registry* registry,
             std::unique_ptr<GenerationService> generation)
    : spec_(std::move(spec)), scheduler_(std::move(scheduler)), generation_(std::move(generation)),
      stats_(std::make_unique<Stats>()),
      metrics_(std::make_unique<Metrics>()) {
  const metrics::Labels labels = {{"model", spec_.name}, {"version", std::to_string(spec_.version)}};
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    metrics::Labels with_outcome = labels;
    with_outcome.emplace_back("outcome", kOutcomes[i]);
    metrics_->outcomes[i] = &registry->GetCounter("peregrine_inference_requests_total",
                                                  "Inference requests by model, version and outcome.", with_outcome);
  }
  const std::vector<double> buckets = metrics::LatencyBuckets();
  metrics_->total = &registry->GetHistogram("peregrine_request_duration_seconds",
                                            "Time from receiving an inference request to its result.", labels, buckets);
  metrics_->queue = &registry->GetHistogram("peregrine_queue_duration_seconds",
                                            "Time inference requests waited for an instance.", labels, buckets);
  metrics_->compute = &registry->GetHistogram("peregrine_compute_duration_seconds",
                                              "Time instances spent on inference requests.", labels, buckets);
  metrics_->batch_rows = &registry->GetHistogram("peregrine_batch_rows", "Rows (requests' batches) per engine call.",
                                                 labels, {1, 2, 4, 8, 16, 32, 64, 128, 256});
  metrics_->in_flight = &registry->GetGauge("peregrine_inflight_requests",
                                            "Inference requests accepted and not yet answered.", labels);
  Scheduler* scheduler_ptr = scheduler_.get();
  metrics_->queue_depth = registry->AddCallbackGauge(
      "peregrine_queue_depth", "Inference requests waiting for an instance.", labels,
      [scheduler_ptr] { return static_cast<double>(scheduler_ptr->queue_depth()); });
}

Model::~Model() {
  metrics_->queue_depth.reset();  // before the scheduler it reads goes away
  scheduler_->Shutdown(/*drain=*/true);
  if (generation_) generation_->Shutdown(/*drain=*/true);
}

absl::Status Model::Infer(InferenceRequest request, InferenceCallback done) {
  const Clock::time_point received = request.received;
  absl::Status status = ValidateRequest(spec_.config, spec_.inputs, spec_.outputs, request);
  if (status.ok()) {
    request.model = spec_.name;
    request.version = spec_.version;
    metrics_->in_flight->Add(1);
    status = scheduler_->Submit(std::move(request), [this, received, done = std::move(done)](InferenceResult&& result) {
      Record(result, received);
      metrics_->in_flight->Add(-1);
      done(std::move(result));
    });
    if (!status.ok()) metrics_->in_flight->Add(-1);
  }
  if (!status.ok()) {
    metrics_->ForOutcome(Outcome(status)).Increment();
    stats_->fail.Add(ElapsedNs(received, Clock::now()));
  }
  return status;
}

void Model::Record(const InferenceResult& result, Clock::time_point received) {
  const int64_t total_ns = ElapsedNs(received, Clock::now());
  const RequestTimings& t = result.timings;
  metrics_->ForOutcome(Outcome(result.status)).Increment();
  metrics_->total->Observe(static_cast<double>(total_ns) * 1e-9);
  metrics_->queue->Observe(static_cast<double>(t.queue_ns) * 1e-9);
  if (!result.status.ok()) {
    stats_->fail.Add(total_ns);
    return;
  }
  const int64_t compute_ns = t.compute_input_ns + t.compute_infer_ns + t.compute_output_ns;
  metrics_->compute->Observe(static_cast<double>(compute_ns) * 1e-9);
  stats_->success.Add(total_ns);
  stats_->queue.Add(t.queue_ns);
  stats_->compute_input.Add(t.compute_input_ns);
  stats_->compute_infer.Add(t.compute_infer_ns);
  stats_->compute_output.Add(t.compute_output_ns);
  stats_->inference_count.fetch_add(1, std::memory_order_relaxed);
  if (t.counts_execution) {
    stats_->execution_count.fetch_add(1, std::memory_order_relaxed);
    metrics_->batch_rows->Observe(t.batch_size);
  }
  stats_->last_inference_ms.store(WallClockMs(), std::memory_order_relaxed);
}

absl::Status Model::Generate(GenerationRequest request, GenerationCallbacks callbacks) {
  const Clock::time_point received = request.received;
  GenerationCallbacks counted;
  counted.on_token = std::move(callbacks.on_token);
  counted.done = [this, done = std::move(callbacks.done)](GenerationResult&& result) {
    RecordGeneration(result);
    done(std::move(result));
  };
  absl::Status status = generation_->Submit(std::move(request), std::move(counted));
  if (!status.ok()) stats_->fail.Add(ElapsedNs(received, Clock::now()));
  return status;
}

void Model::CountInvalidGeneration(Clock::time_point received) {
  generation_->CountInvalid();
  stats_->fail.Add(ElapsedNs(received, Clock::now()));
}

void Model::RecordGeneration(const GenerationResult& result) {
  if (!result.status.ok()) {
    stats_->fail.Add(result.total_ns);
    return;
  }
  stats_->success.Add(result.total_ns);
  stats_->queue.Add(result.queue_ns);
  stats_->compute_infer.Add(result.total_ns - result.queue_ns);
  stats_->inference_count.fetch_add(1, std::memory_order_relaxed);
  stats_->last_inference_ms.store(WallClockMs(), std::memory_order_relaxed);
}

ModelStatistics Model::statistics() const {
  ModelStatistics s;
  s.last_inference_ms = stats_->last_inference_ms.load();
  s.inference_count = stats_->inference_count.load();
  s.execution_count = stats_->execution_count.load();
  s.success = stats_->success.Read();
  s.fail = stats_->fail.Read();
  s.queue = stats_->queue.Read();
  s.compute_input = stats_->compute_input.Read();
  s.compute_infer = stats_->compute_infer.Read();
  s.compute_output = stats_->compute_output.Read();
  return s;
}

}  // namespace peregrine::serving
