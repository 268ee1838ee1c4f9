// The dynamic batcher's decisions as tables: made-up queue summaries and a fake clock (time points
// built from microsecond offsets), so every rule of batch_policy.h is checked at its edges without a
// thread or a sleep.
#include "serving/batch_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace peregrine::serving {
namespace {

using Clock = BatchPolicy::Clock;
using std::chrono::microseconds;
using Action = BatchDecision::Action;

// The fake clock: t(us) is a fixed origin plus `us` microseconds.
Clock::time_point t(int64_t us) { return Clock::time_point(std::chrono::hours(1)) + microseconds(us); }

BatchPolicy Policy(int max_batch, std::vector<int> preferred, int64_t delay_us) {
  BatchPolicy policy;
  policy.max_batch_size = max_batch;
  policy.preferred_batch_sizes = std::move(preferred);
  policy.max_queue_delay = microseconds(delay_us);
  return policy;
}

struct Row {
  std::string name;
  BatchPolicy policy;
  std::vector<int> cumulative_rows;
  bool can_grow;
  bool arrivals_blocked;
  int64_t oldest_us;  // when the oldest request was queued
  int64_t now_us;
  int64_t last_arrival_us;
  int64_t mean_gap_us;  // 0: unknown
  Action action;
  size_t requests;    // kDispatch
  int64_t wait_us;    // kWait: wait_until
};

TEST(BatchPolicyTest, DecisionTable) {
  const BatchPolicy no_delay = Policy(8, {}, 0);
  const BatchPolicy delay = Policy(8, {}, 500);
  const BatchPolicy preferred = Policy(8, {4, 6}, 500);
  const std::vector<Row> table = {
      // 1. nothing queued: idle, whatever the clock says.
      {"empty queue", delay, {}, true, false, 0, 1000, 0, 0, Action::kIdle, 0, 0},
      // max_queue_delay 0: one request and an idle instance run at once - no added wait.
      {"single request, no delay", no_delay, {1}, true, false, 0, 0, 0, 0, Action::kDispatch, 1, 0},
      {"three requests, no delay", no_delay, {1, 2, 3}, true, false, 0, 0, 0, 0, Action::kDispatch, 3, 0},
      // 5/6. with a delay: wait until the oldest request has waited it, then take everything.
      {"waits for the delay", delay, {1, 2}, true, false, 100, 100, 0, 0, Action::kWait, 0, 600},
      {"waits from the oldest, not now", delay, {1, 2}, true, false, 100, 550, 0, 0, Action::kWait, 0, 600},
      {"delay reached exactly", delay, {1, 2}, true, false, 100, 600, 0, 0, Action::kDispatch, 2, 0},
      {"delay passed", delay, {1, 2, 5}, true, false, 100, 10'000, 0, 0, Action::kDispatch, 3, 0},
      // 2. a batch that cannot grow goes now: max_batch_size rows, or the next compatible request did not fit.
      {"max batch size reached", delay, {2, 4, 8}, false, false, 0, 1, 0, 0, Action::kDispatch, 3, 0},
      {"next request does not fit", delay, {3, 7}, false, false, 0, 1, 0, 0, Action::kDispatch, 2, 0},
      {"a request alone that cannot batch", delay, {1}, false, false, 0, 1, 0, 0, Action::kDispatch, 1, 0},
      // 2. nothing more can arrive: shutting down or the queue is full.
      {"arrivals blocked", delay, {1, 2}, true, true, 0, 1, 0, 0, Action::kDispatch, 2, 0},
      // 4. the candidate is exactly a preferred size: go without waiting.
      {"exactly a preferred size", preferred, {1, 2, 3, 4}, true, false, 0, 1, 0, 0, Action::kDispatch, 4, 0},
      {"between preferred sizes waits", preferred, {1, 2, 3, 4, 5}, true, false, 0, 1, 0, 0, Action::kWait, 0, 500},
      {"below the smallest preferred waits", preferred, {2, 3}, true, false, 0, 499, 0, 0, Action::kWait, 0, 500},
      // 3. at least the largest preferred size: the longest prefix within it.
      {"largest preferred reached", preferred, {2, 4, 6}, true, false, 0, 1, 0, 0, Action::kDispatch, 3, 0},
      {"past the largest preferred: prefix within it", preferred, {2, 5, 7}, true, false, 0, 1, 0, 0,
       Action::kDispatch, 2, 0},
      {"first request alone above the largest preferred", preferred, {7}, true, false, 0, 1, 0, 0,
       Action::kDispatch, 1, 0},
      // After the delay a partial batch goes whole, preferred or not.
      {"preferred sizes, delay passed", preferred, {1, 2, 3}, true, false, 0, 500, 0, 0, Action::kDispatch, 3, 0},
      // 6. sparse arrivals: the next one is not expected before the delay ends, so waiting cannot help.
      {"sparse arrivals go at once", delay, {1}, true, false, 100, 100, 100, 600, Action::kDispatch, 1, 0},
      {"expected right at the deadline still waits", delay, {1}, true, false, 100, 100, 100, 500, Action::kWait, 0,
       600},
      {"dense arrivals wait", delay, {1, 2}, true, false, 100, 150, 150, 100, Action::kWait, 0, 600},
      {"a later arrival moves the expectation", delay, {1, 2}, true, false, 100, 400, 400, 250, Action::kDispatch, 2,
       0},
      {"unknown gap waits (Triton's rule)", delay, {1}, true, false, 100, 100, 100, 0, Action::kWait, 0, 600},
      {"preferred size still goes first", preferred, {1, 2, 3, 4}, true, false, 0, 1, 0, 10, Action::kDispatch, 4, 0},
      // No preferred sizes: max_batch_size plays the largest preferred size.
      {"no preferred, below max", Policy(4, {}, 500), {1, 2, 3}, true, false, 0, 1, 0, 0, Action::kWait, 0, 500},
  };
  for (const Row& row : table) {
    SCOPED_TRACE(row.name);
    BatchCandidate candidate;
    candidate.cumulative_rows = row.cumulative_rows;
    candidate.can_grow = row.can_grow;
    candidate.arrivals_blocked = row.arrivals_blocked;
    candidate.oldest_enqueued = t(row.oldest_us);
    candidate.last_arrival = t(row.last_arrival_us);
    candidate.mean_arrival_gap = microseconds(row.mean_gap_us);
    const BatchDecision decision = DecideBatch(candidate, t(row.now_us), row.policy);
    ASSERT_EQ(decision.action, row.action);
    if (row.action == Action::kDispatch) {
      EXPECT_EQ(decision.requests, row.requests);
    }
    if (row.action == Action::kWait) {
      EXPECT_EQ(decision.wait_until, t(row.wait_us));
    }
  }
}

// The clock only moves the answer from "wait" to "dispatch", never back, and never earlier than the delay.
TEST(BatchPolicyTest, WaitTurnsIntoDispatchExactlyAtTheDelay) {
  const BatchPolicy policy = Policy(8, {4}, 250);
  BatchCandidate candidate;
  candidate.cumulative_rows = {1, 2};
  candidate.oldest_enqueued = t(1000);
  for (int64_t now = 900; now <= 1400; now += 10) {
    const BatchDecision decision = DecideBatch(candidate, t(now), policy);
    if (now < 1250) {
      ASSERT_EQ(decision.action, Action::kWait) << now;
      EXPECT_EQ(decision.wait_until, t(1250));
    } else {
      ASSERT_EQ(decision.action, Action::kDispatch) << now;
      EXPECT_EQ(decision.requests, 2u);
    }
  }
}

struct PadRow {
  std::string name;
  int rows;
  std::set<int> compiled;
  size_t max_compiled;
  int expected;
};

TEST(BatchPolicyTest, EngineBatchRowsTable) {
  const std::vector<PadRow> table = {
      {"compiled size runs as is", 4, {1, 4, 8}, 8, 4},
      {"pads 3 to 4 (one padding row)", 3, {1, 4, 8}, 8, 4},
      {"pads 5 to 8 (at most half padding)", 5, {1, 4, 8}, 8, 8},
      {"pads 2 to 4 (exactly half padding)", 2, {1, 4, 8}, 8, 4},
      {"compiles 2 rather than pad to 8", 2, {1, 8}, 8, 2},
      {"compiles 3 rather than pad to 8", 3, {1, 8}, 8, 3},
      {"nothing larger compiled: compiles", 9, {1, 4, 8}, 8, 9},
      {"nothing compiled: compiles", 3, {}, 8, 3},
      {"budget spent: pads even past half", 2, {1, 8}, 2, 8},
      {"budget spent, nothing larger: compiles anyway", 9, {1, 8}, 2, 9},
  };
  for (const PadRow& row : table) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(EngineBatchRows(row.rows, row.compiled, row.max_compiled), row.expected);
  }
}

// With the default warm sizes (1, the preferred sizes, max_batch_size) and preferred sizes that at most
// double, serving never compiles: every size 1..max maps to a compiled one.
TEST(BatchPolicyTest, DefaultWarmSizesNeverCompileWhileServing) {
  const std::set<int> warm = {1, 2, 4, 8, 16};
  for (int rows = 1; rows <= 16; ++rows) {
    const int engine_rows = EngineBatchRows(rows, warm, 8);
    EXPECT_TRUE(warm.count(engine_rows)) << rows;
    EXPECT_GE(engine_rows, rows);
  }
}

}  // namespace
}  // namespace peregrine::serving
