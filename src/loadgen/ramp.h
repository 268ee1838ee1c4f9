// The ramp-until-failure rule: a level fails when its error rate, latency or (open loop) delivered rate
// crosses a limit; a ramp stops at the first failing level and reports the one before it as the last good.
//
// Error rate: every request that did not end in a 2xx response (HTTP errors, timeouts, connection errors,
// dropped arrivals) over all that finished. Latency: p99 of successful responses against the SLO (0: none).
// Delivered rate (open loop only): requests finished over arrivals scheduled during the measurement must be
// at least min_delivered_ratio - below it the server (or the client) is not keeping up with the offered load.
// A shortfall of fewer than kMinShortfall requests is not judged: at low rates and long latencies the
// requests still in flight when a window ends are a large share of a small count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/result.h"

namespace peregrine::loadgen {

inline constexpr uint64_t kMinShortfall = 10;

struct RampLimits {
  double max_error_rate = 0.01;
  int64_t slo_p99_ns = 0;
  double min_delivered_ratio = 0.9;
};

struct Verdict {
  bool passed = true;
  std::string reason;  // "ok", or which limit was crossed and by how much
};

Verdict JudgeLevel(const LevelResult& level, bool open_loop, const RampLimits& limits);

// Index of the last passing level before the first failing one (-1 if the first failed). Without a failure,
// the last level.
int LastGoodLevel(const std::vector<LevelResult>& levels);

}  // namespace peregrine::loadgen
