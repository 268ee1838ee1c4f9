#include "engine/shared_constants.h"

#include <cstring>
#include <string_view>

#include "absl/hash/hash.h"
#include "tensor/tensor.h"

namespace peregrine::engine {

dnnl::memory SharedConstants::Reorder(const dnnl::engine& engine, dnnl::memory src, const dnnl::memory::desc& dst_md) {
  // Lay the result out in scratch first: whether it is new is known only from its bytes.
  const size_t size = dst_md.get_size();
  std::shared_ptr<void> scratch = AllocateLarge(size);
  dnnl::memory staged(dst_md, engine, scratch.get());
  dnnl::stream stream(engine);
  dnnl::reorder(src, staged).execute(stream, src, staged);
  stream.wait();

  const std::string_view bytes(static_cast<const char*>(scratch.get()), size);
  std::lock_guard lock(mu_);
  std::vector<Block>& candidates = blocks_by_hash_[absl::HashOf(bytes)];
  for (const Block& block : candidates) {
    if (block.size == size && block.md == dst_md && std::memcmp(block.data, bytes.data(), size) == 0) {
      ++reused_;
      return dnnl::memory(dst_md, engine, const_cast<void*>(block.data));
    }
  }
  void* data = arena_.Allocate(size);
  std::memcpy(data, bytes.data(), size);
  candidates.push_back(Block{dst_md, data, size});
  return dnnl::memory(dst_md, engine, data);
}

size_t SharedConstants::bytes() const {
  std::lock_guard lock(mu_);
  return arena_.bytes_used();
}

int64_t SharedConstants::reused() const {
  std::lock_guard lock(mu_);
  return reused_;
}

}  // namespace peregrine::engine
