#include "generation/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace peregrine::generation {

absl::Status SamplingParams::Validate() const {
  if (!(temperature >= 0.f) || !std::isfinite(temperature)) return absl::InvalidArgumentError("temperature must be a finite number >= 0");
  if (top_k < 0) return absl::InvalidArgumentError("top_k must be >= 0");
  if (!(top_p > 0.f && top_p <= 1.f)) return absl::InvalidArgumentError("top_p must be in (0, 1]");
  return absl::OkStatus();
}

int64_t ArgMax(std::span<const float> values) {
  const float* v = values.data();
  const size_t n = values.size();
  if (std::isnan(v[0])) return 0;
  // Pass 1: the largest value. `x > m ? x : m` keeps m when x is NaN, like max_element; maxps(x, m) is
  // exactly that. Pass 2: its first index (+0 and -0 compare equal, as they do for max_element).
  float m = v[0];
  size_t i = 0;
#if defined(__AVX2__)
  if (n >= 32) {
    __m256 m0 = _mm256_set1_ps(m), m1 = m0, m2 = m0, m3 = m0;
    for (; i + 32 <= n; i += 32) {
      m0 = _mm256_max_ps(_mm256_loadu_ps(v + i), m0);
      m1 = _mm256_max_ps(_mm256_loadu_ps(v + i + 8), m1);
      m2 = _mm256_max_ps(_mm256_loadu_ps(v + i + 16), m2);
      m3 = _mm256_max_ps(_mm256_loadu_ps(v + i + 24), m3);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    for (float lane : lanes) m = lane > m ? lane : m;
  }
#endif
  for (; i < n; ++i) m = v[i] > m ? v[i] : m;
  i = 0;
#if defined(__AVX2__)
  const __m256 target = _mm256_set1_ps(m);
  for (; i + 8 <= n; i += 8) {
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + i), target, _CMP_EQ_OQ));
    if (mask != 0) return static_cast<int64_t>(i) + std::countr_zero(static_cast<unsigned>(mask));
  }
#endif
  for (; i < n; ++i) {
    if (v[i] == m) return static_cast<int64_t>(i);
  }
  return 0;  // not reached: v[0] is a number, so m is one of the values
}

int64_t Sampler::Next(std::span<const float> logits) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (params_.temperature == 0.f) return ArgMax(logits);

  // Candidates by descending logit (stable, so ties keep index order), cut to top_k.
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  const int64_t k = params_.top_k > 0 ? std::min<int64_t>(params_.top_k, n) : n;
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  order_.resize(static_cast<size_t>(k));

  // Softmax at the temperature, in double so tiny probabilities do not vanish.
  probs_.resize(order_.size());
  const double top = logits[order_[0]];
  double total = 0;
  for (size_t i = 0; i < order_.size(); ++i) total += probs_[i] = std::exp((logits[order_[i]] - top) / params_.temperature);
  // Nucleus: the smallest prefix whose probability reaches top_p.
  size_t keep = order_.size();
  if (params_.top_p < 1.f) {
    double cumulative = 0;
    for (size_t i = 0; i < order_.size(); ++i) {
      cumulative += probs_[i] / total;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept_total = std::accumulate(probs_.begin(), probs_.begin() + keep, 0.0);
  // Uniform in [0, kept_total) from the 53 high bits: identical on every platform, unlike
  // std::uniform_real_distribution, whose algorithm the standard leaves open.
  double target = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept_total;
  for (size_t i = 0; i < keep; ++i) {
    target -= probs_[i];
    if (target < 0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace peregrine::generation
