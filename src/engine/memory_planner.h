// Assigns arena offsets to intermediate buffers so that buffers whose lifetimes overlap never share
// bytes and buffers whose lifetimes do not overlap may. Lifetimes are inclusive step ranges.
#pragma once

#include <cstddef>
#include <vector>

namespace peregrine::engine {

inline constexpr size_t kArenaAlignment = 64;

struct BufferLifetime {
  size_t bytes = 0;
  int first_step = 0;  // step that writes it first
  int last_step = 0;   // last step that reads it
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per buffer, multiples of kArenaAlignment
  size_t arena_bytes = 0;
};

// Greedy best fit, largest buffers first: near-optimal for the chain-like graphs of real models.
MemoryPlan PlanMemory(const std::vector<BufferLifetime>& buffers);

}  // namespace peregrine::engine
