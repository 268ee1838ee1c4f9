// Kernels that work along one axis, viewing the input as [outer, n, inner]: ArgMax/ArgMin,
// Softmax, LogSoftmax, Hardmax; and LRN (a window along the channel axis).
#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

template <typename T>
class ArgKernel : public Kernel {
 public:
  ArgKernel(AxisView v, bool is_max, bool last, int threads) : v_(v), is_max_(is_max), last_(last), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* in = ctx.input_as<T>(0);
    int64_t* out = ctx.output_as<int64_t>(0);
    ParallelFor(v_.outer, v_.outer * v_.n * v_.inner, threads_, [&](int64_t o) {
      for (int64_t i = 0; i < v_.inner; ++i) {
        const T* src = in + o * v_.n * v_.inner + i;
        T best = src[0];
        int64_t best_index = 0;
        for (int64_t r = 1; r < v_.n; ++r) {
          const T x = src[r * v_.inner];
          const bool better = is_max_ ? (last_ ? x >= best : x > best) : (last_ ? x <= best : x < best);
          if (better) {
            best = x;
            best_index = r;
          }
        }
        out[o * v_.inner + i] = best_index;
      }
    });
    return absl::OkStatus();
  }

 private:
  AxisView v_;
  bool is_max_, last_;
  int threads_;
};

absl::StatusOr<CompiledKernel> ArgFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return ctx.Invalid("input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", 0), rank));
  if (x.shape[static_cast<size_t>(axis)] == 0) return ctx.Invalid("cannot take an arg-reduction over an empty axis");
  Shape out = x.shape;
  if (ctx.node.GetInt("keepdims", 1) != 0) out[static_cast<size_t>(axis)] = 1;
  else out.erase(out.begin() + axis);
  const bool is_max = ctx.node.op_type == "ArgMax";
  const bool last = ctx.node.GetInt("select_last_index", 0) != 0;
  CompiledKernel ck;
  const bool ok = DispatchNumeric(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<ArgKernel<T>>(ViewAround(x.shape, axis), is_max, last, ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(DataType::kInt64, std::move(out)));
  return ck;
}

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

template <typename T>
class SoftmaxKernel : public Kernel {
 public:
  SoftmaxKernel(AxisView v, SoftmaxKind kind, int threads) : v_(v), kind_(kind), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* in = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    ParallelFor(v_.outer * v_.inner, v_.outer * v_.n * v_.inner, threads_, [&](int64_t task) {
      const int64_t o = task / v_.inner, i = task % v_.inner;
      const int64_t offset = o * v_.n * v_.inner + i;
      Row(in + offset, out + offset);
    });
    return absl::OkStatus();
  }

 private:
  // One softmax row of v_.n elements, v_.inner apart. `x` and `y` may be the same buffer.
  void Row(const T* x, T* y) const {
    const int64_t s = v_.inner, n = v_.n;
    if (n == 0) return;
    T max = x[0];
    int64_t argmax = 0;
    for (int64_t r = 1; r < n; ++r) {
      if (x[r * s] > max) {
        max = x[r * s];
        argmax = r;
      }
    }
    if (kind_ == SoftmaxKind::kHardmax) {
      for (int64_t r = 0; r < n; ++r) y[r * s] = r == argmax ? T(1) : T(0);
      return;
    }
    T sum = 0;
    if (kind_ == SoftmaxKind::kSoftmax) {
      for (int64_t r = 0; r < n; ++r) {
        const T e = std::exp(x[r * s] - max);
        y[r * s] = e;
        sum += e;
      }
      const T scale = T(1) / sum;
      for (int64_t r = 0; r < n; ++r) y[r * s] *= scale;
      return;
    }
    for (int64_t r = 0; r < n; ++r) sum += std::exp(x[r * s] - max);
    const T shift = max + std::log(sum);
    for (int64_t r = 0; r < n; ++r) y[r * s] = x[r * s] - shift;
  }

  AxisView v_;
  SoftmaxKind kind_;
  int threads_;
};

absl::StatusOr<CompiledKernel> SoftmaxFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const bool legacy = ctx.opset < 13;
  int64_t axis = ctx.node.GetInt("axis", legacy ? 1 : -1);
  // Before opset 13 the input is coerced to 2-D [prod(dims < axis), prod(dims >= axis)], and axis
  // may equal rank.
  if (legacy && axis == rank) axis = rank;
  else {
    ASSIGN_OR_RETURN(axis, NormalizeAxis(ctx, axis, std::max<int64_t>(rank, 1)));
  }
  AxisView v;
  if (rank == 0) {
    v = AxisView{};
  } else if (legacy) {
    for (int64_t d = 0; d < rank; ++d) (d < axis ? v.outer : v.n) *= x.shape[static_cast<size_t>(d)];
  } else {
    v = ViewAround(x.shape, axis);
  }
  const std::string& op = ctx.node.op_type;
  const SoftmaxKind kind = op == "Softmax" ? SoftmaxKind::kSoftmax
                           : op == "LogSoftmax" ? SoftmaxKind::kLogSoftmax : SoftmaxKind::kHardmax;
  CompiledKernel ck;
  const bool ok = DispatchFloat(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<SoftmaxKernel<T>>(v, kind, ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  ck.alias_input = 0;
  return WithPostOps(ctx, std::move(ck));
}

// LRN over channels (axis 1): y = x / (bias + alpha / size * sum of squares in the window)^beta.
template <typename T>
class LrnKernel : public Kernel {
 public:
  LrnKernel(AxisView v, int64_t size, T alpha, T beta, T bias, int threads)
      : v_(v), size_(size), alpha_(alpha), beta_(beta), bias_(bias), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* in = ctx.input_as<T>(0);
    T* out = ctx.output_as<T>(0);
    const int64_t before = (size_ - 1) / 2, after = size_ - 1 - before;
    ParallelFor(v_.outer * v_.n, v_.outer * v_.n * v_.inner * size_, threads_, [&](int64_t task) {
      const int64_t o = task / v_.n, c = task % v_.n;
      const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min<int64_t>(v_.n - 1, c + after);
      const T* base = in + o * v_.n * v_.inner;
      T* dst = out + (o * v_.n + c) * v_.inner;
      for (int64_t i = 0; i < v_.inner; ++i) {
        T sum = 0;
        for (int64_t k = lo; k <= hi; ++k) sum += base[k * v_.inner + i] * base[k * v_.inner + i];
        dst[i] = base[c * v_.inner + i] / std::pow(bias_ + alpha_ / static_cast<T>(size_) * sum, beta_);
      }
    });
    return absl::OkStatus();
  }

 private:
  AxisView v_;
  int64_t size_;
  T alpha_, beta_, bias_;
  int threads_;
};

absl::StatusOr<CompiledKernel> LrnFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  if (x.shape.size() < 2) return ctx.Invalid("input must have rank >= 2");
  const int64_t size = ctx.node.GetInt("size", 0);
  if (size <= 0) return ctx.Invalid("attribute 'size' must be positive");
  const float alpha = ctx.node.GetFloat("alpha", 1e-4f), beta = ctx.node.GetFloat("beta", 0.75f);
  const float bias = ctx.node.GetFloat("bias", 1.0f);
  CompiledKernel ck;
  const bool ok = DispatchFloat(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<LrnKernel<T>>(ViewAround(x.shape, 1), size, T(alpha), T(beta), T(bias), ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  return WithPostOps(ctx, std::move(ck));
}

}  // namespace

void RegisterArgKernels(KernelRegistry& registry) {
  registry.Register({"ArgMax", &ArgFactory, kPriorityRef, {}});
  registry.Register({"ArgMin", &ArgFactory, kPriorityRef, {}});
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) registry.Register({op, &SoftmaxFactory, kPriorityRef, {}});
  registry.Register({"LRN", &LrnFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
