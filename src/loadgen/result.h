// What `peregrine bench` measures: counters and latencies of measurement windows, load levels and runs.
//
// Latencies are nanoseconds of successful (2xx) responses, measured from when the request was due: the send
// time in closed loop, the scheduled arrival time in open loop (so time spent waiting for a free connection
// counts, and a stalled server cannot hide behind a slowed-down client - no coordinated omission).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/histogram.h"

namespace peregrine::loadgen {

// How every request ended. A request is counted once, in the window in which it finished.
struct Counters {
  static constexpr size_t kStatusCodes = 600;
  uint64_t scheduled = 0;          // open loop: arrivals that fell due
  uint64_t sent = 0;               // requests started on a connection
  uint64_t responses = 0;          // complete HTTP responses, any status
  uint64_t success = 0;            // 2xx responses
  uint64_t timeouts = 0;           // no complete response within the timeout (open loop: counted from the due time)
  uint64_t connection_errors = 0;  // connect refused, reset, closed mid-response, unparsable response
  uint64_t dropped = 0;            // open loop: due while the backlog of waiting requests was full; never sent
  uint64_t connects = 0;           // connections opened (keep-alive: ideally one per connection and run)
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::array<uint64_t, kStatusCodes> by_status{};  // responses by HTTP status code

  void Add(const Counters& other);
  uint64_t finished() const { return responses + timeouts + connection_errors + dropped; }
  uint64_t errors() const { return finished() - success; }
  double error_rate() const { return finished() ? static_cast<double>(errors()) / static_cast<double>(finished()) : 0.0; }
};

// Errors by kind with stable names, for tables and files: "http_503", "timeout", "connection", "dropped".
std::vector<std::pair<std::string, uint64_t>> ErrorsByKind(const Counters& counters);

struct WindowResult {
  double duration_s = 0;
  Counters counters;
  LatencyHistogram latency;
};

struct Percentiles {
  double min = 0, mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;  // ns
};
Percentiles PercentilesOf(const LatencyHistogram& histogram);

// The server's own view over the measurement (difference of two GET .../stats snapshots): mean time per
// successful request spent queued and computing, as Triton's statistics extension reports them.
struct ServerSplit {
  bool present = false;
  uint64_t requests = 0;  // successful inferences the server counted
  uint64_t executions = 0;  // engine calls it made for them (0 when it does not report them)
  double queue_ns = 0;
  double compute_input_ns = 0;
  double compute_infer_ns = 0;
  double compute_output_ns = 0;
  double compute_ns() const { return compute_input_ns + compute_infer_ns + compute_output_ns; }
};

struct LevelResult {
  double level = 0;            // concurrency (closed loop) or offered requests/s (open loop)
  int windows = 0;             // measurement windows run
  int windows_used = 0;        // the last, stable ones (all of them when the level never settled)
  bool stable = false;
  double duration_s = 0;       // of the windows used
  Counters counters;           // of the windows used
  LatencyHistogram latency;    // of the windows used
  Percentiles latency_ns;
  double throughput = 0;       // successful responses per second
  double offered_rate = 0;     // open loop: arrivals per second actually scheduled
  ServerSplit server;
  bool passed = true;          // against the ramp limits
  std::string verdict;         // why it failed, or "ok"
};

struct BenchResult {
  std::vector<std::pair<std::string, std::string>> settings;  // what was run, for the reports
  std::string mode;                                           // "concurrency" or "rate"
  bool ramp = false;
  std::vector<LevelResult> levels;
  int last_good = -1;          // index into levels of the last level that passed; -1 when none did
  std::string stop_reason;     // why the run stopped where it did
  Counters totals;             // every request of the run, warm-up and drain included
  double elapsed_s = 0;
};

}  // namespace peregrine::loadgen
