#include "engine/kernels/ref/binary_ops.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace peregrine::engine::ref {
namespace {

// Integer arithmetic is done in an unsigned type at least as wide as int, so that overflow wraps
// (as ONNX Runtime and NumPy do) instead of being undefined behaviour.
template <typename T>
using WrapType = std::make_unsigned_t<std::common_type_t<T, int>>;

struct Add {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(WrapType<T>(a) + WrapType<T>(b));
    else return a + b;
  }
};
struct Sub {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(WrapType<T>(a) - WrapType<T>(b));
    else return a - b;
  }
};
struct Mul {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(WrapType<T>(a) * WrapType<T>(b));
    else return a * b;
  }
};
// Integer division truncates toward zero like C. Division by zero gives 0 and MIN / -1 wraps,
// rather than killing the process with SIGFPE.
struct Div {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return Sub::Apply<T>(T(0), a);
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};
// Mod with fmod=1: the result has the sign of the dividend (C fmod / %).
struct ModTruncated {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return 0;
      }
      return static_cast<T>(a % b);
    } else {
      return std::fmod(a, b);
    }
  }
};
// Mod with fmod=0: the result has the sign of the divisor (Python %).
struct ModFloored {
  template <typename T>
  static T Apply(T a, T b) {
    T r = ModTruncated::Apply<T>(a, b);
    if constexpr (std::is_signed_v<T> || std::is_floating_point_v<T>) {
      if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
    }
    return r;
  }
};
struct Max {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(b)) return b;  // NaN propagates like numpy.maximum
    }
    return a < b ? b : a;
  }
};
struct Min {
  template <typename T>
  static T Apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
};
struct PRelu {
  template <typename T>
  static T Apply(T x, T slope) { return x < T(0) ? Mul::Apply<T>(x, slope) : x; }
};
struct Equal {
  template <typename T>
  static bool Apply(T a, T b) { return a == b; }
};
struct Less {
  template <typename T>
  static bool Apply(T a, T b) { return a < b; }
};
struct Greater {
  template <typename T>
  static bool Apply(T a, T b) { return a > b; }
};
struct LessOrEqual {
  template <typename T>
  static bool Apply(T a, T b) { return a <= b; }
};
struct GreaterOrEqual {
  template <typename T>
  static bool Apply(T a, T b) { return a >= b; }
};
struct And {
  static bool Apply(bool a, bool b) { return a && b; }
};
struct Or {
  static bool Apply(bool a, bool b) { return a || b; }
};
struct Xor {
  static bool Apply(bool a, bool b) { return a != b; }
};

// BitShift on unsigned integers; shifting by the bit width or more gives 0 (C++ leaves it undefined).
struct ShiftLeft {
  template <typename T>
  static T Apply(T a, T b) { return b >= T(sizeof(T) * 8) ? T(0) : static_cast<T>(WrapType<T>(a) << b); }
};
struct ShiftRight {
  template <typename T>
  static T Apply(T a, T b) { return b >= T(sizeof(T) * 8) ? T(0) : static_cast<T>(a >> b); }
};

// Integer power by squaring; negative exponents give 1/base^-e truncated (0 unless |base| == 1).
template <typename T, typename E>
T IntPow(T base, E exp) {
  if (exp < E(0)) {
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (base == T(-1)) return (static_cast<int64_t>(exp) & 1) ? T(-1) : T(1);
    }
    return T(0);
  }
  WrapType<T> result = 1, b = static_cast<WrapType<T>>(base);
  for (uint64_t e = static_cast<uint64_t>(exp); e != 0; e >>= 1) {
    if (e & 1) result *= b;
    b *= b;
  }
  return static_cast<T>(result);
}

// Pow: the output has the base's type; the exponent may be any numeric type (opset 12+).
struct Pow {
  template <typename T, typename E>
  static T Apply(T a, E b) {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(std::pow(a, static_cast<T>(b)));
    } else if constexpr (std::is_integral_v<E>) {
      return IntPow(a, b);
    } else {
      const double r = std::pow(static_cast<double>(a), static_cast<double>(b));
      if (!(r >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
            r <= static_cast<double>(std::numeric_limits<T>::max()))) {
        return 0;
      }
      return static_cast<T>(r);
    }
  }
};

template <typename Op, typename A, typename B, typename O>
void BinaryLoop(const void* va, int64_t sa, const void* vb, int64_t sb, void* vo, int64_t n) {
  const A* a = static_cast<const A*>(va);
  const B* b = static_cast<const B*>(vb);
  O* o = static_cast<O*>(vo);
  if (sa != 0 && sb != 0) {
    for (int64_t i = 0; i < n; ++i) o[i] = Op::Apply(a[i], b[i]);
  } else if (sa != 0) {
    const B y = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = Op::Apply(a[i], y);
  } else if (sb != 0) {
    const A x = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = Op::Apply(x, b[i]);
  } else {
    const O v = Op::Apply(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

enum class Family {
  kArith,    // numeric -> same type
  kEqual,    // numeric or bool -> bool
  kOrder,    // numeric -> bool
  kLogic,    // bool -> bool
  kUnsigned, // unsigned integers -> same type
};

template <typename Op, Family F>
BinarySelection Select(DataType type) {
  BinarySelection sel;
  if constexpr (F == Family::kArith) {
    DispatchNumeric(type, [&]<typename T>() { sel = {&BinaryLoop<Op, T, T, T>, type}; });
  } else if constexpr (F == Family::kEqual) {
    DispatchNumericOrBool(type, [&]<typename T>() { sel = {&BinaryLoop<Op, T, T, bool>, DataType::kBool}; });
  } else if constexpr (F == Family::kOrder) {
    DispatchNumeric(type, [&]<typename T>() { sel = {&BinaryLoop<Op, T, T, bool>, DataType::kBool}; });
  } else if constexpr (F == Family::kUnsigned) {
    DispatchUnsignedInt(type, [&]<typename T>() { sel = {&BinaryLoop<Op, T, T, T>, type}; });
  } else {
    if (type == DataType::kBool) sel = {&BinaryLoop<Op, bool, bool, bool>, DataType::kBool};
  }
  return sel;
}

BinarySelection SelectPow(DataType base, DataType exp) {
  BinarySelection sel;
  auto with_base = [&]<typename T>() {
    DispatchNumeric(exp, [&]<typename E>() { sel = {&BinaryLoop<Pow, T, E, T>, base}; });
  };
  if (!DispatchFloat(base, with_base)) {
    if (base == DataType::kInt32) with_base.template operator()<int32_t>();
    if (base == DataType::kInt64) with_base.template operator()<int64_t>();
  }
  return sel;
}

struct Entry {
  const char* name;
  BinarySelection (*select)(DataType);
};

const Entry kOps[] = {
    {"Add", &Select<Add, Family::kArith>},
    {"Sub", &Select<Sub, Family::kArith>},
    {"Mul", &Select<Mul, Family::kArith>},
    {"Div", &Select<Div, Family::kArith>},
    {"Max", &Select<Max, Family::kArith>},
    {"Min", &Select<Min, Family::kArith>},
    {"PRelu", &Select<PRelu, Family::kArith>},
    {"Equal", &Select<Equal, Family::kEqual>},
    {"Less", &Select<Less, Family::kOrder>},
    {"Greater", &Select<Greater, Family::kOrder>},
    {"LessOrEqual", &Select<LessOrEqual, Family::kOrder>},
    {"GreaterOrEqual", &Select<GreaterOrEqual, Family::kOrder>},
    {"And", &Select<And, Family::kLogic>},
    {"Or", &Select<Or, Family::kLogic>},
    {"Xor", &Select<Xor, Family::kLogic>},
    {"BitShiftLeft", &Select<ShiftLeft, Family::kUnsigned>},    // BitShift direction=LEFT
    {"BitShiftRight", &Select<ShiftRight, Family::kUnsigned>},  // BitShift direction=RIGHT
};

}  // namespace

BinarySelection SelectBinary(std::string_view op, DataType a, DataType b, bool fmod) {
  if (op == "Pow") return SelectPow(a, b);
  if (a != b) return {};
  if (op == "Mod") return fmod ? Select<ModTruncated, Family::kArith>(a) : Select<ModFloored, Family::kArith>(a);
  for (const Entry& e : kOps) {
    if (op == e.name) return e.select(a);
  }
  return {};
}

void RunBinary(const StridedPlan& plan, BinaryFn fn, size_t a_size, size_t b_size, size_t o_size, const void* a,
               const void* b, void* o, int threads) {
  const int64_t sa = plan.InnerStride(0);
  const int64_t sb = plan.InnerStride(1);
  ForEachRowChunk(plan, threads, [&](int64_t row, int64_t begin, int64_t end) {
    const char* pa = static_cast<const char*>(a) + (plan.RowOffset(0, row) + begin * sa) * static_cast<int64_t>(a_size);
    const char* pb = static_cast<const char*>(b) + (plan.RowOffset(1, row) + begin * sb) * static_cast<int64_t>(b_size);
    char* po = static_cast<char*>(o) + (row * plan.inner + begin) * static_cast<int64_t>(o_size);
    fn(pa, sa, pb, sb, po, end - begin);
  });
}

}  // namespace peregrine::engine::ref
