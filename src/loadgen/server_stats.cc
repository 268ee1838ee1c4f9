#include "loadgen/server_stats.h"

#include <simdjson.h>

#include "absl/strings/str_cat.h"

namespace peregrine::loadgen {
namespace {

uint64_t ReadNs(simdjson::dom::element stats, const char* key, const char* field) {
  uint64_t value = 0;
  if (stats[key][field].get(value) != simdjson::SUCCESS) return 0;
  return value;
}

}  // namespace

absl::StatusOr<StatsSnapshot> ParseStatistics(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) return absl::InvalidArgumentError("statistics: not JSON");
  simdjson::dom::array models;
  if (root["model_stats"].get(models) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("statistics: no model_stats array");
  }
  StatsSnapshot snapshot;
  for (simdjson::dom::element model : models) {
    simdjson::dom::element stats;
    if (model["inference_stats"].get(stats) != simdjson::SUCCESS) continue;
    uint64_t executions = 0;
    if (model["execution_count"].get(executions) == simdjson::SUCCESS) snapshot.execution_count += executions;
    snapshot.success_count += ReadNs(stats, "success", "count");
    snapshot.queue_ns += ReadNs(stats, "queue", "ns");
    snapshot.compute_input_ns += ReadNs(stats, "compute_input", "ns");
    snapshot.compute_infer_ns += ReadNs(stats, "compute_infer", "ns");
    snapshot.compute_output_ns += ReadNs(stats, "compute_output", "ns");
  }
  return snapshot;
}

absl::StatusOr<StatsSnapshot> FetchStatistics(const Endpoint& endpoint, const std::string& model_path) {
  ASSIGN_OR_RETURN(HttpReply reply, HttpGet(endpoint, model_path + "/stats"));
  if (reply.status != 200) return absl::NotFoundError(absl::StrCat("statistics: HTTP ", reply.status));
  return ParseStatistics(reply.body);
}

ServerSplit Difference(const StatsSnapshot& before, const StatsSnapshot& after) {
  ServerSplit split;
  if (after.success_count <= before.success_count) return split;
  const double n = static_cast<double>(after.success_count - before.success_count);
  split.present = true;
  split.requests = after.success_count - before.success_count;
  if (after.execution_count > before.execution_count) split.executions = after.execution_count - before.execution_count;
  split.queue_ns = static_cast<double>(after.queue_ns - before.queue_ns) / n;
  split.compute_input_ns = static_cast<double>(after.compute_input_ns - before.compute_input_ns) / n;
  split.compute_infer_ns = static_cast<double>(after.compute_infer_ns - before.compute_infer_ns) / n;
  split.compute_output_ns = static_cast<double>(after.compute_output_ns - before.compute_output_ns) / n;
  return split;
}

}  // namespace peregrine::loadgen
