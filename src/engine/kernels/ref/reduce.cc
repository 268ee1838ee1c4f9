// Reduce* kernels (Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp). Reduced and
// kept dimensions are collapsed at compile time; a single reduced run [outer, R, inner] (the usual
// case) takes a blocked fast path, anything else a general odometer path.
#include <algorithm>
#include <cmath>
#include <optional>
#include <limits>
#include <memory>
#include <type_traits>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine::ref {
namespace {

// Sums accumulate in double (floats) or 64-bit integers so that long reductions stay accurate.
template <typename T>
using WideAcc = std::conditional_t<std::is_floating_point_v<T>, double,
                                   std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename T>
struct RSum {
  using Acc = WideAcc<T>;
  static Acc Init() { return 0; }
  static Acc Step(Acc a, T x) { return a + static_cast<Acc>(x); }
  static Acc Merge(Acc a, Acc b) { return a + b; }
  static T Final(Acc a, int64_t) { return static_cast<T>(a); }
};
template <typename T>
struct RMean : RSum<T> {
  static T Final(WideAcc<T> a, int64_t n) {
    if constexpr (std::is_integral_v<T>) {
      if (n == 0) return 0;
    }
    return static_cast<T>(a / static_cast<WideAcc<T>>(n));
  }
};
template <typename T>
struct RProd {
  using Acc = WideAcc<T>;
  static Acc Init() { return 1; }
  static Acc Step(Acc a, T x) { return a * static_cast<Acc>(x); }
  static Acc Merge(Acc a, Acc b) { return a * b; }
  static T Final(Acc a, int64_t) { return static_cast<T>(a); }
};
template <typename T>
struct RMax {
  using Acc = T;
  static Acc Init() {
    if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::lowest();
  }
  static Acc Step(Acc a, T x) { return x > a || x != x ? x : a; }
  static Acc Merge(Acc a, Acc b) { return Step(a, b); }
  static T Final(Acc a, int64_t) { return a; }
};
template <typename T>
struct RMin {
  using Acc = T;
  static Acc Init() {
    if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::max();
  }
  static Acc Step(Acc a, T x) { return x < a || x != x ? x : a; }
  static Acc Merge(Acc a, Acc b) { return Step(a, b); }
  static T Final(Acc a, int64_t) { return a; }
};
template <typename T>
struct RL1 : RSum<T> {
  static WideAcc<T> Step(WideAcc<T> a, T x) {
    const WideAcc<T> v = static_cast<WideAcc<T>>(x);
    if constexpr (std::is_unsigned_v<T>) return a + v;
    else return a + (v < 0 ? -v : v);
  }
};
template <typename T>
struct RSumSquare : RSum<T> {
  static WideAcc<T> Step(WideAcc<T> a, T x) { return a + static_cast<WideAcc<T>>(x) * static_cast<WideAcc<T>>(x); }
};
template <typename T>
struct RL2 : RSumSquare<T> {
  static T Final(WideAcc<T> a, int64_t) { return static_cast<T>(std::sqrt(static_cast<double>(a))); }
};
template <typename T>
struct RLogSum : RSum<T> {
  static T Final(WideAcc<T> a, int64_t) { return static_cast<T>(std::log(static_cast<double>(a))); }
};
template <typename T>
struct RLogSumExp {
  using Acc = double;
  static Acc Init() { return 0; }
  static Acc Step(Acc a, T x) { return a + std::exp(static_cast<double>(x)); }
  static Acc Merge(Acc a, Acc b) { return a + b; }
  static T Final(Acc a, int64_t) { return static_cast<T>(std::log(a)); }
};

// Collapsed description of a reduction.
struct ReducePlan {
  bool single = true;          // one reduced run: data is [outer, reduced, inner]
  int64_t outer = 1, reduced = 1, inner = 1;
  // General case: kept and reduced dims with their data strides.
  std::vector<int64_t> kept_dims, kept_strides, red_dims, red_strides;
  int64_t out_count = 0;
};

template <typename T, template <typename> class R>
class ReduceKernel : public Kernel {
 public:
  ReduceKernel(ReducePlan plan, int threads) : p_(std::move(plan)), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* in = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    if (p_.single) RunSingle(in, out);
    else RunGeneral(in, out);
    return absl::OkStatus();
  }

 private:
  using Acc = typename R<T>::Acc;
  static constexpr int64_t kBlock = 64;

  // Accumulates kBlock inner positions at a time so the innermost loop is contiguous.
  void RunSingle(const T* in, T* out) const {
    if (p_.inner == 1) return RunContiguous(in, out);
    const int64_t blocks = (p_.inner + kBlock - 1) / kBlock;
    ParallelFor(p_.outer * blocks, p_.outer * p_.reduced * p_.inner, threads_, [&](int64_t task) {
      const int64_t o = task / blocks;
      const int64_t i0 = (task % blocks) * kBlock;
      const int64_t n = std::min(kBlock, p_.inner - i0);
      Acc acc[kBlock];
      for (int64_t i = 0; i < n; ++i) acc[i] = R<T>::Init();
      const T* src = in + o * p_.reduced * p_.inner + i0;
      for (int64_t r = 0; r < p_.reduced; ++r, src += p_.inner) {
        for (int64_t i = 0; i < n; ++i) acc[i] = R<T>::Step(acc[i], src[i]);
      }
      T* dst = out + o * p_.inner + i0;
      for (int64_t i = 0; i < n; ++i) dst[i] = R<T>::Final(acc[i], p_.reduced);
    });
  }

  // Reducing contiguous runs: kLanes independent accumulators break the dependency chain of one
  // running sum (about 4x faster; the order of additions changes within rounding).
  void RunContiguous(const T* in, T* out) const {
    constexpr int64_t kLanes = 8;
    ParallelFor(p_.outer, p_.outer * p_.reduced, threads_, [&](int64_t o) {
      Acc lanes[kLanes];
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R<T>::Init();
      const T* src = in + o * p_.reduced;
      int64_t r = 0;
      for (; r + kLanes <= p_.reduced; r += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R<T>::Step(lanes[l], src[r + l]);
      }
      for (; r < p_.reduced; ++r) lanes[0] = R<T>::Step(lanes[0], src[r]);
      Acc acc = lanes[0];
      for (int64_t l = 1; l < kLanes; ++l) acc = R<T>::Merge(acc, lanes[l]);
      out[o] = R<T>::Final(acc, p_.reduced);
    });
  }

  static int64_t Offset(int64_t index, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
    int64_t offset = 0;
    for (size_t d = dims.size(); d-- > 0;) {
      offset += (index % dims[d]) * strides[d];
      index /= dims[d];
    }
    return offset;
  }

  void RunGeneral(const T* in, T* out) const {
    const int64_t red_count = NumElements(p_.red_dims);
    ParallelFor(p_.out_count, p_.out_count * red_count, threads_, [&](int64_t o) {
      const T* base = in + Offset(o, p_.kept_dims, p_.kept_strides);
      Acc acc = R<T>::Init();
      for (int64_t r = 0; r < red_count; ++r) acc = R<T>::Step(acc, base[Offset(r, p_.red_dims, p_.red_strides)]);
      out[o] = R<T>::Final(acc, red_count);
    });
  }

  ReducePlan p_;
  int threads_;
};

ReducePlan MakeReducePlan(const Shape& in, const std::vector<bool>& reduce) {
  ReducePlan p;
  const std::vector<int64_t> strides = RowMajorStrides(in);
  // Merge neighbours of the same kind; size-1 dims are dropped (they change no offset).
  std::vector<int64_t> dims, dim_strides;
  std::vector<bool> kinds;
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1) continue;
    if (!dims.empty() && kinds.back() == reduce[d] && in[d] != 0 && dims.back() != 0) {
      dims.back() *= in[d];
      dim_strides.back() = strides[d];
      continue;
    }
    dims.push_back(in[d]);
    dim_strides.push_back(strides[d]);
    kinds.push_back(reduce[d]);
  }
  int runs = 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (kinds[i] && (i == 0 || !kinds[i - 1])) ++runs;
    (kinds[i] ? p.red_dims : p.kept_dims).push_back(dims[i]);
    (kinds[i] ? p.red_strides : p.kept_strides).push_back(dim_strides[i]);
  }
  p.out_count = NumElements(p.kept_dims);
  p.single = runs <= 1;
  if (p.single) {
    bool seen = false;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (kinds[i]) {
        p.reduced *= dims[i];
        seen = true;
      } else {
        (seen ? p.inner : p.outer) *= dims[i];
      }
    }
  }
  return p;
}

template <template <typename> class R>
absl::Status MakeReduce(const CompileContext& ctx, DataType dtype, ReducePlan plan, CompiledKernel& ck) {
  bool ok = DispatchNumeric(dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<ReduceKernel<T, R>>(std::move(plan), ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(dtype)) + " is not supported");
  return absl::OkStatus();
}

// The reduce axes: input 1 when present (ReduceSum from opset 13, all from 18), else the
// attribute. nullopt when none are given.
absl::StatusOr<std::optional<std::vector<int64_t>>> ReduceAxes(const CompileContext& ctx) {
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, KnownInts(ctx, 1));
    return std::optional<std::vector<int64_t>>(std::move(axes));
  }
  if (ctx.node.has("axes")) return std::optional<std::vector<int64_t>>(ctx.node.GetInts("axes"));
  return std::optional<std::vector<int64_t>>();
}

absl::Status BuildReduce(const CompileContext& ctx, ReducePlan plan, CompiledKernel& ck) {
  const std::string& op = ctx.node.op_type;
  const DataType dtype = ctx.desc(0).dtype;
  if (op == "ReduceSum") return MakeReduce<RSum>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceMean") return MakeReduce<RMean>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceMax") return MakeReduce<RMax>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceMin") return MakeReduce<RMin>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceProd") return MakeReduce<RProd>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceL1") return MakeReduce<RL1>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceL2") return MakeReduce<RL2>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceSumSquare") return MakeReduce<RSumSquare>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceLogSum") return MakeReduce<RLogSum>(ctx, dtype, std::move(plan), ck);
  if (op == "ReduceLogSumExp") return MakeReduce<RLogSumExp>(ctx, dtype, std::move(plan), ck);
  return ctx.Unsupported("unknown reduction");
}

absl::StatusOr<CompiledKernel> ReduceFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 2));
  const TensorDesc& x = ctx.desc(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, ReduceAxes(ctx));
  const bool keepdims = ctx.node.GetInt("keepdims", 1) != 0;
  CompiledKernel ck;
  if ((!axes.has_value() || axes->empty()) && ctx.node.GetInt("noop_with_empty_axes", 0) != 0) {
    ck.kernel = std::make_unique<ElementCopyKernel>(x.dtype, Count(x.shape));
    ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
    ck.alias_input = 0;
    return ck;
  }
  std::vector<bool> reduce(x.shape.size(), !axes.has_value() || axes->empty());
  if (axes.has_value()) {
    ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(ctx, *axes, rank));
    for (int64_t a : norm) reduce[static_cast<size_t>(a)] = true;
  }
  Shape out;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (!reduce[d]) out.push_back(x.shape[d]);
    else if (keepdims) out.push_back(1);
  }
  RETURN_IF_ERROR(BuildReduce(ctx, MakeReducePlan(x.shape, reduce), ck));
  ck.outputs.push_back(PlainDesc(x.dtype, std::move(out)));
  return WithPostOps(ctx, std::move(ck));
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& registry) {
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}) {
    registry.Register({op, &ReduceFactory, kPriorityRef, {1}});
  }
}

}  // namespace peregrine::engine::ref

namespace peregrine::engine {

void RegisterRefReduceKernels(KernelRegistry& registry) {
  ref::RegisterReductionKernels(registry);
  ref::RegisterArgKernels(registry);
}

}  // namespace peregrine::engine
