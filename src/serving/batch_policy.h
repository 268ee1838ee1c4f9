// The dynamic batcher's two decisions, as pure functions of their inputs (no clock, no lock, no
// queue): when an idle instance should run what is queued, and at which batch size the engine should
// run it. The scheduler (scheduler.cc) gathers the summary under its lock and acts on the answer; the
// tests drive these functions with made-up summaries and times (tests/scheduler/batch_policy_test.cc).
//
// When to dispatch (DecideBatch), Triton's dynamic batcher rules:
//   The candidate batch is the oldest queued request plus the later requests whose inputs have the same
//   dtypes and the same dims apart from the batch dimension, in arrival order, while their rows fit in
//   max_batch_size. Then, in this order:
//   1. nothing queued                                   -> idle (wait for an arrival)
//   2. the candidate cannot grow (it has max_batch_size rows, or a compatible request did not fit) or no
//      request can arrive (shutting down, queue full)  -> dispatch the whole candidate now
//   3. the candidate has at least the largest preferred batch size rows (max_batch_size when none is
//      preferred)                                       -> dispatch now, the longest prefix with at most
//                                                          that many rows
//   4. the candidate's rows are exactly a preferred size -> dispatch it now
//   5. the oldest request has waited max_queue_delay    -> dispatch the whole candidate now
//   6. arrivals are too sparse for a partner to come in time: the next one is expected (last arrival +
//      the recent mean gap between arrivals) after the oldest request's max_queue_delay ends
//                                                       -> dispatch the whole candidate now
//   7. otherwise                                         -> wait until oldest.enqueued + max_queue_delay
//                                                          (or an arrival, which asks again)
//   With max_queue_delay 0, rule 5 always holds: an idle instance never waits. Rule 6 is Peregrine's
//   (Triton always waits): max_queue_delay stays an upper bound, and at low load - one client, or a
//   lull - a lone request no longer pays the delay for partners that are not coming. With no arrival
//   history (the first requests) it does not apply.
//
// At which size to run (EngineBatchRows), the padding rule:
//   The engine compiles one plan per input shape, so a batch size without a plan costs a compile
//   (tens of runs' worth of time; see docs/serving.md) while padding to a larger compiled size costs the
//   padding rows' compute on this call only. Run `rows` itself when its plan exists. Otherwise pad to the
//   smallest compiled size s >= rows when s <= 2 * rows (at most half the call is padding, so it costs at
//   most about twice the exact call - far less than a compile). Otherwise compile `rows` (once: it is then
//   a compiled size), unless `max_compiled` sizes are compiled already, in which case pad to s anyway so
//   the plan cache does not thrash. With no compiled s >= rows, compile `rows`. With the warm-up default
//   (1, the preferred sizes and max_batch_size), and preferred sizes that at most double, nothing is ever
//   compiled while serving.
#pragma once

#include <chrono>
#include <cstddef>
#include <set>
#include <vector>

namespace peregrine::serving {

struct BatchPolicy {
  using Clock = std::chrono::steady_clock;
  int max_batch_size = 1;                  // rows; > 0
  std::vector<int> preferred_batch_sizes;  // ascending, each within 1..max_batch_size; may be empty
  Clock::duration max_queue_delay{0};
};

// What the scheduler sees of its queue when an instance is idle.
struct BatchCandidate {
  // Cumulative rows of the candidate's requests in arrival order: {3, 4, 6} is a request of 3 rows, then
  // one of 1, then one of 2. Empty when nothing is queued.
  std::vector<int> cumulative_rows;
  bool can_grow = true;         // false: max_batch_size rows, or a compatible request did not fit
  bool arrivals_blocked = false;  // shutting down, or the queue is full: waiting cannot add requests
  BatchPolicy::Clock::time_point oldest_enqueued;  // of the candidate's first request
  // Arrivals: the latest, and the recent mean gap between arrivals (zero: unknown).
  BatchPolicy::Clock::time_point last_arrival;
  BatchPolicy::Clock::duration mean_arrival_gap{0};
};

struct BatchDecision {
  enum class Action { kIdle, kDispatch, kWait };
  Action action = Action::kIdle;
  size_t requests = 0;                         // kDispatch: how many of the candidate's requests, >= 1
  BatchPolicy::Clock::time_point wait_until;  // kWait: ask again then (or on an arrival)
};

BatchDecision DecideBatch(const BatchCandidate& candidate, BatchPolicy::Clock::time_point now,
                          const BatchPolicy& policy);

// The batch size to run `rows` (> 0) at, given the sizes already compiled for these shapes. >= rows.
int EngineBatchRows(int rows, const std::set<int>& compiled, size_t max_compiled);

}  // namespace peregrine::serving
