// Ops whose output is known once shapes are: Constant, ConstantOfShape, Shape, Size, Range. The
// factory computes the value; Run writes it.
#include <cmath>
#include <memory>

#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/ref/ref_util.h"

namespace peregrine::engine::ref {
namespace {

// Writes a tensor computed at compile time.
class ValueKernel : public Kernel {
 public:
  explicit ValueKernel(Tensor value) : value_(std::move(value)) {}
  absl::Status Run(const RunContext& ctx) override {
    CopyElements(value_.dtype(), value_.data(), ctx.output(0), value_.num_elements());
    return absl::OkStatus();
  }

 private:
  Tensor value_;
};

CompiledKernel MakeValue(Tensor value) {
  CompiledKernel ck;
  ck.outputs.push_back(PlainDesc(value.dtype(), value.shape()));
  ck.kernel = std::make_unique<ValueKernel>(std::move(value));
  return ck;
}

absl::StatusOr<CompiledKernel> ConstantFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 0, 0));
  const graph::Node& node = ctx.node;
  if (const Tensor* t = node.GetTensor("value")) {
    if (!t->has_data()) return ctx.Invalid("attribute 'value' has no data");
    return MakeValue(*t);
  }
  if (node.has("value_float")) return MakeValue(Tensor::Scalar<float>(node.GetFloat("value_float", 0)));
  if (node.has("value_floats")) {
    const std::vector<float> v = node.GetFloats("value_floats");
    return MakeValue(Tensor::FromVector<float>({static_cast<int64_t>(v.size())}, v));
  }
  if (node.has("value_int")) return MakeValue(Tensor::Scalar<int64_t>(node.GetInt("value_int", 0)));
  if (node.has("value_ints")) {
    const std::vector<int64_t> v = node.GetInts("value_ints");
    return MakeValue(Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }
  if (node.has("value_string")) return MakeValue(Tensor::Scalar<std::string>(node.GetString("value_string", "")));
  if (node.has("value_strings")) {
    const std::vector<std::string> v = node.GetStrings("value_strings");
    return MakeValue(Tensor::FromVector<std::string>({static_cast<int64_t>(v.size())}, v));
  }
  if (node.has("sparse_value")) return ctx.Unsupported("sparse_value is not supported");
  return ctx.Invalid("has no value attribute");
}

template <typename T>
class FillKernel : public Kernel {
 public:
  FillKernel(T value, int64_t n) : value_(value), n_(n) {}
  absl::Status Run(const RunContext& ctx) override {
    T* out = ctx.output_as<T>(0);
    for (int64_t i = 0; i < n_; ++i) out[i] = value_;
    return absl::OkStatus();
  }

 private:
  T value_;
  int64_t n_;
};

absl::StatusOr<CompiledKernel> ConstantOfShapeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  ASSIGN_OR_RETURN(Shape shape, KnownInts(ctx, 0));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Invalid("shape has a negative dimension");
  }
  Tensor value = Tensor::Scalar<float>(0.0f);
  if (const Tensor* t = ctx.node.GetTensor("value")) {
    if (t->num_elements() != 1 || !t->has_data()) return ctx.Invalid("'value' must hold one element");
    value = *t;
  }
  CompiledKernel ck;
  const bool ok = DispatchBySize(value.dtype(), [&]<typename T>() {
    ck.kernel = std::make_unique<FillKernel<T>>(value.data_as<T>()[0], Count(shape));
  });
  if (!ok) return ctx.Unsupported("value type is not supported");
  ck.outputs.push_back(PlainDesc(value.dtype(), std::move(shape)));
  return ck;
}

absl::StatusOr<CompiledKernel> ShapeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  const Shape& in = ctx.desc(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  // Opset 15 start/end: negative counts from the back, then clamped to [0, rank].
  auto clamp = [&](int64_t v) {
    if (v < 0) v += rank;
    return v < 0 ? int64_t{0} : (v > rank ? rank : v);
  };
  const int64_t start = clamp(ctx.node.GetInt("start", 0));
  const int64_t end = clamp(ctx.node.GetInt("end", rank));
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(in[static_cast<size_t>(d)]);
  return MakeValue(Tensor::FromVector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
}

absl::StatusOr<CompiledKernel> SizeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  return MakeValue(Tensor::Scalar<int64_t>(Count(ctx.desc(0).shape)));
}

template <typename T>
absl::StatusOr<Tensor> MakeRange(const CompileContext& ctx, T start, T limit, T delta) {
  if (delta == T(0)) return ctx.Invalid("delta is zero");
  const double count = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
  if (!(count < static_cast<double>(int64_t{1} << 31))) return ctx.Invalid("range is too long");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor out = Tensor::Zeros(TypeOf<T>(), {n});
  T* data = out.data_as<T>();
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  return out;
}

absl::StatusOr<CompiledKernel> RangeFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 3, 3));
  const Tensor* v[3];
  for (size_t i = 0; i < 3; ++i) {
    v[i] = KnownValue(ctx, i);
    if (v[i] == nullptr) return ctx.Unsupported("start, limit and delta must be known at compile time");
    if (v[i]->num_elements() != 1) return ctx.Invalid("start, limit and delta must be scalars");
    if (v[i]->dtype() != v[0]->dtype()) return ctx.Invalid("start, limit and delta must have one type");
  }
  absl::StatusOr<Tensor> range = ctx.Unsupported("dtype " + std::string(DataTypeName(v[0]->dtype())) +
                                                 " is not supported");
  DispatchNumeric(v[0]->dtype(), [&]<typename T>() {
    range = MakeRange<T>(ctx, v[0]->data_as<T>()[0], v[1]->data_as<T>()[0], v[2]->data_as<T>()[0]);
  });
  if (!range.ok()) return range.status();
  return MakeValue(*std::move(range));
}

}  // namespace

void RegisterConstantKernels(KernelRegistry& registry) {
  registry.Register({"Constant", &ConstantFactory, kPriorityRef, {}});
  registry.Register({"ConstantOfShape", &ConstantOfShapeFactory, kPriorityRef, {0}});
  registry.Register({"Shape", &ShapeFactory, kPriorityRef, {}});
  registry.Register({"Size", &SizeFactory, kPriorityRef, {}});
  registry.Register({"Range", &RangeFactory, kPriorityRef, {0, 1, 2}});
}

}  // namespace peregrine::engine::ref
