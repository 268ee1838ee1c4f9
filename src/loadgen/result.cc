#include "loadgen/result.h"

#include "absl/strings/str_cat.h"

namespace peregrine::loadgen {

void Counters::Add(const Counters& other) {
  scheduled += other.scheduled;
  sent += other.sent;
  responses += other.responses;
  success += other.success;
  timeouts += other.timeouts;
  connection_errors += other.connection_errors;
  dropped += other.dropped;
  connects += other.connects;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  for (size_t i = 0; i < kStatusCodes; ++i) by_status[i] += other.by_status[i];
}

std::vector<std::pair<std::string, uint64_t>> ErrorsByKind(const Counters& counters) {
  std::vector<std::pair<std::string, uint64_t>> kinds;
  for (size_t code = 0; code < Counters::kStatusCodes; ++code) {
    if (counters.by_status[code] != 0 && (code < 200 || code >= 300)) {
      kinds.emplace_back(absl::StrCat("http_", code), counters.by_status[code]);
    }
  }
  if (counters.timeouts) kinds.emplace_back("timeout", counters.timeouts);
  if (counters.connection_errors) kinds.emplace_back("connection", counters.connection_errors);
  if (counters.dropped) kinds.emplace_back("dropped", counters.dropped);
  return kinds;
}

Percentiles PercentilesOf(const LatencyHistogram& h) {
  Percentiles p;
  p.min = static_cast<double>(h.min());
  p.mean = h.mean();
  p.p50 = static_cast<double>(h.Percentile(0.50));
  p.p90 = static_cast<double>(h.Percentile(0.90));
  p.p95 = static_cast<double>(h.Percentile(0.95));
  p.p99 = static_cast<double>(h.Percentile(0.99));
  p.p999 = static_cast<double>(h.Percentile(0.999));
  p.max = static_cast<double>(h.max());
  return p;
}

}  // namespace peregrine::loadgen
