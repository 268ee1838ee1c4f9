// Threads per instance and scheduler options from a model's config; the rules are in scheduling_config.h.
#include "serving/scheduling_config.h"

#include <sched.h>

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace peregrine::serving {
namespace {

constexpr char kIntraOpThreads[] = "intra_op_threads";
constexpr char kPrecision[] = "precision";

// The queue policy in force: the dynamic batcher's when there is one, else Peregrine's queue_policy.
const config::ModelQueuePolicy& QueuePolicy(const config::ModelConfig& config) {
  return config.has_dynamic_batching() ? config.dynamic_batching().default_queue_policy() : config.queue_policy();
}

// Row 0 of every input of the first warm-up sample; empty when there is none.
std::vector<Tensor> FirstRow(const std::vector<WarmupSample>& samples) {
  std::vector<Tensor> row;
  if (samples.empty()) return row;
  for (const Tensor& t : samples.front().inputs) {
    if (t.rank() == 0 || t.shape()[0] < 1 || t.dtype() == DataType::kString) return {};
    Shape shape = t.shape();
    shape[0] = 1;
    Tensor one = Tensor::Zeros(t.dtype(), shape);
    std::copy_n(static_cast<const char*>(t.data()), one.byte_size(), static_cast<char*>(one.data()));
    row.push_back(std::move(one));
  }
  return row;
}

}  // namespace

int AvailableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

absl::StatusOr<InstanceThreads> ChooseInstanceThreads(const config::ModelConfig& config, int instances,
                                                      int server_threads_per_instance, int cores) {
  instances = std::max(1, instances);
  cores = std::max(1, cores);
  InstanceThreads choice;
  auto it = config.parameters().find(kIntraOpThreads);
  if (it != config.parameters().end()) {
    int threads = 0;
    if (!absl::SimpleAtoi(it->second.string_value(), &threads) || threads < 1 || threads > 1024) {
      return absl::InvalidArgumentError(absl::StrCat("parameters[\"", kIntraOpThreads, "\"]: '",
                                                     it->second.string_value(), "' is not a thread count (1..1024)"));
    }
    choice.threads = threads;
    choice.source = absl::StrCat("parameter ", kIntraOpThreads);
  } else if (server_threads_per_instance > 0) {
    choice.threads = server_threads_per_instance;
    choice.source = "--threads-per-instance";
  } else {
    choice.threads = std::max(1, cores / instances);
    choice.source = "cores / instances";
  }
  choice.oversubscribed = static_cast<long>(instances) * choice.threads > cores;
  return choice;
}

absl::StatusOr<engine::Precision> RequestedPrecision(const config::ModelConfig& config) {
  auto it = config.parameters().find(kPrecision);
  if (it == config.parameters().end()) return engine::Precision::kFloat32;
  absl::StatusOr<engine::Precision> precision = engine::ParsePrecision(it->second.string_value());
  if (!precision.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("parameters[\"", kPrecision, "\"]: ", precision.status().message()));
  }
  return *precision;
}

SchedulerOptions SchedulerOptionsFromConfig(const config::ModelConfig& config, size_t default_max_queue_size,
                                            const std::vector<WarmupSample>& samples,
                                            std::shared_ptr<const DerivedOutputs> derived) {
  SchedulerOptions options;
  const config::ModelQueuePolicy& policy = QueuePolicy(config);
  options.max_queue_size = policy.max_queue_size() > 0 ? policy.max_queue_size() : default_max_queue_size;
  options.default_timeout = std::chrono::microseconds(policy.default_timeout_microseconds());
  options.derived_outputs = std::move(derived);
  if (!config.has_dynamic_batching() || config.max_batch_size() <= 0) return options;

  const config::ModelDynamicBatching& dynamic = config.dynamic_batching();
  BatchingOptions& batching = options.batching;
  batching.max_batch_size = config.max_batch_size();
  batching.preferred_batch_sizes.assign(dynamic.preferred_batch_size().begin(), dynamic.preferred_batch_size().end());
  batching.max_queue_delay = std::chrono::microseconds(dynamic.max_queue_delay_microseconds());
  std::set<int> warm = {1, config.max_batch_size()};
  warm.insert(batching.preferred_batch_sizes.begin(), batching.preferred_batch_sizes.end());
  batching.warm_batch_sizes.assign(warm.begin(), warm.end());
  batching.warm_row = FirstRow(samples);
  // Room for every warmed size and a few more; the engine's plan cache (16 plans) holds them all.
  batching.max_compiled_sizes = std::max<size_t>(8, warm.size());
  return options;
}

std::string DescribeScheduling(const std::string& model, int64_t version, int instances, int cores,
                               const InstanceThreads& threads, const SchedulerOptions& options) {
  std::string line = absl::StrCat("model '", model, "' version ", version, ": ", instances,
                                  instances == 1 ? " instance" : " instances", " x ", threads.threads,
                                  threads.threads == 1 ? " intra-op thread" : " intra-op threads", " on ", cores,
                                  cores == 1 ? " core" : " cores", " (", threads.source, ")");
  if (threads.oversubscribed) {
    absl::StrAppend(&line, ", oversubscribed: ", instances * threads.threads, " threads for ", cores,
                    " cores as configured");
  }
  const BatchingOptions& b = options.batching;
  if (b.max_batch_size > 0) {
    absl::StrAppend(&line, "; dynamic batching up to ", b.max_batch_size, " rows, preferred [",
                    absl::StrJoin(b.preferred_batch_sizes, ", "), "], max queue delay ", b.max_queue_delay.count(),
                    " us, plans warmed for batch sizes [",
                    b.warm_row.empty() ? "" : absl::StrJoin(b.warm_batch_sizes, ", "), "]");
  } else {
    absl::StrAppend(&line, "; no dynamic batching");
    if (options.inline_max_compute.count() > 0) {
      absl::StrAppend(&line, "; runs on the receiving thread while its mean compute time is at most ",
                      options.inline_max_compute.count(), " us");
    }
  }
  absl::StrAppend(&line, "; queue up to ", options.max_queue_size, " requests");
  if (options.derived_outputs) {
    for (const auto& info : options.derived_outputs->infos()) {
      absl::StrAppend(&line, "; derived output '", info.name, "'");
    }
  }
  return line;
}

}  // namespace peregrine::serving
