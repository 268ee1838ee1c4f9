#include "engine/constant_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

#include "tensor/tensor.h"

namespace peregrine::engine {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAlign = 64;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

std::shared_ptr<void> AllocateLarge(size_t bytes) {
  if (bytes < kHugePage) return AllocateAligned(bytes);
  const size_t size = RoundUp(bytes, kHugePage);
  // Map one huge page more than needed so that a 2 MiB-aligned start exists inside the mapping.
  const size_t mapped = size + kHugePage;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = RoundUp(reinterpret_cast<uintptr_t>(raw), kHugePage);
  void* aligned = reinterpret_cast<void*>(start);
#ifdef MADV_HUGEPAGE
  madvise(aligned, size, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
  return std::shared_ptr<void>(aligned, [raw, mapped](void*) { munmap(raw, mapped); });
}

void* ConstantArena::Allocate(size_t bytes) {
  const size_t size = RoundUp(bytes == 0 ? 1 : bytes, kAlign);
  if (size > left_) {
    const size_t wanted = size > next_chunk_ ? size : next_chunk_;
    const size_t chunk = wanted >= kHugePage ? RoundUp(wanted, kHugePage) : wanted;
    next_chunk_ = chunk * 2 < kChunkBytes ? chunk * 2 : kChunkBytes;
    chunks_.push_back(AllocateLarge(chunk));
    cursor_ = static_cast<char*>(chunks_.back().get());
    left_ = chunk;
  }
  void* block = cursor_;
  cursor_ += size;
  left_ -= size;
  used_ += size;
  return block;
}

}  // namespace peregrine::engine
