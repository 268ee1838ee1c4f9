// RequestQueue: the scheduler's bounded FIFO of accepted requests, with an index by deadline so that the
// deadline timer finds expired requests without scanning the whole queue, and removal from the middle so
// that the dynamic batcher can take compatible requests past incompatible ones. Internal to scheduler.cc.
//
// Not thread-safe: the scheduler guards it with its own mutex. Every operation but Scan is O(log n).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "serving/inference.h"

namespace peregrine::serving::internal {

// What the dynamic batcher needs to know of a request, computed once at Submit (outside the lock):
// requests with equal signatures can be concatenated along their first dimension.
struct BatchKey {
  // Per input: dtype, rank, then every dimension after the first.
  std::vector<int64_t> signature;
  int rows = 1;            // the first dimension, shared by every input
  bool batchable = false;  // false: runs alone (strings, scalars, inputs that disagree on rows)
};

// An accepted request waiting for (or being run by) an instance.
struct PendingRequest {
  InferenceRequest request;
  InferenceCallback done;
  Clock::time_point enqueued;
  BatchKey key;  // filled only when the scheduler batches
};

class RequestQueue {
 public:
  explicit RequestQueue(size_t capacity) : capacity_(capacity) {}

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool full() const { return entries_.size() >= capacity_; }
  size_t capacity() const { return capacity_; }

  // Appends at the back. The caller checks full() first.
  void Push(PendingRequest pending) {
    const uint64_t seq = next_seq_++;
    if (pending.request.deadline) deadlines_.emplace(*pending.request.deadline, seq);
    entries_.emplace_hint(entries_.end(), seq, std::move(pending));
  }

  // The oldest request. The caller checks empty() first.
  const PendingRequest& Front() const { return entries_.begin()->second; }

  // Removes and returns the oldest request. The caller checks empty() first.
  PendingRequest PopFront() {
    auto it = entries_.begin();
    PendingRequest pending = std::move(it->second);
    if (pending.request.deadline) deadlines_.erase({*pending.request.deadline, it->first});
    entries_.erase(it);
    return pending;
  }

  // Visits the queued requests in arrival order, as visit(arrival number, request), until it returns false.
  template <typename Visit>
  void Scan(Visit visit) const {
    for (const auto& [seq, pending] : entries_) {
      if (!visit(seq, pending)) return;
    }
  }

  // Removes and returns the request with arrival number `seq`, which the caller saw in Scan.
  PendingRequest Take(uint64_t seq) {
    auto it = entries_.find(seq);
    PendingRequest pending = std::move(it->second);
    if (pending.request.deadline) deadlines_.erase({*pending.request.deadline, seq});
    entries_.erase(it);
    return pending;
  }

  // The earliest deadline among queued requests, if any has one.
  std::optional<Clock::time_point> EarliestDeadline() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
  }

  // Moves every request whose deadline is at or before `now` to `out` (earliest deadline first).
  void TakeExpired(Clock::time_point now, std::vector<PendingRequest>& out) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto entry = entries_.find(deadlines_.begin()->second);
      out.push_back(std::move(entry->second));
      entries_.erase(entry);
      deadlines_.erase(deadlines_.begin());
    }
  }

  // Moves every request to `out` in arrival order.
  void TakeAll(std::vector<PendingRequest>& out) {
    for (auto& [seq, pending] : entries_) out.push_back(std::move(pending));
    entries_.clear();
    deadlines_.clear();
  }

 private:
  size_t capacity_;
  uint64_t next_seq_ = 0;
  // Keyed by arrival number: begin() is the oldest. A map rather than a deque so the deadline timer can
  // remove from the middle.
  std::map<uint64_t, PendingRequest> entries_;
  std::set<std::pair<Clock::time_point, uint64_t>> deadlines_;  // (deadline, arrival number)
};

}  // namespace peregrine::serving::internal
