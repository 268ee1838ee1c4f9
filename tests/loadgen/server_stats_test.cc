// Reading the server's statistics (Triton's statistics extension) and the split over a measurement.
#include "loadgen/server_stats.h"

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

// Two versions of one model, in the shape Triton (and Peregrine) answer GET .../stats with.
constexpr char kTwoVersions[] = R"({"model_stats": [
  {"name": "m", "version": "1", "inference_count": 12, "execution_count": 3,
   "inference_stats": {"success": {"count": 12, "ns": 1200}, "fail": {"count": 1, "ns": 5},
                       "queue": {"count": 12, "ns": 240}, "compute_input": {"count": 12, "ns": 36},
                       "compute_infer": {"count": 12, "ns": 600}, "compute_output": {"count": 12, "ns": 24}}},
  {"name": "m", "version": "2", "inference_count": 4, "execution_count": 4,
   "inference_stats": {"success": {"count": 4, "ns": 400}, "queue": {"count": 4, "ns": 40},
                       "compute_input": {"count": 4, "ns": 4}, "compute_infer": {"count": 4, "ns": 200},
                       "compute_output": {"count": 4, "ns": 8}}}]})";

TEST(ServerStatsTest, SumsEveryVersion) {
  absl::StatusOr<StatsSnapshot> s = ParseStatistics(kTwoVersions);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->success_count, 16u);
  EXPECT_EQ(s->execution_count, 7u);
  EXPECT_EQ(s->queue_ns, 280u);
  EXPECT_EQ(s->compute_input_ns, 40u);
  EXPECT_EQ(s->compute_infer_ns, 800u);
  EXPECT_EQ(s->compute_output_ns, 32u);
}

TEST(ServerStatsTest, RejectsWhatIsNotStatistics) {
  EXPECT_FALSE(ParseStatistics("not json").ok());
  EXPECT_FALSE(ParseStatistics(R"({"error": "unknown model"})").ok());
}

TEST(ServerStatsTest, DifferenceIsTheMeanPerRequestAndCountsEngineCalls) {
  StatsSnapshot before{.success_count = 10, .execution_count = 10, .queue_ns = 100, .compute_input_ns = 10,
                       .compute_infer_ns = 1000, .compute_output_ns = 20};
  StatsSnapshot after{.success_count = 50, .execution_count = 20, .queue_ns = 500, .compute_input_ns = 50,
                      .compute_infer_ns = 5000, .compute_output_ns = 100};
  ServerSplit split = Difference(before, after);
  ASSERT_TRUE(split.present);
  EXPECT_EQ(split.requests, 40u);
  EXPECT_EQ(split.executions, 10u);  // 4 requests per engine call: the server batched them
  EXPECT_DOUBLE_EQ(split.queue_ns, 10);
  EXPECT_DOUBLE_EQ(split.compute_infer_ns, 100);
  EXPECT_DOUBLE_EQ(split.compute_ns(), 1 + 100 + 2);
}

TEST(ServerStatsTest, NoSplitWithoutNewRequests) {
  StatsSnapshot same{.success_count = 5};
  EXPECT_FALSE(Difference(same, same).present);
}

}  // namespace
}  // namespace peregrine::loadgen
