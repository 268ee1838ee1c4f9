// The ramp's stop rule: error rate, p99 SLO and (open loop) delivered rate; the last good level.
#include "loadgen/ramp.h"

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

LevelResult Level(uint64_t success, uint64_t http_503, uint64_t timeouts, double p99_ms, uint64_t scheduled = 0) {
  LevelResult l;
  l.counters.success = success;
  l.counters.responses = success + http_503;
  l.counters.by_status[200] = success;
  l.counters.by_status[503] = http_503;
  l.counters.timeouts = timeouts;
  l.counters.scheduled = scheduled;
  l.latency_ns.p99 = p99_ms * 1e6;
  return l;
}

TEST(RampTest, ErrorRateIncludesHttpErrorsAndTimeouts) {
  RampLimits limits;
  limits.max_error_rate = 0.01;
  EXPECT_TRUE(JudgeLevel(Level(990, 10, 0, 5), false, limits).passed);   // exactly 1%
  EXPECT_FALSE(JudgeLevel(Level(989, 11, 0, 5), false, limits).passed);  // 1.1%
  const Verdict v = JudgeLevel(Level(980, 10, 10, 5), false, limits);   // 2%: 503s plus timeouts
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.reason, "error rate 2.00% > 1.00%");
}

TEST(RampTest, LatencySlo) {
  RampLimits limits;
  limits.slo_p99_ns = 200'000'000;
  EXPECT_TRUE(JudgeLevel(Level(1000, 0, 0, 200), false, limits).passed);
  const Verdict v = JudgeLevel(Level(1000, 0, 0, 250), false, limits);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.reason, "p99 250.00 ms > SLO 200.00 ms");
  limits.slo_p99_ns = 0;  // no SLO
  EXPECT_TRUE(JudgeLevel(Level(1000, 0, 0, 90'000), false, limits).passed);
}

TEST(RampTest, DeliveredRateCountsInOpenLoopOnly) {
  RampLimits limits;
  limits.min_delivered_ratio = 0.9;
  const LevelResult behind = Level(800, 0, 0, 5, /*scheduled=*/1000);  // 80% of what fell due finished
  EXPECT_FALSE(JudgeLevel(behind, true, limits).passed);
  EXPECT_TRUE(JudgeLevel(behind, false, limits).passed);
  EXPECT_TRUE(JudgeLevel(Level(950, 0, 0, 5, 1000), true, limits).passed);
  // A few requests behind is in-flight noise, whatever the ratio: 1 of 3 finished.
  EXPECT_TRUE(JudgeLevel(Level(1, 0, 0, 5, 3), true, limits).passed);
  EXPECT_TRUE(JudgeLevel(Level(1, 0, 0, 5, 1 + kMinShortfall - 1), true, limits).passed);
  EXPECT_FALSE(JudgeLevel(Level(1, 0, 0, 5, 1 + kMinShortfall), true, limits).passed);
}

TEST(RampTest, NothingFinishedFails) {
  EXPECT_FALSE(JudgeLevel(Level(0, 0, 0, 0), false, RampLimits{}).passed);
}

TEST(RampTest, LastGoodLevelIsTheOneBeforeTheFirstFailure) {
  std::vector<LevelResult> levels(4);
  EXPECT_EQ(LastGoodLevel(levels), 3);  // none failed: the last
  levels[2].passed = false;
  EXPECT_EQ(LastGoodLevel(levels), 1);
  levels[0].passed = false;
  EXPECT_EQ(LastGoodLevel(levels), -1);
  EXPECT_EQ(LastGoodLevel({}), -1);
}

}  // namespace
}  // namespace peregrine::loadgen
