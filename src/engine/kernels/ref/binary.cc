// Broadcasting binary kernels (Add ... Xor, Pow, Mod, PRelu) and the variadic Sum/Mean/Min/Max.
#include <memory>

#include "engine/kernels/ref/binary_ops.h"
#include "engine/kernels/ref/ref_kernels.h"

namespace peregrine::engine::ref {
namespace {

class BinaryKernel : public Kernel {
 public:
  BinaryKernel(StridedPlan plan, BinaryFn fn, size_t a_size, size_t b_size, size_t o_size, int threads)
      : plan_(std::move(plan)), fn_(fn), a_size_(a_size), b_size_(b_size), o_size_(o_size), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    RunBinary(plan_, fn_, a_size_, b_size_, o_size_, ctx.input(0), ctx.input(1), ctx.output(0), threads_);
    return absl::OkStatus();
  }

 private:
  StridedPlan plan_;
  BinaryFn fn_;
  size_t a_size_, b_size_, o_size_;
  int threads_;
};

// Before opset 7, B broadcast to A only with broadcast=1, its dims aligned at A's `axis` (default:
// trailing); PRelu's slope [C] applied along the channel axis 1. Returns B's shape padded with
// 1s to A's rank so that NumPy broadcasting then does the same thing.
absl::StatusOr<Shape> LegacyShapeOfB(const CompileContext& ctx, const Shape& a, const Shape& b) {
  const int64_t ra = static_cast<int64_t>(a.size()), rb = static_cast<int64_t>(b.size());
  int64_t axis = -1;
  if (ctx.node.op_type == "PRelu") {
    if (rb == 1 && ra >= 2 && b[0] == a[1] && b[0] != 1) axis = 1;
  } else if (ctx.node.GetInt("broadcast", 0) != 0 && ctx.node.has("axis")) {
    axis = ctx.node.GetInt("axis", 0);
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) return ctx.Invalid("legacy broadcast axis is out of range");
  }
  if (axis < 0) return b;
  Shape padded(static_cast<size_t>(axis), 1);
  padded.insert(padded.end(), b.begin(), b.end());
  padded.resize(a.size(), 1);
  return padded;
}

absl::StatusOr<CompiledKernel> BinaryFactory(const CompileContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  const TensorDesc& a = ctx.desc(0);
  TensorDesc b = ctx.desc(1);
  if (ctx.opset < 7) {
    ASSIGN_OR_RETURN(b.shape, LegacyShapeOfB(ctx, a.shape, b.shape));
  }
  const std::string& op = ctx.node.op_type;
  if (op != "Pow" && a.dtype != b.dtype) {
    return ctx.Invalid("inputs have different types " + std::string(DataTypeName(a.dtype)) + " and " +
                       std::string(DataTypeName(b.dtype)));
  }
  std::string name = op;
  if (op == "BitShift") {
    const std::string direction = ctx.node.GetString("direction", "");
    if (direction != "LEFT" && direction != "RIGHT") return ctx.Invalid("direction must be LEFT or RIGHT");
    name = direction == "LEFT" ? "BitShiftLeft" : "BitShiftRight";
  }
  const BinarySelection sel = SelectBinary(name, a.dtype, b.dtype, ctx.node.GetInt("fmod", 0) != 0);
  if (sel.fn == nullptr) {
    return ctx.Unsupported("dtypes " + std::string(DataTypeName(a.dtype)) + ", " +
                           std::string(DataTypeName(b.dtype)) + " are not supported");
  }
  ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, {a.shape, b.shape}));
  // PRelu's slope broadcasts to X only (unidirectional).
  if (op == "PRelu" && out != a.shape) return ctx.Invalid("slope " + ShapeToString(b.shape) + " does not broadcast to X");
  CompiledKernel ck;
  ck.kernel = std::make_unique<BinaryKernel>(MakeBroadcastPlan(out, {a.shape, b.shape}), sel.fn, ElementSize(a.dtype),
                                             ElementSize(b.dtype), ElementSize(sel.output), ctx.threads);
  ck.outputs.push_back(PlainDesc(sel.output, out));
  if (a.shape == out && a.dtype == sel.output) ck.alias_input = 0;
  return WithPostOps(ctx, std::move(ck));
}

// Sum, Mean, Min, Max over any number of inputs: folded pairwise into the output,
// out = op(in0, in1), out = op(out, in2), ...; Mean then divides.
using ScaleFn = void (*)(void* out, int64_t n, int64_t count);

template <typename T>
void DivideBy(void* out, int64_t n, int64_t count) {
  T* y = static_cast<T*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(y[i] / static_cast<T>(count));
}

class VariadicKernel : public Kernel {
 public:
  VariadicKernel(std::vector<StridedPlan> plans, BinaryFn fn, ScaleFn scale, DataType dtype, int64_t n, int threads)
      : plans_(std::move(plans)), fn_(fn), scale_(scale), dtype_(dtype), n_(n), threads_(threads) {}

  absl::Status Run(const RunContext& ctx) override {
    void* out = ctx.output(0);
    const size_t es = ElementSize(dtype_);
    if (plans_.empty()) {
      CopyElements(dtype_, ctx.input(0), out, n_);
    } else {
      RunBinary(plans_[0], fn_, es, es, es, ctx.input(0), ctx.input(1), out, threads_);
      for (size_t k = 1; k < plans_.size(); ++k) RunBinary(plans_[k], fn_, es, es, es, out, ctx.input(k + 1), out, threads_);
    }
    if (scale_ != nullptr) scale_(out, n_, static_cast<int64_t>(plans_.size()) + 1);
    return absl::OkStatus();
  }

 private:
  std::vector<StridedPlan> plans_;
  BinaryFn fn_;
  ScaleFn scale_;
  DataType dtype_;
  int64_t n_;
  int threads_;
};

absl::StatusOr<CompiledKernel> VariadicFactory(const CompileContext& ctx) {
  const size_t n = ctx.inputs.size();
  if (n == 0) return ctx.Invalid("needs at least one input");
  RETURN_IF_ERROR(CheckInputCount(ctx, n, n));
  const std::string& op = ctx.node.op_type;
  const DataType dtype = ctx.desc(0).dtype;
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n; ++i) {
    if (ctx.desc(i).dtype != dtype) return ctx.Invalid("inputs must all have the same type");
    shapes.push_back(ctx.desc(i).shape);
  }
  const BinarySelection sel = SelectBinary(op == "Mean" || op == "Sum" ? "Add" : op, dtype, dtype, false);
  if (sel.fn == nullptr) return ctx.Unsupported("dtype " + std::string(DataTypeName(dtype)) + " is not supported");
  ScaleFn scale = nullptr;
  if (op == "Mean") DispatchNumeric(dtype, [&]<typename T>() { scale = &DivideBy<T>; });
  ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx, shapes));
  std::vector<StridedPlan> plans;
  for (size_t i = 1; i < n; ++i) plans.push_back(MakeBroadcastPlan(out, {i == 1 ? shapes[0] : out, shapes[i]}));
  if (n == 1 && shapes[0] != out) return ctx.Invalid("internal: single input shape mismatch");
  CompiledKernel ck;
  ck.kernel = std::make_unique<VariadicKernel>(std::move(plans), sel.fn, scale, dtype, Count(out), ctx.threads);
  ck.outputs.push_back(PlainDesc(dtype, out));
  // In place only for two inputs: with more, a later input could be the same buffer as input 0.
  if (n <= 2 && shapes[0] == out) ck.alias_input = 0;
  return WithPostOps(ctx, std::move(ck));
}

}  // namespace

void RegisterBinaryKernels(KernelRegistry& registry) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu", "Equal", "Less", "Greater",
                         "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "BitShift"}) {
    registry.Register({op, &BinaryFactory, kPriorityRef, {}});
  }
  for (const char* op : {"Sum", "Mean", "Min", "Max"}) registry.Register({op, &VariadicFactory, kPriorityRef, {}});
}

}  // namespace peregrine::engine::ref
