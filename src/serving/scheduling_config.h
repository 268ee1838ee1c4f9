// How a model's completed config.pbtxt becomes the way it runs: how many intra-op threads each instance
// gets, and the options of its scheduler (queue policy, dynamic batcher, warmed batch sizes, derived
// outputs). Pure functions of the config (and the machine's core count, passed in), so the loader stays
// short and the rules are tested on their own.
//
// Threads. Instances run concurrently, each on its own worker thread with its own OpenMP team of
// intra-op threads, so instances x threads is how many cores a busy model wants. The rule:
//   1. parameters { key: "intra_op_threads" value: { string_value: "N" } } in the model's config, else
//   2. the server's --threads-per-instance N (when > 0), else
//   3. derived: max(1, cores / instances) - instances x threads never exceeds the cores.
// 1 and 2 are the ways to oversubscribe on purpose; so is an instance count above the cores (each
// instance then gets one thread). The choice, and any oversubscription, is logged when the model loads.
// Trade-off (measured in docs/benchmarks.md, batching_compare): more instances overlap requests (and the
// HTTP work around them) but each runs slower; more threads per instance lower one request's latency but
// parallelize small ops poorly.
//
// Precision. parameters { key: "precision" value: { string_value: "bf16" } } asks for bfloat16 compute
// (engine/precision.h, docs/precision.md); "fp32", the default, is exact.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/precision.h"
#include "proto/model_config.pb.h"
#include "serving/derived_outputs.h"
#include "serving/scheduler.h"
#include "serving/warmup.h"

namespace peregrine::serving {

// The cores this process may run on (its CPU affinity mask; hardware_concurrency when unknown), >= 1.
int AvailableCores();

struct InstanceThreads {
  int threads = 1;           // intra-op threads per instance
  std::string source;        // "parameter intra_op_threads", "--threads-per-instance" or "cores / instances"
  bool oversubscribed = false;  // instances x threads > cores
};

// InvalidArgument when the intra_op_threads parameter is not an integer within 1..1024.
absl::StatusOr<InstanceThreads> ChooseInstanceThreads(const config::ModelConfig& config, int instances,
                                                      int server_threads_per_instance, int cores);

// The precision the config asks for; InvalidArgument for a value other than "fp32" or "bf16". The
// session may still run float32 where the CPU lacks native bfloat16 (Session::options() says).
absl::StatusOr<engine::Precision> RequestedPrecision(const config::ModelConfig& config);

// The scheduler options of a completed config:
//  - queue: dynamic_batching.default_queue_policy when batching, else queue_policy; a max_queue_size of
//    0 means `default_max_queue_size`.
//  - batching (only with a dynamic_batching block and max_batch_size > 0): max_batch_size, preferred
//    sizes, max_queue_delay_microseconds; the sizes warmed at load are 1, the preferred sizes and
//    max_batch_size, from the first row of the first warm-up sample (`samples`, in session input order).
//  - derived outputs: `derived` as given.
SchedulerOptions SchedulerOptionsFromConfig(const config::ModelConfig& config, size_t default_max_queue_size,
                                            const std::vector<WarmupSample>& samples,
                                            std::shared_ptr<const DerivedOutputs> derived);

// One line for the load log: instances, threads and why, batching settings, warmed sizes.
std::string DescribeScheduling(const std::string& model, int64_t version, int instances, int cores,
                               const InstanceThreads& threads, const SchedulerOptions& options);

}  // namespace peregrine::serving
