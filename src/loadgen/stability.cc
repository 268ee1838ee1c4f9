#include "loadgen/stability.h"

#include <algorithm>

namespace peregrine::loadgen {
namespace {

// max <= (1 + tolerance) * min; all-zero agrees (e.g. no successes at all), zero next to non-zero does not.
bool Agree(double lo, double hi, double tolerance) {
  if (hi <= 0) return true;
  if (lo <= 0) return false;
  return hi <= (1.0 + tolerance) * lo;
}

}  // namespace

bool IsStable(const std::vector<WindowSummary>& windows, const StabilityOptions& options) {
  const size_t n = static_cast<size_t>(std::max(options.consecutive, 1));
  if (windows.size() < n) return false;
  double lo_t = windows.back().throughput, hi_t = lo_t;
  double lo_p = windows.back().p50_ns, hi_p = lo_p;
  for (size_t i = windows.size() - n; i < windows.size(); ++i) {
    lo_t = std::min(lo_t, windows[i].throughput);
    hi_t = std::max(hi_t, windows[i].throughput);
    lo_p = std::min(lo_p, windows[i].p50_ns);
    hi_p = std::max(hi_p, windows[i].p50_ns);
  }
  return Agree(lo_t, hi_t, options.tolerance) && Agree(lo_p, hi_p, options.tolerance);
}

bool NeedAnotherWindow(const std::vector<WindowSummary>& windows, const StabilityOptions& options) {
  if (static_cast<int>(windows.size()) >= std::max(options.max_windows, 1)) return false;
  return !IsStable(windows, options);
}

size_t WindowsToUse(const std::vector<WindowSummary>& windows, const StabilityOptions& options) {
  if (IsStable(windows, options)) return static_cast<size_t>(std::max(options.consecutive, 1));
  return windows.size();
}

}  // namespace peregrine::loadgen
