// SharedConstants: the compile-time constants of all the plans of a session, or of the sessions of
// one model - weights reordered into oneDNN layouts, constants converted to blocked layouts or to
// bfloat16 - each laid out once.
//
// A session compiles one plan per input signature: a text generator under continuous batching has one
// per batch size, a batching server one per batch it forms. Their kernels mostly want the same weights
// in the same layouts. Each plan keeping its own copy multiplies a model's memory by its plan count and
// makes consecutive steps of different batch sizes stream different copies through the caches. Here a
// plan that wants a block equal to one already laid out (same oneDNN descriptor, same bytes) gets that
// block. Blocks are matched by what they hold, not by where they came from, so constants folded or
// converted at compile time share too.
//
// Blocks live as long as the store (plans hold it by shared_ptr, so it outlives every plan that reads
// it): a plan evicted from the session's cache leaves its blocks for the next plan of that shape.
// Thread-safe: the sessions of a model's instances share one store and compile plans concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/constant_arena.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace peregrine::engine {

class SharedConstants {
 public:
  SharedConstants() = default;
  SharedConstants(const SharedConstants&) = delete;
  SharedConstants& operator=(const SharedConstants&) = delete;

  // `src` reordered into `dst_md`: memory over a block with equal descriptor and bytes when there is
  // one, else over a new block. The data of `src` is only read during the call. Throws dnnl::error and
  // std::bad_alloc.
  dnnl::memory Reorder(const dnnl::engine& engine, dnnl::memory src, const dnnl::memory::desc& dst_md);

  // Bytes of the distinct blocks held.
  size_t bytes() const;
  // Reorder() calls answered with an existing block.
  int64_t reused() const;

 private:
  struct Block {
    dnnl::memory::desc md;
    const void* data;
    size_t size;
  };

  mutable std::mutex mu_;  // guards the members below; reorders run outside it
  ConstantArena arena_;
  absl::flat_hash_map<size_t, std::vector<Block>> blocks_by_hash_;  // hash of the bytes
  int64_t reused_ = 0;
};

}  // namespace peregrine::engine
