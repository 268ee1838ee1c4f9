// Level lists ("1,4,16", "50:500:50", "50::50") and durations ("200ms", "2s").
#include "loadgen/levels.h"

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

TEST(LevelsTest, ListsAndRanges) {
  auto list = ParseLevels("1,4,16,64", true);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->values, (std::vector<double>{1, 4, 16, 64}));
  EXPECT_FALSE(list->open_ended);
  EXPECT_FALSE(list->Has(4));
  list = ParseLevels("50:200:50", false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->values, (std::vector<double>{50, 100, 150, 200}));
  list = ParseLevels("1,2:6:2,9", true);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->values, (std::vector<double>{1, 2, 4, 6, 9}));
  list = ParseLevels("0.1:0.3:0.1", false);  // counted by index: no floating-point drift past the stop
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->values.size(), 3u);
  list = ParseLevels("2:7", true);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->values.size(), 6u);
}

TEST(LevelsTest, OpenEndedRange) {
  auto list = ParseLevels("10,50::50", false);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->open_ended);
  EXPECT_EQ(list->Level(0), 10);
  EXPECT_EQ(list->Level(1), 50);
  EXPECT_EQ(list->Level(2), 100);
  EXPECT_EQ(list->Level(10), 500);
  EXPECT_TRUE(list->Has(1000));
}

TEST(LevelsTest, Rejects) {
  EXPECT_FALSE(ParseLevels("", true).ok());
  EXPECT_FALSE(ParseLevels("0", true).ok());
  EXPECT_FALSE(ParseLevels("-4", true).ok());
  EXPECT_FALSE(ParseLevels("1.5", true).ok());  // concurrency is whole
  EXPECT_TRUE(ParseLevels("1.5", false).ok());
  EXPECT_FALSE(ParseLevels("8:2:1", true).ok());
  EXPECT_FALSE(ParseLevels("1:2:3:4", true).ok());
  EXPECT_FALSE(ParseLevels("50::50,100", false).ok());  // open range must be last
  EXPECT_FALSE(ParseLevels("50::", false).ok());
  EXPECT_FALSE(ParseLevels("1:100000000:1", true).ok());
  EXPECT_FALSE(ParseLevels("abc", true).ok());
}

TEST(LevelsTest, Durations) {
  EXPECT_EQ(*ParseDurationNs("200ms"), 200'000'000);
  EXPECT_EQ(*ParseDurationNs("2s"), 2'000'000'000);
  EXPECT_EQ(*ParseDurationNs("1.5s"), 1'500'000'000);
  EXPECT_EQ(*ParseDurationNs("500us"), 500'000);
  EXPECT_EQ(*ParseDurationNs("1m"), 60'000'000'000);
  EXPECT_EQ(*ParseDurationNs("250"), 250'000'000);  // bare: milliseconds
  EXPECT_FALSE(ParseDurationNs("fast").ok());
  EXPECT_FALSE(ParseDurationNs("2h").ok());
  EXPECT_FALSE(ParseDurationNs("-1s").ok());
  EXPECT_EQ(FormatDurationNs(1'234'000), "1.23 ms");
  EXPECT_EQ(FormatDurationNs(830'000), "830 us");
  EXPECT_EQ(FormatDurationNs(2e9), "2.00 s");
}

}  // namespace
}  // namespace peregrine::loadgen
