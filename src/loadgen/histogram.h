// LatencyHistogram: a log-linear histogram of non-negative integers (nanoseconds here) with a bounded
// relative error, in the manner of HdrHistogram.
//
// Layout: values below 2 * kSubBuckets (256) have one bucket each (exact). Above that, every power of two
// [2^k, 2^(k+1)) is split into kSubBuckets / 2 = 128 equal buckets, so a bucket's width is at most 1/128 of
// its lower bound. A percentile is reported as the middle of the bucket that holds it (clamped to the exact
// min and max), hence:
//
//   |Percentile(q) - exact nearest-rank percentile| <= exact / 256   (relative error <= 0.39 %)
//
// Values at or above 2^kMaxBits ns (about 4.9 hours) land in the top bucket; min, max and the sum stay exact.
// Memory: kBucketCount counters (about 38 KiB), allocated once in the constructor. Record() never allocates
// and is O(1); Merge() and Percentile() walk the buckets. Not thread-safe: one writer, or external locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace peregrine::loadgen {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;                     // 128 buckets per power of two above 256
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr int kMaxBits = 44;                          // values < 2^44 are bucketed exactly as above
  static constexpr size_t kBucketCount = (kMaxBits - kSubBucketBits + 1) * kSubBuckets;
  static constexpr double kMaxRelativeError = 1.0 / (2 * kSubBuckets);

  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram& other);
  LatencyHistogram& operator=(const LatencyHistogram& other);
  LatencyHistogram(LatencyHistogram&&) noexcept = default;
  LatencyHistogram& operator=(LatencyHistogram&&) noexcept = default;

  void Record(uint64_t value) {
    ++counts_[BucketIndex(value)];
    ++count_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The value at quantile q in [0, 1] (nearest rank: the ceil(q * count)-th smallest value, at least the
  // first), within kMaxRelativeError. q >= 1 gives max() exactly; an empty histogram gives 0.
  uint64_t Percentile(double q) const;

  // Bucket arithmetic, public for tests and for the report's distribution chart.
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketLowerBound(size_t index);
  static uint64_t BucketWidth(size_t index);
  uint64_t bucket_count(size_t index) const { return counts_[index]; }

 private:
  std::unique_ptr<uint64_t[]> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

inline size_t LatencyHistogram::BucketIndex(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  if (value >> kMaxBits) return kBucketCount - 1;
  const int msb = 63 - __builtin_clzll(value);
  const int shift = msb - kSubBucketBits;  // >= 1 here
  return static_cast<size_t>((shift + 1) * kSubBuckets + ((value >> shift) - kSubBuckets));
}

}  // namespace peregrine::loadgen
