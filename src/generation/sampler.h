// Picks the next token from a row of logits: greedy (temperature 0) or sampled with temperature,
// top-k and top-p (nucleus) filtering from a seeded generator, so a seed reproduces a generation.
//
// A Sampler keeps its random state and scratch buffers; one per sequence, not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "common/status.h"

namespace peregrine::generation {

struct SamplingParams {
  float temperature = 0.f;  // 0 = greedy (argmax, first index on ties)
  int top_k = 0;            // 0 = no limit
  float top_p = 1.f;        // (0, 1]; 1 = no limit
  uint64_t seed = 0;

  // InvalidArgument naming the parameter when out of range.
  absl::Status Validate() const;
};

// The first index of the largest value, as std::max_element picks it (NaNs are passed over; a NaN first
// element wins), but vectorized: greedy decoding runs it on every row of every step. values non-empty.
int64_t ArgMax(std::span<const float> values);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  int64_t Next(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  std::vector<double> probs_;
};

}  // namespace peregrine::generation
