#include "loadgen/ramp.h"

#include "absl/strings/str_format.h"
#include "loadgen/levels.h"

namespace peregrine::loadgen {

Verdict JudgeLevel(const LevelResult& level, bool open_loop, const RampLimits& limits) {
  const Counters& c = level.counters;
  const double error_rate = c.error_rate();
  if (c.finished() == 0) return {false, "no request finished"};
  if (error_rate > limits.max_error_rate) {
    return {false, absl::StrFormat("error rate %.2f%% > %.2f%%", 100 * error_rate, 100 * limits.max_error_rate)};
  }
  if (limits.slo_p99_ns > 0 && level.latency_ns.p99 > static_cast<double>(limits.slo_p99_ns)) {
    return {false, absl::StrFormat("p99 %s > SLO %s", FormatDurationNs(level.latency_ns.p99),
                                   FormatDurationNs(static_cast<double>(limits.slo_p99_ns)))};
  }
  if (open_loop && c.scheduled >= c.finished() + kMinShortfall) {
    const double delivered = static_cast<double>(c.finished()) / static_cast<double>(c.scheduled);
    if (delivered < limits.min_delivered_ratio) {
      return {false, absl::StrFormat("delivered %.0f%% of the offered rate < %.0f%%", 100 * delivered,
                                     100 * limits.min_delivered_ratio)};
    }
  }
  return {true, "ok"};
}

int LastGoodLevel(const std::vector<LevelResult>& levels) {
  for (size_t i = 0; i < levels.size(); ++i) {
    if (!levels[i].passed) return static_cast<int>(i) - 1;
  }
  return static_cast<int>(levels.size()) - 1;
}

}  // namespace peregrine::loadgen
