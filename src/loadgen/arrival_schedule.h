// ArrivalSchedule: when an open-loop load generator sends its requests.
//
// Constant: the n-th arrival (n = 0, 1, ...) is at phase + n / rate, computed from n so it never drifts.
// Poisson: exponentially distributed gaps with mean 1 / rate, drawn from a seeded 64-bit Mersenne Twister
// with our own uniform-to-exponential transform, so a seed gives the same schedule on every platform.
// Times are nanoseconds from the start of the schedule. Next() never allocates.
#pragma once

#include <cstdint>
#include <random>

namespace peregrine::loadgen {

enum class ArrivalKind { kConstant, kPoisson };

class ArrivalSchedule {
 public:
  // rate: arrivals per second (> 0). phase: offset of the first constant arrival, as a fraction of one gap
  // in [0, 1) (lets several senders share one constant rate without arriving together); unused for Poisson.
  ArrivalSchedule(ArrivalKind kind, double rate, uint64_t seed, double phase = 0.0);

  // Time of the next arrival, ns from the start; non-decreasing.
  int64_t Next();

  ArrivalKind kind() const { return kind_; }
  double rate() const { return rate_; }

 private:
  double UniformOpen();  // (0, 1]

  ArrivalKind kind_;
  double rate_;
  double phase_;
  std::mt19937_64 rng_;
  uint64_t index_ = 0;
  double poisson_time_ns_ = 0.0;
};

}  // namespace peregrine::loadgen
