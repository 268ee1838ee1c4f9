// The stability rule: the last N windows agree on p50 and throughput within the tolerance.
#include "loadgen/stability.h"

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

StabilityOptions Options(double tolerance, int consecutive, int max_windows) {
  StabilityOptions o;
  o.tolerance = tolerance;
  o.consecutive = consecutive;
  o.max_windows = max_windows;
  return o;
}

TEST(StabilityTest, NeedsEnoughWindows) {
  const StabilityOptions o = Options(0.1, 3, 10);
  EXPECT_FALSE(IsStable({{1000, 1e6}, {1000, 1e6}}, o));
  EXPECT_TRUE(IsStable({{1000, 1e6}, {1000, 1e6}, {1000, 1e6}}, o));
}

TEST(StabilityTest, BothThroughputAndMedianMustAgree) {
  const StabilityOptions o = Options(0.1, 3, 10);
  EXPECT_TRUE(IsStable({{1000, 1.00e6}, {1050, 1.05e6}, {1099, 1.09e6}}, o));   // within 10% of the smallest
  EXPECT_FALSE(IsStable({{1000, 1.00e6}, {1050, 1.05e6}, {1101, 1.00e6}}, o));  // throughput spread 10.1%
  EXPECT_FALSE(IsStable({{1000, 1.00e6}, {1000, 1.05e6}, {1000, 1.11e6}}, o));  // p50 spread 11%
}

TEST(StabilityTest, OnlyTheLastWindowsCount) {
  const StabilityOptions o = Options(0.05, 2, 10);
  EXPECT_TRUE(IsStable({{10, 9e6}, {500, 3e6}, {1000, 1e6}, {1010, 1.01e6}}, o));
  EXPECT_EQ(WindowsToUse({{10, 9e6}, {500, 3e6}, {1000, 1e6}, {1010, 1.01e6}}, o), 2u);
}

TEST(StabilityTest, StopsAtMaxWindowsAndThenUsesThemAll) {
  const StabilityOptions o = Options(0.01, 3, 4);
  std::vector<WindowSummary> w = {{100, 1e6}, {200, 1e6}, {300, 1e6}};
  EXPECT_TRUE(NeedAnotherWindow(w, o));
  w.push_back({400, 1e6});
  EXPECT_FALSE(NeedAnotherWindow(w, o));  // unstable, but four is the most
  EXPECT_EQ(WindowsToUse(w, o), 4u);
  EXPECT_FALSE(NeedAnotherWindow({{100, 1e6}, {100, 1e6}, {100, 1e6}}, o));  // stable
}

TEST(StabilityTest, ZeroesAgreeOnlyWithZeroes) {
  const StabilityOptions o = Options(0.1, 2, 10);
  EXPECT_TRUE(IsStable({{500, 0}, {500, 0}}, o));  // nothing succeeded: p50 0 twice
  EXPECT_FALSE(IsStable({{500, 0}, {500, 1e6}}, o));
  EXPECT_FALSE(IsStable({{0, 1e6}, {500, 1e6}}, o));
}

}  // namespace
}  // namespace peregrine::loadgen
