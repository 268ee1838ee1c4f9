// Per-step timing for `--profile`: one event per executed plan step, written as Chrome trace-event
// JSON (chrome://tracing, Perfetto). Recording is bounded so a long run cannot exhaust memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace peregrine::engine {

struct Profiler {
  struct Event {
    const std::string* op_type;  // point into the plan's steps, which outlive the profile
    const std::string* name;
    const std::string* shapes;
    int64_t start_ns;
    int64_t duration_ns;
    int run;
  };
  static constexpr size_t kMaxEvents = 1 << 20;

  std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
  std::vector<Event> events;
  int runs = 0;

  int64_t NowNanos() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin).count();
  }
  absl::Status WriteChromeTrace(const std::string& path) const;
};

}  // namespace peregrine::engine
