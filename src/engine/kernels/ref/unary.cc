// Elementwise unary kernels (table in unary_ops.cc) and Clip.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/unary_ops.h"

namespace peregrine::engine::ref {
namespace {

constexpr int64_t kChunk = int64_t{1} << 14;

class UnaryKernel : public Kernel {
 public:
  UnaryKernel(UnaryFn fn, UnaryParams params, int64_t n, size_t element_size, int threads)
      : fn_(fn), params_(params), n_(n), element_size_(element_size), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const char* in = static_cast<const char*>(ctx.input(0));
    char* out = static_cast<char*>(ctx.output(0));
    const int64_t chunks = (n_ + kChunk - 1) / kChunk;
    ParallelFor(chunks, n_, threads_, [&](int64_t c) {
      const int64_t begin = c * kChunk;
      const int64_t len = std::min(kChunk, n_ - begin);
      const size_t offset = static_cast<size_t>(begin) * element_size_;
      fn_(in + offset, out + offset, len, params_);
    });
    return absl::OkStatus();
  }

 private:
  UnaryFn fn_;
  UnaryParams params_;
  int64_t n_;
  size_t element_size_;
  int threads_;
};

absl::StatusOr<CompiledKernel> UnaryFactory(const CompileContext& ctx) {
  const UnaryOpInfo* op = FindUnaryOp(ctx.node.op_type);
  if (op == nullptr || !op->is_onnx_op) return ctx.Unsupported("not a unary op");
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  UnaryFn fn = op->select(x.dtype);
  if (fn == nullptr) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  UnaryParams params;
  params.alpha = ctx.node.GetFloat("alpha", op->defaults.alpha);
  params.beta = ctx.node.GetFloat("beta", op->defaults.beta);
  params.gamma = ctx.node.GetFloat("gamma", op->defaults.gamma);
  if (ctx.node.op_type == "Shrink") {
    params.alpha = ctx.node.GetFloat("lambd", op->defaults.alpha);
    params.beta = ctx.node.GetFloat("bias", op->defaults.beta);
  }
  CompiledKernel ck;
  ck.kernel = std::make_unique<UnaryKernel>(fn, params, Count(x.shape), ElementSize(x.dtype), ctx.threads);
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  ck.alias_input = 0;
  return WithPostOps(ctx, std::move(ck));
}

// Clip. Before opset 11 min/max are float attributes; from 11 they are optional scalar inputs,
// read at run time so they need not be known when compiling.
template <typename T>
class ClipKernel : public Kernel {
 public:
  ClipKernel(int64_t n, T lo, T hi, bool min_input, bool max_input, int threads)
      : n_(n), lo_(lo), hi_(hi), min_input_(min_input), max_input_(max_input), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    const T lo = min_input_ ? *ctx.input_as<T>(1) : lo_;
    const T hi = max_input_ ? *ctx.input_as<T>(2) : hi_;
    const T* x = ctx.input_as<T>(0);
    T* y = ctx.output_as<T>(0);
    const int64_t chunks = (n_ + kChunk - 1) / kChunk;
    ParallelFor(chunks, n_, threads_, [&](int64_t c) {
      const int64_t end = std::min(n_, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) y[i] = std::min(std::max(x[i], lo), hi);
    });
    return absl::OkStatus();
  }

 private:
  int64_t n_;
  T lo_, hi_;
  bool min_input_, max_input_;
  int threads_;
};

template <typename T>
T LowestOf() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::lowest();
}
template <typename T>
T HighestOf() {
  if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::max();
}

absl::StatusOr<CompiledKernel> ClipFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 3));
  const TensorDesc& x = ctx.desc(0);
  const bool attrs = ctx.opset < 11;
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    if (attrs) return ctx.Invalid("min/max are attributes before opset 11");
    if (ctx.desc(i).dtype != x.dtype || Count(ctx.desc(i).shape) != 1) {
      return ctx.Invalid("min/max must be scalars of the input's type");
    }
  }
  CompiledKernel ck;
  const bool ok = DispatchNumeric(x.dtype, [&]<typename T>() {
    T lo = LowestOf<T>(), hi = HighestOf<T>();
    if (attrs) {
      if (ctx.node.has("min")) lo = static_cast<T>(ctx.node.GetFloat("min", 0));
      if (ctx.node.has("max")) hi = static_cast<T>(ctx.node.GetFloat("max", 0));
    }
    ck.kernel = std::make_unique<ClipKernel<T>>(Count(x.shape), lo, hi, ctx.has_input(1), ctx.has_input(2),
                                                ctx.threads);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  ck.alias_input = 0;
  return WithPostOps(ctx, std::move(ck));
}

// IsNaN and IsInf (detect_negative / detect_positive): float in, bool out.
template <typename T>
class ClassifyKernel : public Kernel {
 public:
  ClassifyKernel(int64_t n, bool nan, bool negative, bool positive)
      : n_(n), nan_(nan), negative_(negative), positive_(positive) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* x = ctx.input_as<T>(0);
    bool* y = ctx.output_as<bool>(0);
    for (int64_t i = 0; i < n_; ++i) {
      y[i] = nan_ ? std::isnan(x[i]) : std::isinf(x[i]) && (x[i] > T(0) ? positive_ : negative_);
    }
    return absl::OkStatus();
  }

 private:
  int64_t n_;
  bool nan_, negative_, positive_;
};

absl::StatusOr<CompiledKernel> ClassifyFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  const bool nan = ctx.node.op_type == "IsNaN";
  const bool negative = ctx.node.GetInt("detect_negative", 1) != 0;
  const bool positive = ctx.node.GetInt("detect_positive", 1) != 0;
  CompiledKernel ck;
  const bool ok = DispatchFloat(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<ClassifyKernel<T>>(Count(x.shape), nan, negative, positive);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(DataType::kBool, x.shape));
  return ck;
}

}  // namespace

void RegisterUnaryKernels(KernelRegistry& registry) {
  size_t count = 0;
  const UnaryOpInfo* ops = UnaryOps(&count);
  for (size_t i = 0; i < count; ++i) {
    if (ops[i].is_onnx_op) registry.Register({ops[i].name, &UnaryFactory, kPriorityRef, {}});
  }
  registry.Register({"Clip", &ClipFactory, kPriorityRef, {}});
  registry.Register({"IsNaN", &ClassifyFactory, kPriorityRef, {}});
  registry.Register({"IsInf", &ClassifyFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
