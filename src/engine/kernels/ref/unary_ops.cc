#include "engine/kernels/ref/unary_ops.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Which element types an op accepts.
enum class Family { kFloat, kSigned, kNumeric, kBool };

// A plain loop the compiler can vectorize (it versions for in == out itself).
template <typename Op, typename T>
void UnaryLoop(const void* in, void* out, int64_t n, const UnaryParams& p) {
  const T* x = static_cast<const T*>(in);
  T* y = static_cast<T*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = Op::Apply(x[i], p);
}

template <typename Op, Family F>
UnaryFn Select(DataType type) {
  UnaryFn fn = nullptr;
  auto pick = [&]<typename T>() { fn = &UnaryLoop<Op, T>; };
  if constexpr (F == Family::kFloat) {
    DispatchFloat(type, pick);
  } else if constexpr (F == Family::kSigned) {
    if (!DispatchFloat(type, pick)) DispatchSignedInt(type, pick);
  } else if constexpr (F == Family::kNumeric) {
    DispatchNumeric(type, pick);
  } else {
    if (type == DataType::kBool) pick.template operator()<bool>();
  }
  return fn;
}

// Defines a float-only op `Name` computing `expr` from x (type T) and p (UnaryParams).
#define PEREGRINE_FLOAT_UNARY(Name, expr)                         \
  struct Name {                                                   \
    template <typename T>                                         \
    static T Apply(T x, const UnaryParams& p) {                   \
      (void)p;                                                    \
      return static_cast<T>(expr);                                \
    }                                                             \
  };

PEREGRINE_FLOAT_UNARY(Sqrt, std::sqrt(x))
PEREGRINE_FLOAT_UNARY(Exp, std::exp(x))
PEREGRINE_FLOAT_UNARY(Log, std::log(x))
PEREGRINE_FLOAT_UNARY(Erf, std::erf(x))
PEREGRINE_FLOAT_UNARY(Reciprocal, T(1) / x)
PEREGRINE_FLOAT_UNARY(Floor, std::floor(x))
PEREGRINE_FLOAT_UNARY(Ceil, std::ceil(x))
PEREGRINE_FLOAT_UNARY(Round, std::nearbyint(x))  // default rounding mode: half to even, as ONNX wants
PEREGRINE_FLOAT_UNARY(Sigmoid, T(1) / (T(1) + std::exp(-x)))
PEREGRINE_FLOAT_UNARY(Tanh, std::tanh(x))
PEREGRINE_FLOAT_UNARY(Softplus, x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)))
PEREGRINE_FLOAT_UNARY(Softsign, x / (T(1) + std::abs(x)))
PEREGRINE_FLOAT_UNARY(LeakyRelu, x < T(0) ? T(p.alpha) * x : x)
PEREGRINE_FLOAT_UNARY(Elu, x < T(0) ? T(p.alpha) * (std::exp(x) - T(1)) : x)
PEREGRINE_FLOAT_UNARY(Selu, x > T(0) ? T(p.gamma) * x : T(p.gamma) * (T(p.alpha) * (std::exp(x) - T(1))))
PEREGRINE_FLOAT_UNARY(Celu, std::max(T(0), x) + std::min(T(0), T(p.alpha) * (std::exp(x / T(p.alpha)) - T(1))))
PEREGRINE_FLOAT_UNARY(HardSigmoid, std::max(T(0), std::min(T(1), T(p.alpha) * x + T(p.beta))))
PEREGRINE_FLOAT_UNARY(HardSwish, x* std::max(T(0), std::min(T(1), x / T(6) + T(0.5))))
PEREGRINE_FLOAT_UNARY(ThresholdedRelu, x > T(p.alpha) ? x : T(0))
PEREGRINE_FLOAT_UNARY(Mish, x* std::tanh(x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x))))
PEREGRINE_FLOAT_UNARY(Shrink, x < -T(p.alpha) ? x + T(p.beta) : (x > T(p.alpha) ? x - T(p.beta) : T(0)))
PEREGRINE_FLOAT_UNARY(ClipPostOp, std::min(std::max(x, T(p.alpha)), T(p.beta)))
PEREGRINE_FLOAT_UNARY(Sin, std::sin(x))
PEREGRINE_FLOAT_UNARY(Cos, std::cos(x))
PEREGRINE_FLOAT_UNARY(Tan, std::tan(x))
PEREGRINE_FLOAT_UNARY(Asin, std::asin(x))
PEREGRINE_FLOAT_UNARY(Acos, std::acos(x))
PEREGRINE_FLOAT_UNARY(Atan, std::atan(x))
PEREGRINE_FLOAT_UNARY(Sinh, std::sinh(x))
PEREGRINE_FLOAT_UNARY(Cosh, std::cosh(x))
PEREGRINE_FLOAT_UNARY(Asinh, std::asinh(x))
PEREGRINE_FLOAT_UNARY(Acosh, std::acosh(x))
PEREGRINE_FLOAT_UNARY(Atanh, std::atanh(x))
#undef PEREGRINE_FLOAT_UNARY

struct Abs {
  template <typename T>
  static T Apply(T x, const UnaryParams&) {
    if constexpr (std::is_unsigned_v<T>) {
      return x;
    } else {
      return x < T(0) ? static_cast<T>(-x) : x;
    }
  }
};
struct Neg {
  template <typename T>
  static T Apply(T x, const UnaryParams&) {
    if constexpr (std::is_integral_v<T>) {
      // Wraps like two's complement (-INT_MIN == INT_MIN) without signed-overflow UB.
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(U(0) - static_cast<U>(x));
    } else {
      return -x;
    }
  }
};
struct Sign {
  template <typename T>
  static T Apply(T x, const UnaryParams&) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) return x;
    }
    return static_cast<T>((T(0) < x) - (x < T(0)));
  }
};
struct Relu {
  template <typename T>
  static T Apply(T x, const UnaryParams&) { return x < T(0) ? T(0) : x; }
};
struct Not {
  static bool Apply(bool x, const UnaryParams&) { return !x; }
};

constexpr float kSeluAlpha = 1.67326319217681884765625f;
constexpr float kSeluGamma = 1.05070102214813232421875f;

const UnaryOpInfo kOps[] = {
    {"Abs", &Select<Abs, Family::kNumeric>, {}, true},
    {"Neg", &Select<Neg, Family::kSigned>, {}, true},
    {"Sign", &Select<Sign, Family::kNumeric>, {}, true},
    {"Relu", &Select<Relu, Family::kSigned>, {}, true},
    {"Not", &Select<Not, Family::kBool>, {}, true},
    {"Sqrt", &Select<Sqrt, Family::kFloat>, {}, true},
    {"Exp", &Select<Exp, Family::kFloat>, {}, true},
    {"Log", &Select<Log, Family::kFloat>, {}, true},
    {"Erf", &Select<Erf, Family::kFloat>, {}, true},
    {"Reciprocal", &Select<Reciprocal, Family::kFloat>, {}, true},
    {"Floor", &Select<Floor, Family::kFloat>, {}, true},
    {"Ceil", &Select<Ceil, Family::kFloat>, {}, true},
    {"Round", &Select<Round, Family::kFloat>, {}, true},
    {"Sigmoid", &Select<Sigmoid, Family::kFloat>, {}, true},
    {"Tanh", &Select<Tanh, Family::kFloat>, {}, true},
    {"Softplus", &Select<Softplus, Family::kFloat>, {}, true},
    {"Softsign", &Select<Softsign, Family::kFloat>, {}, true},
    {"LeakyRelu", &Select<LeakyRelu, Family::kFloat>, {0.01f, 0, 0}, true},
    {"Elu", &Select<Elu, Family::kFloat>, {1.0f, 0, 0}, true},
    {"Selu", &Select<Selu, Family::kFloat>, {kSeluAlpha, 0, kSeluGamma}, true},
    {"Celu", &Select<Celu, Family::kFloat>, {1.0f, 0, 0}, true},
    {"HardSigmoid", &Select<HardSigmoid, Family::kFloat>, {0.2f, 0.5f, 0}, true},
    {"HardSwish", &Select<HardSwish, Family::kFloat>, {}, true},
    {"ThresholdedRelu", &Select<ThresholdedRelu, Family::kFloat>, {1.0f, 0, 0}, true},
    {"Mish", &Select<Mish, Family::kFloat>, {}, true},
    {"Shrink", &Select<Shrink, Family::kFloat>, {0.5f, 0, 0}, true},  // alpha = lambd, beta = bias
    {"Sin", &Select<Sin, Family::kFloat>, {}, true},
    {"Cos", &Select<Cos, Family::kFloat>, {}, true},
    {"Tan", &Select<Tan, Family::kFloat>, {}, true},
    {"Asin", &Select<Asin, Family::kFloat>, {}, true},
    {"Acos", &Select<Acos, Family::kFloat>, {}, true},
    {"Atan", &Select<Atan, Family::kFloat>, {}, true},
    {"Sinh", &Select<Sinh, Family::kFloat>, {}, true},
    {"Cosh", &Select<Cosh, Family::kFloat>, {}, true},
    {"Asinh", &Select<Asinh, Family::kFloat>, {}, true},
    {"Acosh", &Select<Acosh, Family::kFloat>, {}, true},
    {"Atanh", &Select<Atanh, Family::kFloat>, {}, true},
    // Clip as a fused post-op: alpha = min, beta = max. The Clip op itself has its own kernel.
    {"Clip", &Select<ClipPostOp, Family::kFloat>, {-INFINITY, INFINITY, 0}, false},
};

}  // namespace

const UnaryOpInfo* FindUnaryOp(std::string_view name) {
  for (const UnaryOpInfo& op : kOps) {
    if (name == op.name) return &op;
  }
  return nullptr;
}

const UnaryOpInfo* UnaryOps(size_t* count) {
  *count = sizeof(kOps) / sizeof(kOps[0]);
  return kOps;
}

}  // namespace peregrine::engine::ref
