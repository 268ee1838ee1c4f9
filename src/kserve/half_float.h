// IEEE half (FP16) and bfloat16 (BF16) conversions used by the KServe codec.
//
// Narrowing rounds to nearest, ties to even, straight from double (going through float first would round
// twice and can land on the wrong neighbour). Values too large for the format become infinity; callers that
// must reject overflow check for it with IsInfinite*. Widening to float is exact.
#pragma once

#include <cstdint>
#include <cstring>

namespace peregrine::kserve {

namespace half_float_internal {

// Rounds a finite or infinite double to a binary format with `kExpBits` exponent bits and `kMantBits`
// stored mantissa bits (FP16: 5/10, BF16: 8/7); returns the bit pattern in the low 1+kExpBits+kMantBits bits.
template <int kExpBits, int kMantBits>
inline uint16_t RoundFromDouble(double value) {
  constexpr int kBias = (1 << (kExpBits - 1)) - 1;
  constexpr uint32_t kExpMask = (1u << kExpBits) - 1;
  constexpr uint32_t kInf = kExpMask << kMantBits;
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t sign = static_cast<uint32_t>(bits >> 63) << (kExpBits + kMantBits);
  const int exp = static_cast<int>((bits >> 52) & 0x7ff);
  const uint64_t frac = bits & ((uint64_t{1} << 52) - 1);
  if (exp == 0x7ff) return static_cast<uint16_t>(sign | kInf | (frac != 0 ? (1u << (kMantBits - 1)) : 0u));
  // Double subnormals (and zero) are far below the smallest subnormal of either format: they round to zero.
  if (exp == 0) return static_cast<uint16_t>(sign);
  const int unbiased = exp - 1023;
  if (unbiased > kBias) return static_cast<uint16_t>(sign | kInf);  // beyond the largest binade
  const uint64_t significand = (uint64_t{1} << 52) | frac;          // 53 bits, leading one explicit
  constexpr int kMinExp = 1 - kBias;
  // Bits to drop: the fraction bits the format cannot hold, plus the extra shift of a subnormal result.
  int shift = 52 - kMantBits + (unbiased < kMinExp ? kMinExp - unbiased : 0);
  if (shift > 53) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
  uint64_t q = significand >> shift;
  const uint64_t rem = significand & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  uint32_t result;
  if (unbiased < kMinExp) {
    result = static_cast<uint32_t>(q);  // subnormal; a carry into bit kMantBits makes it the smallest normal
  } else {
    // q holds the implicit one at bit kMantBits; adding it to (biased exponent - 1) lets a rounding carry
    // move into the exponent, which turns the largest finite value + carry into infinity by itself.
    result = (static_cast<uint32_t>(unbiased + kBias - 1) << kMantBits) + static_cast<uint32_t>(q);
  }
  if (result > kInf) result = kInf;
  return static_cast<uint16_t>(sign | result);
}

}  // namespace half_float_internal

inline uint16_t DoubleToFp16Bits(double value) { return half_float_internal::RoundFromDouble<5, 10>(value); }
inline uint16_t DoubleToBf16Bits(double value) { return half_float_internal::RoundFromDouble<8, 7>(value); }

inline bool IsInfiniteOrNanFp16(uint16_t bits) { return (bits & 0x7c00) == 0x7c00; }
inline bool IsInfiniteOrNanBf16(uint16_t bits) { return (bits & 0x7f80) == 0x7f80; }

inline float Bf16BitsToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

inline float Fp16BitsToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  const uint32_t exp = (bits >> 10) & 0x1f;
  uint32_t mant = bits & 0x3ff;
  uint32_t wide;
  if (exp == 0x1f) {
    wide = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    wide = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    wide = sign;
  } else {  // subnormal half: normalise into a float
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400) == 0);
    wide = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

}  // namespace peregrine::kserve
