#include "loadgen/arrival_schedule.h"

#include <cmath>

namespace peregrine::loadgen {

ArrivalSchedule::ArrivalSchedule(ArrivalKind kind, double rate, uint64_t seed, double phase)
    : kind_(kind), rate_(rate > 0 ? rate : 1.0), phase_(phase), rng_(seed) {}

double ArrivalSchedule::UniformOpen() {
  // 53 random bits -> [0, 1) exactly representable; 1 - u is then in (0, 1], safe for log().
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return 1.0 - u;
}

int64_t ArrivalSchedule::Next() {
  const double gap_ns = 1e9 / rate_;
  if (kind_ == ArrivalKind::kConstant) {
    return static_cast<int64_t>((static_cast<double>(index_++) + phase_) * gap_ns);
  }
  poisson_time_ns_ += -std::log(UniformOpen()) * gap_ns;
  ++index_;
  return static_cast<int64_t>(poisson_time_ns_);
}

}  // namespace peregrine::loadgen
