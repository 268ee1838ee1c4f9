// ArrivalSchedule: exact constant spacing, and a seeded Poisson process with the right statistics.
#include "loadgen/arrival_schedule.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

std::vector<int64_t> Take(ArrivalSchedule schedule, size_t n) {
  std::vector<int64_t> times(n);
  for (auto& t : times) t = schedule.Next();
  return times;
}

TEST(ArrivalScheduleTest, ConstantIsEvenlySpacedWithoutDrift) {
  const std::vector<int64_t> t = Take(ArrivalSchedule(ArrivalKind::kConstant, 300.0, 1), 300'001);
  EXPECT_EQ(t[0], 0);
  EXPECT_EQ(t[1], 3'333'333);
  EXPECT_EQ(t[3], 10'000'000);
  EXPECT_EQ(t[300'000], 1'000'000'000'000);  // 1000 s later, to the nanosecond
}

TEST(ArrivalScheduleTest, ConstantPhasesInterleave) {
  // Two senders at 50/s each, half a gap apart, make one evenly spaced 100/s stream.
  const std::vector<int64_t> a = Take(ArrivalSchedule(ArrivalKind::kConstant, 50.0, 1, 0.0), 10);
  const std::vector<int64_t> b = Take(ArrivalSchedule(ArrivalKind::kConstant, 50.0, 1, 0.5), 10);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(a[i], static_cast<int64_t>(i) * 20'000'000);
    EXPECT_EQ(b[i], static_cast<int64_t>(i) * 20'000'000 + 10'000'000);
  }
}

TEST(ArrivalScheduleTest, PoissonIsReproducibleFromItsSeed) {
  EXPECT_EQ(Take(ArrivalSchedule(ArrivalKind::kPoisson, 100.0, 42), 1000),
            Take(ArrivalSchedule(ArrivalKind::kPoisson, 100.0, 42), 1000));
  EXPECT_NE(Take(ArrivalSchedule(ArrivalKind::kPoisson, 100.0, 42), 1000),
            Take(ArrivalSchedule(ArrivalKind::kPoisson, 100.0, 43), 1000));
}

TEST(ArrivalScheduleTest, PoissonGapsAreExponentialWithTheRightMean) {
  const double rate = 250.0;
  const size_t n = 200'000;
  const std::vector<int64_t> t = Take(ArrivalSchedule(ArrivalKind::kPoisson, rate, 7), n);
  double sum = 0, sum_sq = 0;
  size_t above_mean = 0;
  int64_t previous = 0;
  for (int64_t time : t) {
    ASSERT_GE(time, previous);  // never goes back
    const double gap = static_cast<double>(time - previous) / 1e9;
    sum += gap;
    sum_sq += gap * gap;
    above_mean += gap > 1.0 / rate;
    previous = time;
  }
  const double mean = sum / n;
  const double cv = std::sqrt(sum_sq / n - mean * mean) / mean;
  EXPECT_NEAR(mean * rate, 1.0, 0.01);  // standard error ~0.2% with 200k gaps
  EXPECT_NEAR(cv, 1.0, 0.02);           // exponential: standard deviation == mean
  EXPECT_NEAR(static_cast<double>(above_mean) / n, std::exp(-1.0), 0.005);  // P(gap > mean) = 1/e
}

TEST(ArrivalScheduleTest, PoissonCountsPerSecondHaveVarianceEqualToMean) {
  const double rate = 100.0;
  ArrivalSchedule schedule(ArrivalKind::kPoisson, rate, 11);
  std::vector<int> counts(2000, 0);  // arrivals in each of 2000 one-second bins
  for (;;) {
    const int64_t t = schedule.Next();
    const size_t bin = static_cast<size_t>(t / 1'000'000'000);
    if (bin >= counts.size()) break;
    ++counts[bin];
  }
  double sum = 0, sum_sq = 0;
  for (int c : counts) {
    sum += c;
    sum_sq += static_cast<double>(c) * c;
  }
  const double mean = sum / counts.size();
  const double variance = sum_sq / counts.size() - mean * mean;
  EXPECT_NEAR(mean, rate, 1.0);
  EXPECT_NEAR(variance / mean, 1.0, 0.1);  // index of dispersion of a Poisson process
}

}  // namespace
}  // namespace peregrine::loadgen
