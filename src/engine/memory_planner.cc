#include "engine/memory_planner.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace peregrine::engine {
namespace {

size_t AlignUp(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool Overlap(const BufferLifetime& a, const BufferLifetime& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

MemoryPlan PlanMemory(const std::vector<BufferLifetime>& buffers) {
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });

  std::vector<size_t> placed;
  for (size_t id : order) {
    const size_t size = AlignUp(buffers[id].bytes);
    // Occupied ranges among already placed buffers that are alive at the same time, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t other : placed) {
      if (Overlap(buffers[id], buffers[other])) {
        busy.push_back({plan.offsets[other], plan.offsets[other] + AlignUp(buffers[other].bytes)});
      }
    }
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds the buffer; else the end.
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= size && begin - cursor < best_gap) {
        best = cursor;
        best_gap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[id] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + size);
    placed.push_back(id);
  }
  return plan;
}

}  // namespace peregrine::engine
