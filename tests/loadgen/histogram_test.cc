// LatencyHistogram: exact below 256, bounded relative error above, on random data against exact percentiles.
#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

// The nearest-rank percentile: the ceil(q * n)-th smallest value (the first for q = 0).
uint64_t ExactPercentile(std::vector<uint64_t> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  if (q >= 1) return sorted.back();
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectWithinBound(const std::vector<uint64_t>& values, const char* what) {
  LatencyHistogram h;
  for (uint64_t v : values) h.Record(v);
  std::vector<uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0}) {
    const double exact = static_cast<double>(ExactPercentile(sorted, q));
    const double estimate = static_cast<double>(h.Percentile(q));
    EXPECT_LE(std::fabs(estimate - exact), exact * LatencyHistogram::kMaxRelativeError)
        << what << " q=" << q << " exact=" << exact << " estimate=" << estimate;
  }
  EXPECT_EQ(h.min(), sorted.front()) << what;
  EXPECT_EQ(h.max(), sorted.back()) << what;
  EXPECT_EQ(h.count(), values.size()) << what;
}

TEST(LatencyHistogramTest, ErrorBoundIsUnderHalfAPercent) {
  EXPECT_LT(LatencyHistogram::kMaxRelativeError, 0.005);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 0; v < 256; ++v) h.Record(v);
  for (uint64_t v = 1; v <= 256; ++v) EXPECT_EQ(h.Percentile(static_cast<double>(v) / 256.0), v - 1);
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  uint64_t expected_lower = 0;
  for (size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    const uint64_t lower = LatencyHistogram::BucketLowerBound(i);
    const uint64_t width = LatencyHistogram::BucketWidth(i);
    ASSERT_EQ(lower, expected_lower) << "bucket " << i;  // no gaps, no overlaps
    ASSERT_EQ(LatencyHistogram::BucketIndex(lower), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(lower + width - 1), i);
    if (width > 1) {  // wider than one: lower >= 256
      ASSERT_LE(static_cast<double>(width) / static_cast<double>(lower), 1.0 / 128 + 1e-12);
    }
    expected_lower = lower + width;
  }
  EXPECT_EQ(expected_lower, uint64_t{1} << LatencyHistogram::kMaxBits);
  EXPECT_EQ(LatencyHistogram::BucketIndex(UINT64_MAX), LatencyHistogram::kBucketCount - 1);
}

TEST(LatencyHistogramTest, UniformRandomData) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(0, 2'000'000'000);
  std::vector<uint64_t> values(200'000);
  for (auto& v : values) v = dist(rng);
  ExpectWithinBound(values, "uniform");
}

TEST(LatencyHistogramTest, LogNormalLatencies) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(std::log(800'000.0), 1.2);  // ~0.8 ms median, long tail
  std::vector<uint64_t> values(200'000);
  for (auto& v : values) v = static_cast<uint64_t>(dist(rng));
  ExpectWithinBound(values, "lognormal");
}

TEST(LatencyHistogramTest, BimodalWithRareOutliers) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(50'000, 5'000), slow(20'000'000, 2'000'000);
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) values.push_back(static_cast<uint64_t>(std::max(1.0, fast(rng))));
  for (int i = 0; i < 300; ++i) values.push_back(static_cast<uint64_t>(std::max(1.0, slow(rng))));
  values.push_back(3'000'000'000);  // one 3 s stall
  ExpectWithinBound(values, "bimodal");
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  std::mt19937_64 rng(4);
  std::exponential_distribution<double> dist(1e-6);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    (i % 3 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double q : {0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.Percentile(q), all.Percentile(q));
}

TEST(LatencyHistogramTest, EmptyResetAndCopy) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  h.Record(1000);
  h.Record(3000);
  EXPECT_DOUBLE_EQ(h.mean(), 2000.0);
  LatencyHistogram copy = h;
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
  EXPECT_EQ(copy.count(), 2u);
  EXPECT_EQ(copy.Percentile(1.0), 3000u);
}

TEST(LatencyHistogramTest, HugeValuesKeepExactMax) {
  LatencyHistogram h;
  h.Record(uint64_t{1} << 50);
  EXPECT_EQ(h.max(), uint64_t{1} << 50);
  EXPECT_EQ(h.Percentile(0.5), uint64_t{1} << 50);  // clamped to the exact min/max
}

}  // namespace
}  // namespace peregrine::loadgen
