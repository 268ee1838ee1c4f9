// The dynamic batcher's decisions; the rules are stated in batch_policy.h.
#include "serving/batch_policy.h"

#include <algorithm>

namespace peregrine::serving {
namespace {

BatchDecision Dispatch(size_t requests) {
  BatchDecision decision;
  decision.action = BatchDecision::Action::kDispatch;
  decision.requests = std::max<size_t>(1, requests);
  return decision;
}

}  // namespace

BatchDecision DecideBatch(const BatchCandidate& candidate, BatchPolicy::Clock::time_point now,
                          const BatchPolicy& policy) {
  const std::vector<int>& rows = candidate.cumulative_rows;
  if (rows.empty()) return {};                                                   // 1
  if (!candidate.can_grow || candidate.arrivals_blocked) return Dispatch(rows.size());  // 2

  const std::vector<int>& preferred = policy.preferred_batch_sizes;
  const int target = preferred.empty() ? policy.max_batch_size : preferred.back();
  if (rows.back() >= target) {                                                   // 3
    // The longest prefix within the target; the first request alone when even it is larger.
    const size_t within = std::upper_bound(rows.begin(), rows.end(), target) - rows.begin();
    return Dispatch(within);
  }
  if (std::find(preferred.begin(), preferred.end(), rows.back()) != preferred.end()) {  // 4
    return Dispatch(rows.size());
  }
  const BatchPolicy::Clock::time_point due = candidate.oldest_enqueued + policy.max_queue_delay;
  if (now >= due) return Dispatch(rows.size());                                 // 5
  if (candidate.mean_arrival_gap.count() > 0 && candidate.last_arrival + candidate.mean_arrival_gap > due) {
    return Dispatch(rows.size());                                                // 6
  }
  BatchDecision decision;                                                        // 7
  decision.action = BatchDecision::Action::kWait;
  decision.wait_until = due;
  return decision;
}

int EngineBatchRows(int rows, const std::set<int>& compiled, size_t max_compiled) {
  if (compiled.count(rows)) return rows;
  auto larger = compiled.lower_bound(rows);
  if (larger == compiled.end()) return rows;  // nothing to pad to: compile
  if (*larger <= 2 * rows) return *larger;    // at most half padding: cheaper than a compile
  return compiled.size() < max_compiled ? rows : *larger;
}

}  // namespace peregrine::serving
