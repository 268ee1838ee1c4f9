// The server's own account of where request time went, from Triton's statistics extension
// (GET /v2/models/{m}[/versions/{v}]/stats). Snapshots are cumulative; the split over a measurement is the
// difference of two, divided by the successful requests in between.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "loadgen/result.h"
#include "loadgen/sync_http.h"

namespace peregrine::loadgen {

struct StatsSnapshot {
  uint64_t success_count = 0;
  uint64_t execution_count = 0;  // engine calls: fewer than successes when the server batches
  uint64_t queue_ns = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

// Sums inference_stats over every entry of model_stats (all versions when none was named).
absl::StatusOr<StatsSnapshot> ParseStatistics(const std::string& json);

// Fetches and parses; an error when the server has no statistics endpoint or answers with an error.
absl::StatusOr<StatsSnapshot> FetchStatistics(const Endpoint& endpoint, const std::string& model_path);

// Mean per successful request between the two snapshots; present only when requests were counted.
ServerSplit Difference(const StatsSnapshot& before, const StatsSnapshot& after);

}  // namespace peregrine::loadgen
