// GatedLog: what a test double's engine calls record, with a gate that holds every call until the test
// opens it, so that "running" and "queued behind it" are states a test creates, not races it hopes for.
// Shared by the scheduler and batching tests. Every wait is bounded by kWait.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "results.h"

namespace peregrine::serving::test_support {

template <typename Entry>
class GatedLog {
 public:
  void CloseGate() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void OpenGate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Appends `entry`, then blocks while the gate is closed.
  void Record(Entry entry) {
    std::unique_lock lock(mu_);
    entries_.push_back(std::move(entry));
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  // True once `n` entries were recorded.
  bool WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return entries_.size() >= n; });
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  std::vector<Entry> entries_;
};

}  // namespace peregrine::serving::test_support
