// RunBench: the measurement loop of `peregrine bench`.
//
// For each load level (concurrency in closed loop, requests/s in open loop), in order:
//   1. start the load on every worker (connections or rate split evenly between them);
//   2. warm up for `warmup` (counted in the totals, not in the level);
//   3. measure windows of `window` until the stability rule (stability.h) is met or max_windows ran,
//      reading the server's statistics endpoint at each window boundary when it has one;
//   4. stop and drain (requests in flight finish or time out; totals only);
//   5. judge the level against the ramp limits (ramp.h). With `ramp`, the first failing level ends the run.
// An open-ended level list (e.g. 50::50) needs `ramp`, and stops at max_level at the latest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "loadgen/arrival_schedule.h"
#include "loadgen/levels.h"
#include "loadgen/ramp.h"
#include "loadgen/result.h"
#include "loadgen/stability.h"
#include "loadgen/sync_http.h"

namespace peregrine::loadgen {

struct BenchOptions {
  Endpoint endpoint;
  std::shared_ptr<const std::string> wire_request;  // WireRequest(): sent as is, every time
  std::string stats_path;                           // model path for GET .../stats; "" to skip
  bool open_loop = false;
  LevelList levels;
  ArrivalKind arrival = ArrivalKind::kConstant;
  uint64_t seed = 1;
  bool ramp = false;
  RampLimits limits;
  StabilityOptions stability;
  std::chrono::nanoseconds warmup{std::chrono::seconds(1)};
  std::chrono::nanoseconds window{std::chrono::seconds(2)};
  std::chrono::nanoseconds timeout{std::chrono::seconds(10)};
  int io_threads = 1;
  size_t max_connections = 256;  // open loop, all workers together
  double max_level = 1e6;        // safety stop for open-ended ramps
};

// Called on the controlling thread: after every window (level_done false, `level` holds the windows so far)
// and after each level (level_done true).
using ProgressCallback = std::function<void(const LevelResult& level, int window, bool level_done)>;

absl::StatusOr<BenchResult> RunBench(const BenchOptions& options, const ProgressCallback& progress);

}  // namespace peregrine::loadgen
