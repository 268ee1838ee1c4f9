// Ops that write masks or one-hot patterns: Trilu, EyeLike, OneHot.
#include <climits>
#include <cmath>
#include <memory>
#include <type_traits>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Trilu over the last two dims: keep element (i, j) when j - i >= k (upper) or j - i <= k (lower).
template <typename T>
class TriluKernel : public Kernel {
 public:
  TriluKernel(int64_t batch, int64_t rows, int64_t cols, int64_t k, bool upper)
      : batch_(batch), rows_(rows), cols_(cols), k_(k), upper_(upper) {}

  absl::Status Run(const RunContext& ctx) override {
    const T* x = ctx.input_as<T>(0);
    T* y = ctx.output_as<T>(0);
    for (int64_t b = 0; b < batch_; ++b) {
      for (int64_t i = 0; i < rows_; ++i) {
        const int64_t row = (b * rows_ + i) * cols_;
        for (int64_t j = 0; j < cols_; ++j) {
          const bool keep = upper_ ? j - i >= k_ : j - i <= k_;
          y[row + j] = keep ? x[row + j] : T{};
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t batch_, rows_, cols_, k_;
  bool upper_;
};

absl::StatusOr<CompiledKernel> TriluFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 2));
  const TensorDesc& x = ctx.desc(0);
  if (x.shape.size() < 2) return ctx.Invalid("input must have rank >= 2");
  int64_t k = 0;
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> kv, KnownInts(ctx, 1));
    if (kv.size() != 1) return ctx.Invalid("k must be a scalar");
    k = kv[0];
  }
  const int64_t rows = x.shape[x.shape.size() - 2], cols = x.shape.back();
  const int64_t batch = rows * cols == 0 ? 0 : Count(x.shape) / (rows * cols);
  const bool upper = ctx.node.GetInt("upper", 1) != 0;
  CompiledKernel ck;
  const bool ok = DispatchBySize(x.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<TriluKernel<T>>(batch, rows, cols, k, upper);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(x.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(x.dtype, x.shape));
  ck.alias_input = 0;
  return ck;
}

template <typename T>
class EyeKernel : public Kernel {
 public:
  EyeKernel(int64_t rows, int64_t cols, int64_t k) : rows_(rows), cols_(cols), k_(k) {}

  absl::Status Run(const RunContext& ctx) override {
    T* y = ctx.output_as<T>(0);
    for (int64_t i = 0; i < rows_; ++i) {
      for (int64_t j = 0; j < cols_; ++j) y[i * cols_ + j] = j - i == k_ ? T(1) : T(0);
    }
    return absl::OkStatus();
  }

 private:
  int64_t rows_, cols_, k_;
};

absl::StatusOr<CompiledKernel> EyeLikeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const TensorDesc& x = ctx.desc(0);
  if (x.shape.size() != 2) return ctx.Invalid("input must be 2-D");
  DataType dtype = x.dtype;
  if (ctx.node.has("dtype")) {
    const int64_t t = ctx.node.GetInt("dtype", 0);
    if (t < 0 || t > INT32_MAX || !IsSupported(static_cast<int32_t>(t))) return ctx.Unsupported("unsupported dtype");
    dtype = static_cast<DataType>(t);
  }
  const int64_t k = ctx.node.GetInt("k", 0);
  CompiledKernel ck;
  const bool ok = DispatchNumericOrBool(dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<EyeKernel<T>>(x.shape[0], x.shape[1], k);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(dtype, x.shape));
  return ck;
}

// Index i of a numeric tensor of type `type`, truncated to an integer.
int64_t ReadIndex(DataType type, const void* data, int64_t i) {
  int64_t v = 0;
  DispatchNumeric(type, [&]<typename I>() {
    const I x = static_cast<const I*>(data)[i];
    if constexpr (std::is_floating_point_v<I>) {
      v = std::isfinite(x) && x > -9e18 && x < 9e18 ? static_cast<int64_t>(x) : INT64_MIN;
    } else {
      v = static_cast<int64_t>(x);
    }
  });
  return v;
}

// OneHot: output = indices' shape with `depth` inserted at `axis`; values = [off, on] read at run
// time. Out-of-range indices give an all-off row, as the spec says.
template <typename T>
class OneHotKernel : public Kernel {
 public:
  OneHotKernel(DataType index_type, int64_t outer, int64_t depth, int64_t inner)
      : index_type_(index_type), outer_(outer), depth_(depth), inner_(inner) {}

  absl::Status Run(const RunContext& ctx) override {
    const void* indices = ctx.input(0);
    const T* values = ctx.input_as<T>(2);
    T* y = ctx.output_as<T>(0);
    for (int64_t o = 0; o < outer_; ++o) {
      for (int64_t d = 0; d < depth_; ++d) {
        for (int64_t i = 0; i < inner_; ++i) {
          int64_t idx = ReadIndex(index_type_, indices, o * inner_ + i);
          if (idx < 0 && idx >= -depth_) idx += depth_;
          y[(o * depth_ + d) * inner_ + i] = idx == d ? values[1] : values[0];
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  DataType index_type_;
  int64_t outer_, depth_, inner_;
};

absl::StatusOr<CompiledKernel> OneHotFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 3, 3));
  const TensorDesc& indices = ctx.desc(0);
  const TensorDesc& values = ctx.desc(2);
  const Tensor* depth_value = KnownValue(ctx, 1);
  if (depth_value == nullptr) return ctx.Unsupported("depth must be known at compile time");
  if (depth_value->num_elements() != 1) return ctx.Invalid("depth must hold one value");
  const double depth_d = depth_value->GetAsDouble(0);
  if (!(depth_d >= 1 && depth_d < 1e9)) return ctx.Invalid("depth must be a positive number");
  const int64_t depth = static_cast<int64_t>(depth_d);
  if (Count(values.shape) != 2) return ctx.Invalid("values must hold [off, on]");
  if (!IsInteger(indices.dtype) && !IsFloatingPoint(indices.dtype)) return ctx.Invalid("indices must be numeric");
  const int64_t rank = static_cast<int64_t>(indices.shape.size()) + 1;
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, ctx.node.GetInt("axis", -1), rank));
  Shape out = indices.shape;
  out.insert(out.begin() + axis, depth);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank - 1; ++d) (d < axis ? outer : inner) *= indices.shape[static_cast<size_t>(d)];
  CompiledKernel ck;
  const bool ok = DispatchBySize(values.dtype, [&]<typename T>() {
    ck.kernel = std::make_unique<OneHotKernel<T>>(indices.dtype, outer, depth, inner);
  });
  if (!ok) return ctx.Unsupported("dtype " + std::string(DataTypeName(values.dtype)) + " is not supported");
  ck.outputs.push_back(PlainDesc(values.dtype, std::move(out)));
  return ck;
}

}  // namespace

void RegisterMatrixKernels(KernelRegistry& registry) {
  registry.Register({"Trilu", &TriluFactory, kPriorityRef, {1}});
  registry.Register({"EyeLike", &EyeLikeFactory, kPriorityRef, {}});
  registry.Register({"OneHot", &OneHotFactory, kPriorityRef, {1}});
}

}  // namespace peregrine::engine::ref
