// ConstantArena and AllocateLarge: the memory plans keep reordered weights and activations in.
#include "engine/constant_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace peregrine::engine {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

bool AllZero(const void* p, size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  return std::all_of(bytes, bytes + n, [](unsigned char b) { return b == 0; });
}

TEST(ConstantArenaTest, BlocksAreAlignedZeroedAndDisjoint) {
  ConstantArena arena;
  // Small and odd sizes, one larger than a chunk, then small again (a new chunk after the large one).
  const std::vector<size_t> sizes = {1, 3, 64, 100, 4096, 7 * kMiB + 5, ConstantArena::kChunkBytes + 1, 17, 0};
  std::vector<std::pair<uintptr_t, size_t>> blocks;
  for (size_t n : sizes) {
    void* p = arena.Allocate(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
    EXPECT_TRUE(AllZero(p, n)) << n;
    std::memset(p, 0xab, n);  // must not spill into any other block (checked below)
    blocks.push_back({reinterpret_cast<uintptr_t>(p), std::max<size_t>(n, 1)});
  }
  std::sort(blocks.begin(), blocks.end());
  for (size_t i = 1; i < blocks.size(); ++i) {
    EXPECT_LE(blocks[i - 1].first + blocks[i - 1].second, blocks[i].first) << "blocks overlap";
  }
  EXPECT_GE(arena.bytes_used(), 7 * kMiB + ConstantArena::kChunkBytes);
}

TEST(ConstantArenaTest, LargeAllocationsAreHugePageAligned) {
  std::shared_ptr<void> big = AllocateLarge(5 * kMiB + 1);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.get()) % (2 * kMiB), 0u);
  EXPECT_TRUE(AllZero(big.get(), 5 * kMiB + 1));
  std::memset(big.get(), 1, 5 * kMiB + 1);

  std::shared_ptr<void> small = AllocateLarge(1000);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.get()) % 64, 0u);
  EXPECT_TRUE(AllZero(small.get(), 1000));
}

}  // namespace
}  // namespace peregrine::engine
