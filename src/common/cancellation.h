// CancellationFlag: set by whoever learns that nobody waits for an answer any more (the client
// disconnected, a generation was stopped); checked by the code doing the work, which then stops early.
// Shared between threads through std::shared_ptr.
#pragma once

#include <atomic>

namespace peregrine {

class CancellationFlag {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace peregrine
