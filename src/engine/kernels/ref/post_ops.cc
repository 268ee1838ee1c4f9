// WithPostOps: runs a node's fused post-ops (activations, residual sums) after a ref kernel, so a
// graph pass may fuse onto any node without knowing which kernel will run it.
#include <memory>

#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/unary_ops.h"

namespace peregrine::engine::ref {
namespace {

using AddFn = void (*)(const void* in, void* out, int64_t n);

template <typename T>
void AddInto(const void* in, void* out, int64_t n) {
  const T* x = static_cast<const T*>(in);
  T* y = static_cast<T*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

struct Step {
  UnaryFn activation = nullptr;  // set for activations
  UnaryParams params;
  AddFn add = nullptr;           // set for sums
  int input = -1;
};

class PostOpKernel : public Kernel {
 public:
  PostOpKernel(std::unique_ptr<Kernel> inner, std::vector<Step> steps, int64_t n)
      : inner_(std::move(inner)), steps_(std::move(steps)), n_(n) {}

  absl::Status Run(const RunContext& ctx) override {
    RETURN_IF_ERROR(inner_->Run(ctx));
    void* out = ctx.output(0);
    for (const Step& step : steps_) {
      if (step.activation != nullptr) {
        step.activation(out, out, n_, step.params);
      } else {
        step.add(ctx.input(static_cast<size_t>(step.input)), out, n_);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<Kernel> inner_;
  std::vector<Step> steps_;
  int64_t n_;
};

absl::StatusOr<Step> MakeStep(const CompileContext& ctx, const graph::PostOp& post, const TensorDesc& out) {
  Step step;
  if (post.kind == graph::PostOp::Kind::kActivation) {
    const UnaryOpInfo* op = FindUnaryOp(post.activation);
    step.activation = op == nullptr ? nullptr : op->select(out.dtype);
    if (step.activation == nullptr) return ctx.Unsupported("cannot apply fused activation " + post.activation);
    step.params = op->defaults;
    step.params.alpha = post.alpha;
    step.params.beta = post.beta;
    return step;
  }
  const size_t i = static_cast<size_t>(post.input_index);
  if (post.input_index < 0 || !ctx.has_input(i) || ctx.desc(i).dtype != out.dtype || ctx.desc(i).shape != out.shape) {
    return ctx.Unsupported("fused sum input must match the output");
  }
  DispatchFloat(out.dtype, [&]<typename T>() { step.add = &AddInto<T>; });
  if (step.add == nullptr) return ctx.Unsupported("fused sum needs a float output");
  step.input = post.input_index;
  return step;
}

}  // namespace

absl::StatusOr<CompiledKernel> WithPostOps(const CompileContext& ctx, CompiledKernel compiled) {
  if (ctx.node.post_ops.empty()) return compiled;
  if (compiled.outputs.empty()) return ctx.Unsupported("post-ops need an output");
  const TensorDesc& out = compiled.outputs[0];
  std::vector<Step> steps;
  for (const graph::PostOp& post : ctx.node.post_ops) {
    ASSIGN_OR_RETURN(Step step, MakeStep(ctx, post, out));
    // A sum input must not share the output's buffer: the kernel would overwrite it first.
    if (step.input >= 0 && compiled.alias_input == step.input) compiled.alias_input = -1;
    steps.push_back(step);
  }
  compiled.kernel = std::make_unique<PostOpKernel>(std::move(compiled.kernel), std::move(steps), Count(out.shape));
  return compiled;
}

}  // namespace peregrine::engine::ref
