// Counters, gauges and histograms with labels, and their Prometheus text exposition (format 0.0.4).
//
// Get*() returns the one metric for a (name, labels) pair, creating it on first use; the reference
// stays valid for the registry's lifetime, so hot paths look a metric up once and keep it. Updating a
// metric is lock-free; Get*() and Exposition() take a lock. A name keeps the type and help of its first
// registration; asking for it again as another type is a programming error (std::logic_error).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace peregrine::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(double by = 1.0);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value);
  void Add(double by);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

// Cumulative histogram with fixed upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

// Latency buckets in seconds, from 25 us to 30 s, roughly x2.5 apart.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();

  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels);
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels);
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                          const std::vector<double>& bounds);

  // A gauge read when scraped (queue depth, busy instances). It disappears when the handle is destroyed;
  // destroy handles before what `read` uses.
  class CallbackHandle {
   public:
    virtual ~CallbackHandle() = default;
  };
  [[nodiscard]] std::unique_ptr<CallbackHandle> AddCallbackGauge(const std::string& name, const std::string& help,
                                                                 const Labels& labels, std::function<double()> read);

  // The whole registry in Prometheus text format: families sorted by name, each with # HELP and # TYPE,
  // label values escaped (\\, \", \n), histograms as _bucket{le=...}, _sum and _count.
  std::string Exposition() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peregrine::metrics
