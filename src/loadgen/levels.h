// Parsing of `peregrine bench` load levels and durations.
//
// Levels: a comma-separated list of items, each a number ("16") or a range "start:stop:step" (stop
// included when it falls on a step; "start:stop" steps by 1). The last item may leave the stop out,
// "50::50", for an open-ended ramp: LevelList::open_ended is then set and Level(i) keeps stepping.
// Numbers must be positive; integer_only (concurrency) rejects fractions.
//
// Durations: a number with a unit - "250ms", "2s", "1.5s", "500us", "1m"; a bare number is milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace peregrine::loadgen {

struct LevelList {
  std::vector<double> values;  // the listed levels, in order
  bool open_ended = false;     // after values.back(), keep adding `step`
  double step = 0;

  // The i-th level; beyond the list, for an open-ended list, values.back() + k * step; else 0.
  double Level(size_t i) const;
  bool Has(size_t i) const { return i < values.size() || open_ended; }
};

absl::StatusOr<LevelList> ParseLevels(const std::string& spec, bool integer_only);

absl::StatusOr<int64_t> ParseDurationNs(const std::string& text);

// "1.25 ms", "830 us", "2.0 s": a short human form of a duration in nanoseconds.
std::string FormatDurationNs(double ns);

}  // namespace peregrine::loadgen
