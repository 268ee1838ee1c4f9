// When a load level's measurement has settled (the rule perf_analyzer uses, made explicit).
//
// A level is measured in windows of equal length. It is stable once the last `consecutive` windows agree
// on both median latency and throughput: for each of the two, max <= (1 + tolerance) * min over those
// windows. Measuring stops when stable or after `max_windows` windows, whichever comes first; the level is
// then summarised over the last `consecutive` windows (or all of them when it never settled).
#pragma once

#include <cstddef>
#include <vector>

namespace peregrine::loadgen {

struct StabilityOptions {
  double tolerance = 0.10;
  int consecutive = 3;
  int max_windows = 10;
};

struct WindowSummary {
  double throughput = 0;  // responses per second
  double p50_ns = 0;      // median latency of successful responses (0 when there were none)
};

// True when the last options.consecutive windows (there must be that many) agree within the tolerance.
bool IsStable(const std::vector<WindowSummary>& windows, const StabilityOptions& options);

// Whether to run another window after these: not when stable, not at max_windows.
bool NeedAnotherWindow(const std::vector<WindowSummary>& windows, const StabilityOptions& options);

// How many of the trailing windows summarise the level.
size_t WindowsToUse(const std::vector<WindowSummary>& windows, const StabilityOptions& options);

}  // namespace peregrine::loadgen
