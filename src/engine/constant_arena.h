// Memory a plan fills once at compile time and reads on every run: weights reordered into oneDNN
// layouts, constants converted to blocked layouts. Also the allocator for the plan's activation arena.
//
// Why not plain malloc: a ResNet-sized model reads hundreds of MB of weights per run, every byte
// once, so each run walks the whole weight set through the TLB. In 4 KiB pages that is a page walk
// every 4 KiB of streamed weights (tens of thousands per run); in 2 MiB transparent huge pages it is
// a few hundred. Linux here grants huge pages only to regions that ask (THP "madvise" mode), so the
// arena maps 2 MiB-aligned chunks and madvises them. Where the kernel refuses, the memory is just
// ordinary pages: correctness never depends on it.
//
// Allocate() bump-allocates 64-byte aligned blocks from chunks; blocks live until the arena is destroyed
// (no per-block free). Memory comes zeroed. Chunks start small (ordinary pages) and double up to
// kChunkBytes, so a plan with little constant data - the many plans of a small model, one per input
// shape - does not each hold a whole huge page. Not thread-safe: one plan
// is compiled by one thread.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace peregrine::engine {

// `bytes` of zeroed memory, 2 MiB aligned and advised for transparent huge pages when at least
// 2 MiB (smaller requests are cheaper as ordinary 64-byte aligned memory). Throws std::bad_alloc.
std::shared_ptr<void> AllocateLarge(size_t bytes);

class ConstantArena {
 public:
  static constexpr size_t kFirstChunkBytes = size_t{256} << 10;
  static constexpr size_t kChunkBytes = size_t{16} << 20;  // the largest chunk, unless one block is larger

  ConstantArena() = default;
  ConstantArena(const ConstantArena&) = delete;
  ConstantArena& operator=(const ConstantArena&) = delete;

  // A 64-byte aligned block of `bytes` (at least one byte). Throws std::bad_alloc.
  void* Allocate(size_t bytes);
  // Bytes handed out so far (alignment padding included).
  size_t bytes_used() const { return used_; }

 private:
  std::vector<std::shared_ptr<void>> chunks_;
  char* cursor_ = nullptr;
  size_t left_ = 0;
  size_t used_ = 0;
  size_t next_chunk_ = kFirstChunkBytes;
};

}  // namespace peregrine::engine
