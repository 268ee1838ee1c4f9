// SharedConstants: a block is shared exactly when its descriptor and bytes are equal.
#include "engine/shared_constants.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

namespace peregrine::engine {
namespace {

using dnnl::memory;

const dnnl::engine& Cpu() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::desc Plain(memory::dims dims) {
  return memory::desc(dims, memory::data_type::f32, dims.size() == 2 ? memory::format_tag::ab : memory::format_tag::a);
}

memory Over(std::vector<float>& data, const memory::desc& md) { return memory(md, Cpu(), data.data()); }

std::vector<float> Iota(size_t n, float start) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(SharedConstantsTest, EqualBlocksAreLaidOutOnce) {
  SharedConstants store;
  const memory::desc md = Plain({4, 8});
  std::vector<float> weights = Iota(32, 1), copy = weights;
  memory first = store.Reorder(Cpu(), Over(weights, md), md);
  const size_t bytes = store.bytes();
  memory second = store.Reorder(Cpu(), Over(copy, md), md);  // other memory, same bytes
  EXPECT_EQ(first.get_data_handle(), second.get_data_handle());
  EXPECT_EQ(store.bytes(), bytes);
  EXPECT_EQ(store.reused(), 1);
  EXPECT_NE(first.get_data_handle(), static_cast<void*>(weights.data()));  // the store's own copy
  EXPECT_EQ(std::memcmp(first.get_data_handle(), weights.data(), md.get_size()), 0);
}

TEST(SharedConstantsTest, OtherBytesOrLayoutsGetTheirOwnBlock) {
  SharedConstants store;
  const memory::desc md = Plain({4, 8});
  std::vector<float> weights = Iota(32, 1), changed = weights;
  changed[31] += 1;
  memory a = store.Reorder(Cpu(), Over(weights, md), md);
  memory b = store.Reorder(Cpu(), Over(changed, md), md);
  EXPECT_NE(a.get_data_handle(), b.get_data_handle());
  EXPECT_EQ(static_cast<const float*>(b.get_data_handle())[31], changed[31]);

  // The same values transposed ([8, 4] read column-major): same bytes count, other layout.
  const memory::desc transposed(memory::dims{4, 8}, memory::data_type::f32, memory::format_tag::ba);
  memory c = store.Reorder(Cpu(), Over(weights, md), transposed);
  EXPECT_NE(c.get_data_handle(), a.get_data_handle());
  EXPECT_EQ(static_cast<const float*>(c.get_data_handle())[1], weights[8]);  // element (1, 0)

  // The same bytes under another shape are another block too.
  const memory::desc flat = Plain({32});
  memory d = store.Reorder(Cpu(), Over(weights, flat), flat);
  EXPECT_NE(d.get_data_handle(), a.get_data_handle());
  EXPECT_EQ(store.reused(), 0);
}

TEST(SharedConstantsTest, ASourceFreedAfterTheCallDoesNotMatter) {
  SharedConstants store;
  const memory::desc md = Plain({64});
  void* kept = nullptr;
  {
    std::vector<float> temporary = Iota(64, 0);
    kept = store.Reorder(Cpu(), Over(temporary, md), md).get_data_handle();
  }
  std::vector<float> other = Iota(64, 100);  // may reuse the freed address; the block must not match
  memory fresh = store.Reorder(Cpu(), Over(other, md), md);
  EXPECT_NE(fresh.get_data_handle(), kept);
  EXPECT_EQ(static_cast<const float*>(kept)[63], 63.0f);
  EXPECT_EQ(static_cast<const float*>(fresh.get_data_handle())[63], 163.0f);
}

// The sessions of a model's instances share a store and compile plans on their own threads.
TEST(SharedConstantsTest, ConcurrentCallersGetOneBlock) {
  SharedConstants store;
  const memory::desc md = Plain({256});
  constexpr int kThreads = 4, kCalls = 50;
  std::vector<std::vector<void*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> weights = Iota(256, 0);  // each thread its own source memory
      for (int i = 0; i < kCalls; ++i) seen[t].push_back(store.Reorder(Cpu(), Over(weights, md), md).get_data_handle());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& handles : seen) {
    for (void* handle : handles) EXPECT_EQ(handle, seen[0][0]);
  }
  EXPECT_EQ(store.reused(), kThreads * kCalls - 1);
  EXPECT_EQ(store.bytes(), md.get_size());
}

}  // namespace
}  // namespace peregrine::engine
