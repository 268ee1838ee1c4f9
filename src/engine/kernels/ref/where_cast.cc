// Where (three-way broadcast select) and Cast / CastLike (every pair of numeric, bool, float16 and
// bfloat16 types).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/strided.h"

namespace peregrine::engine::ref {
namespace {

template <typename T>
class WhereKernel : public Kernel {
 public:
  WhereKernel(StridedPlan plan, int threads) : plan_(std::move(plan)), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const bool* c = ctx.input_as<bool>(0);
    const T* x = ctx.input_as<T>(1);
    const T* y = ctx.input_as<T>(2);
    T* o = ctx.output_as<T>(0);
    const int64_t sc = plan_.InnerStride(0), sx = plan_.InnerStride(1), sy = plan_.InnerStride(2);
    ForEachRowChunk(plan_, threads_, [&](int64_t row, int64_t begin, int64_t end) {
      const bool* pc = c + plan_.RowOffset(0, row) + begin * sc;
      const T* px = x + plan_.RowOffset(1, row) + begin * sx;
      const T* py = y + plan_.RowOffset(2, row) + begin * sy;
      T* po = o + row * plan_.inner;
      for (int64_t i = 0; i < end - begin; ++i) po[begin + i] = pc[i * sc] ? px[i * sx] : py[i * sy];
    });
    return absl::OkStatus();
  }

 private:
  StridedPlan plan_;
  int threads_;
};

absl::StatusOr<CompiledKernel> WhereFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 3, 3));
  const TensorDesc& c = ctx.desc(0);
  const TensorDesc& x = ctx.desc(1);
  const TensorDesc& y = ctx.desc(2);
  if (c.dtype != DataType::kBool) return ctx.Invalid("condition must be bool");
  if (x.dtype != y.dtype) return ctx.Invalid("X and Y must have the same type");
  ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, {c.shape, x.shape, y.shape}));
  CompiledKernel ck;
  const bool ok = DispatchBySize(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<WhereKernel<T>>(MakeBroadcastPlan(out, {c.shape, x.shape, y.shape}), ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, out));
  return WithPostOps(ctx, std::move(ck));
}

// 16-bit floating-point storage types, converted through float.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

float ToFloat(Half h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1fu;
  const uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}
float ToFloat(BFloat16 b) { return std::bit_cast<float>(static_cast<uint32_t>(b.bits) << 16); }

// Round to nearest even, overflow to infinity, NaN stays NaN.
Half ToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return {static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u))};
  if (abs >= 0x477ff000u) return {static_cast<uint16_t>(sign | 0x7c00u)};
  if (abs < 0x38800000u) {  // below the smallest normal half: count units of 2^-24
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;
    return {static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(scaled)))};
  }
  abs += 0xfffu + ((abs >> 13) & 1u);
  abs -= 112u << 23;
  return {static_cast<uint16_t>(sign | (abs >> 13))};
}
// Truncates the low 16 bits, as the ONNX reference of opsets 7-17 (and its backend test data) does;
// newer ONNX releases round to nearest even instead. NaN stays NaN.
BFloat16 ToBFloat16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return {static_cast<uint16_t>((x >> 16) | 0x40u)};
  return {static_cast<uint16_t>(x >> 16)};
}

template <typename T>
constexpr bool kIs16BitFloat = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// Float to integer truncates toward zero; NaN gives 0 and out-of-range values saturate, where C++
// would have undefined behaviour.
template <typename To, typename From>
To SaturatingCast(From x) {
  if (std::isnan(x)) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<To>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
  if (static_cast<double>(x) <= lo) return std::numeric_limits<To>::lowest();
  if (static_cast<double>(x) >= hi) return std::numeric_limits<To>::max();
  return static_cast<To>(x);
}

template <typename To, typename From>
To Convert(From x) {
  if constexpr (kIs16BitFloat<From>) {
    return Convert<To>(ToFloat(x));
  } else if constexpr (std::is_same_v<To, Half>) {
    return ToHalf(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return ToBFloat16(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    return SaturatingCast<To>(x);
  } else {
    return static_cast<To>(x);
  }
}

using CastFn = void (*)(const void* in, void* out, int64_t n);

template <typename From, typename To>
void CastLoop(const void* in, void* out, int64_t n) {
  const From* x = static_cast<const From*>(in);
  To* y = static_cast<To*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = Convert<To>(x[i]);
}

template <typename F>
bool DispatchCastType(DataType type, F&& f) {
  switch (type) {
    case DataType::kFloat16: f.template operator()<Half>(); return true;
    case DataType::kBFloat16: f.template operator()<BFloat16>(); return true;
    default: return DispatchNumericOrBool(type, f);
  }
}

class CastKernel : public Kernel {
 public:
  CastKernel(CastFn fn, int64_t n, size_t in_size, size_t out_size, int threads)
      : fn_(fn), n_(n), in_size_(in_size), out_size_(out_size), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    constexpr int64_t kChunk = int64_t{1} << 14;
    const char* in = static_cast<const char*>(ctx.input(0));
    char* out = static_cast<char*>(ctx.output(0));
    ParallelFor((n_ + kChunk - 1) / kChunk, n_, threads_, [&](int64_t c) {
      const int64_t begin = c * kChunk;
      fn_(in + begin * static_cast<int64_t>(in_size_), out + begin * static_cast<int64_t>(out_size_),
          std::min(kChunk, n_ - begin));
    });
    return absl::OkStatus();
  }

 private:
  CastFn fn_;
  int64_t n_;
  size_t in_size_, out_size_;
  int threads_;
};

absl::StatusOr<CompiledKernel> CastTo(const CompileContext& ctx, DataType to) {
  const TensorDesc& x = ctx.desc(0);
  CompiledKernel ck;
  ck.outputs.push_back(PlainDesc(to, x.shape));
  if (x.dtype == to) {
    ck.kernel = std::make_unique<ElementCopyKernel>(to, Count(x.shape));
    ck.alias_input = 0;
    return ck;
  }
  CastFn fn = nullptr;
  DispatchCastType(x.dtype, [&]<typename From>() {
    DispatchCastType(to, [&]<typename To>() { fn = &CastLoop<From, To>; });
  });
  if (fn == nullptr) {
    return ctx.Unsupported("cast from " + std::string(DataTypeName(x.dtype)) + " to " +
                           std::string(DataTypeName(to)) + " is not supported");
  }
  ck.kernel = std::make_unique<CastKernel>(fn, Count(x.shape), ElementSize(x.dtype), ElementSize(to), ctx.threads);
  if (ElementSize(x.dtype) == ElementSize(to)) ck.alias_input = 0;
  return ck;
}

absl::StatusOr<CompiledKernel> CastFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  if (!ctx.node.has("to")) return ctx.Invalid("attribute 'to' is required");
  const int64_t to = ctx.node.GetInt("to", 0);
  if (to > INT32_MAX || to < 0 || !IsSupported(static_cast<int32_t>(to))) {
    return ctx.Unsupported("cast to type " + std::to_string(to) + " is not supported");
  }
  return CastTo(ctx, static_cast<DataType>(to));
}

absl::StatusOr<CompiledKernel> CastLikeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  return CastTo(ctx, ctx.desc(1).dtype);
}

}  // namespace

void RegisterWhereCastKernels(KernelRegistry& registry) {
  registry.Register({"Where", &WhereFactory, kPriorityRef, {}});
  registry.Register({"Cast", &CastFactory, kPriorityRef, {}});
  registry.Register({"CastLike", &CastLikeFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
