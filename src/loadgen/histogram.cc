#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace peregrine::loadgen {

LatencyHistogram::LatencyHistogram() : counts_(new uint64_t[kBucketCount]()) {}

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other) : counts_(new uint64_t[kBucketCount]) {
  *this = other;
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) {
  if (this == &other) return *this;
  if (!counts_) counts_.reset(new uint64_t[kBucketCount]);
  std::memcpy(counts_.get(), other.counts_.get(), kBucketCount * sizeof(uint64_t));
  count_ = other.count_;
  sum_ = other.sum_;
  min_ = other.min_;
  max_ = other.max_;
  return *this;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Reset() {
  std::memset(counts_.get(), 0, kBucketCount * sizeof(uint64_t));
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

uint64_t LatencyHistogram::BucketLowerBound(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  return (kSubBuckets + index % kSubBuckets) << shift;
}

uint64_t LatencyHistogram::BucketWidth(size_t index) {
  if (index < 2 * kSubBuckets) return 1;
  return uint64_t{1} << (index / kSubBuckets - 1);
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  // Nearest rank; the small epsilon keeps q * count that is an integer in exact arithmetic from rounding up.
  const double exact_rank = std::max(q, 0.0) * static_cast<double>(count_);
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact_rank - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // The middle of the bucket: at most half a width (<= lower / 256) from any value in it.
      const uint64_t estimate = BucketLowerBound(i) + BucketWidth(i) / 2;
      return std::clamp(estimate, min_, max_);
    }
  }
  return max_;
}

}  // namespace peregrine::loadgen
