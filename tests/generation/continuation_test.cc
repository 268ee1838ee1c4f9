// Continuation: stop rules and the holding back of tokens that may begin a stop sequence.
#include "generation/continuation.h"

#include <gtest/gtest.h>

#include <vector>

namespace peregrine::generation {
namespace {

// Logits that make greedy sampling pick `token` out of 10.
std::vector<float> Pick(int64_t token) {
  std::vector<float> logits(10, 0.f);
  logits[static_cast<size_t>(token)] = 5.f;
  return logits;
}

ContinuationParams Params(int max_tokens, int64_t end_id = -1, std::vector<std::vector<int64_t>> stop = {}) {
  ContinuationParams params;
  params.max_tokens = max_tokens;
  params.end_id = end_id;
  params.stop_sequences = std::move(stop);
  return params;
}

struct Tracker {
  std::vector<int64_t> streamed;  // final tokens in the order they became final
  Continuation c;
  explicit Tracker(ContinuationParams params) : c(std::move(params)) {}
  void Feed(std::initializer_list<int64_t> tokens) {
    for (int64_t t : tokens) {
      ASSERT_FALSE(c.finished());
      const size_t n = c.Advance(Pick(t));
      auto final_tokens = c.final_tokens();
      streamed.insert(streamed.end(), final_tokens.end() - static_cast<std::ptrdiff_t>(n), final_tokens.end());
      EXPECT_EQ(c.last_sampled(), t);
    }
  }
  std::vector<int64_t> Final() const { return {c.final_tokens().begin(), c.final_tokens().end()}; }
};

TEST(ContinuationTest, EndsAtTheLengthLimit) {
  Tracker run(Params(3));
  run.Feed({4, 5, 6});
  EXPECT_TRUE(run.c.finished());
  EXPECT_EQ(run.c.reason(), FinishReason::kLength);
  EXPECT_EQ(run.Final(), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(run.streamed, run.Final());
}

TEST(ContinuationTest, TheEndTokenEndsAndIsNotOutput) {
  Tracker run(Params(10, 2));
  run.Feed({4, 5, 2});
  EXPECT_EQ(run.c.reason(), FinishReason::kEndToken);
  EXPECT_EQ(run.Final(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(run.c.sampled(), 3);
}

TEST(ContinuationTest, StopSequenceIsHeldBackThenDropped) {
  Tracker run(Params(10, -1, {{7, 8, 9}}));
  run.Feed({4, 7, 8});
  EXPECT_EQ(run.streamed, (std::vector<int64_t>{4})) << "7 8 may begin the stop sequence";
  run.Feed({9});
  EXPECT_EQ(run.c.reason(), FinishReason::kStopSequence);
  EXPECT_EQ(run.Final(), (std::vector<int64_t>{4}));
  EXPECT_EQ(run.streamed, run.Final());
}

TEST(ContinuationTest, HeldTokensAreReleasedWhenTheStopSequenceBreaks) {
  Tracker run(Params(10, -1, {{7, 8, 9}, {8, 3}}));
  run.Feed({7, 8});
  EXPECT_TRUE(run.streamed.empty());
  run.Feed({4});
  EXPECT_EQ(run.streamed, (std::vector<int64_t>{7, 8, 4}));
  // Overlapping: 7 7 8 9 stops after the first 7.
  Tracker overlap(Params(10, -1, {{7, 8, 9}}));
  overlap.Feed({7, 7, 8, 9});
  EXPECT_EQ(overlap.Final(), (std::vector<int64_t>{7}));
  EXPECT_EQ(overlap.streamed, overlap.Final());
  // The other sequence completes inside the held tokens of the first.
  Tracker inner(Params(10, -1, {{7, 8, 9}, {8, 3}}));
  inner.Feed({5, 7, 8, 3});
  EXPECT_EQ(inner.Final(), (std::vector<int64_t>{5, 7}));
}

TEST(ContinuationTest, HeldTokensAreOutputWhenTheLimitOrEndComes) {
  Tracker run(Params(3, 2, {{7, 8, 9}}));
  run.Feed({4, 7, 8});
  EXPECT_EQ(run.c.reason(), FinishReason::kLength);
  EXPECT_EQ(run.Final(), (std::vector<int64_t>{4, 7, 8}));
  EXPECT_EQ(run.streamed, run.Final());
  Tracker end(Params(5, 2, {{7, 8, 9}}));
  end.Feed({7, 2});
  EXPECT_EQ(end.Final(), (std::vector<int64_t>{7}));
  EXPECT_EQ(end.streamed, end.Final());
}

TEST(ContinuationTest, UnknownWordsInStopSequencesNeverMatch) {
  Tracker run(Params(4, -1, {{-1}, {5, -1}}));
  run.Feed({5, 1, 1, 5});
  EXPECT_EQ(run.c.reason(), FinishReason::kLength);
  EXPECT_EQ(run.Final(), (std::vector<int64_t>{5, 1, 1, 5}));
}

}  // namespace
}  // namespace peregrine::generation
