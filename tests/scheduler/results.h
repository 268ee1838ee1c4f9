// Results: a test's collector of scheduler completions, by response id (the scheduler echoes the request
// id, for failures too). Shared by the scheduler and batching tests. Every wait is bounded by kWait.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "serving/inference.h"

namespace peregrine::serving::test_support {

constexpr auto kWait = std::chrono::seconds(60);  // upper bound of every wait; never reached when passing

class Results {
 public:
  // A callback that records its result; any number may be outstanding at once.
  InferenceCallback Callback() {
    return [this](InferenceResult&& result) {
      {
        std::lock_guard lock(mu_);
        by_id_[result.response.id].push_back(std::move(result));
        ++total_;
      }
      cv_.notify_all();
    };
  }
  // True once `n` results in all arrived.
  bool WaitForTotal(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return total_ >= n; });
  }
  // True once a result for `id` arrived.
  bool WaitFor(const std::string& id) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return by_id_.count(id) > 0; });
  }
  size_t count(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? 0 : it->second.size();
  }
  size_t total() const {
    std::lock_guard lock(mu_);
    return total_;
  }
  // The first result of `id` (a failed one when there is none, so tests fail rather than crash).
  InferenceResult Get(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.empty()) return {absl::UnknownError("no result for " + id), {}, {}};
    return it->second.front();
  }
  std::map<std::string, std::vector<InferenceResult>> all() const {
    std::lock_guard lock(mu_);
    return by_id_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<InferenceResult>> by_id_;
  size_t total_ = 0;
};

}  // namespace peregrine::serving::test_support
