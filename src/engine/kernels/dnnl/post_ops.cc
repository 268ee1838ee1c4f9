#include "engine/kernels/dnnl/post_ops.h"

#include <utility>

namespace peregrine::engine::dnnl_ops {
namespace {

using dnnl::algorithm;

constexpr size_t kScratchAlign = 64;
constexpr size_t kMaxStepArgs = 8;

const void* Resolve(const RunContext& ctx, const BufferRef& ref) {
  switch (ref.kind) {
    case BufferRef::Kind::kInput:
      return ctx.input(ref.index);
    case BufferRef::Kind::kOutput:
      return ctx.output(ref.index);
    case BufferRef::Kind::kScratch:
      return static_cast<char*>(ctx.scratch()) + ref.index;
  }
  return nullptr;
}

// PrimitiveRunner::Run takes an initializer list, so the argument count is dispatched here; the
// buffers live on the stack and nothing is allocated.
absl::Status RunWith(dnnl_util::PrimitiveRunner& r, dnnl::stream& s, const void* const* b, size_t n) {
  switch (n) {
    case 0: return r.Run(s, {});
    case 1: return r.Run(s, {b[0]});
    case 2: return r.Run(s, {b[0], b[1]});
    case 3: return r.Run(s, {b[0], b[1], b[2]});
    case 4: return r.Run(s, {b[0], b[1], b[2], b[3]});
    case 5: return r.Run(s, {b[0], b[1], b[2], b[3], b[4]});
    case 6: return r.Run(s, {b[0], b[1], b[2], b[3], b[4], b[5]});
    case 7: return r.Run(s, {b[0], b[1], b[2], b[3], b[4], b[5], b[6]});
    case 8: return r.Run(s, {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]});
    default: return absl::InternalError("too many primitive arguments");
  }
}

}  // namespace

absl::StatusOr<std::vector<EltwiseOp>> ActivationOps(const std::string& op, float alpha, float beta) {
  if (op == "Relu") return std::vector<EltwiseOp>{{algorithm::eltwise_relu, 0.f, 0.f}};
  if (op == "LeakyRelu") return std::vector<EltwiseOp>{{algorithm::eltwise_relu, alpha, 0.f}};
  if (op == "Elu") return std::vector<EltwiseOp>{{algorithm::eltwise_elu, alpha, 0.f}};
  if (op == "Selu") {
    return std::vector<EltwiseOp>{{algorithm::eltwise_elu, alpha, 0.f}, {algorithm::eltwise_linear, beta, 0.f}};
  }
  if (op == "Sigmoid") return std::vector<EltwiseOp>{{algorithm::eltwise_logistic, 0.f, 0.f}};
  if (op == "Tanh") return std::vector<EltwiseOp>{{algorithm::eltwise_tanh, 0.f, 0.f}};
  if (op == "Exp") return std::vector<EltwiseOp>{{algorithm::eltwise_exp, 0.f, 0.f}};
  if (op == "Log") return std::vector<EltwiseOp>{{algorithm::eltwise_log, 0.f, 0.f}};
  if (op == "Sqrt") return std::vector<EltwiseOp>{{algorithm::eltwise_sqrt, 0.f, 0.f}};
  if (op == "Abs") return std::vector<EltwiseOp>{{algorithm::eltwise_abs, 0.f, 0.f}};
  if (op == "Clip") return std::vector<EltwiseOp>{{algorithm::eltwise_clip, alpha, beta}};
  if (op == "Softplus") return std::vector<EltwiseOp>{{algorithm::eltwise_soft_relu, 0.f, 0.f}};
  if (op == "HardSigmoid") {
    // max(0, min(1, alpha * x + beta)); oneDNN 2.6 has no hardsigmoid algorithm.
    return std::vector<EltwiseOp>{{algorithm::eltwise_linear, alpha, beta}, {algorithm::eltwise_clip, 0.f, 1.f}};
  }
  if (op == "HardSwish") return std::vector<EltwiseOp>{{algorithm::eltwise_hardswish, 0.f, 0.f}};
  if (op == "Mish") return std::vector<EltwiseOp>{{algorithm::eltwise_mish, 0.f, 0.f}};
  if (op == "Neg") return std::vector<EltwiseOp>{{algorithm::eltwise_linear, -1.f, 0.f}};
  if (op == "Reciprocal") return std::vector<EltwiseOp>{{algorithm::eltwise_pow, 1.f, -1.f}};
  return absl::UnimplementedError("no oneDNN eltwise algorithm for " + op);
}

absl::StatusOr<FusedPostOps> TranslatePostOps(const CompileContext& ctx, DataType dtype, const Shape& out_shape,
                                              dnnl::post_ops base) {
  FusedPostOps fused;
  fused.ops = std::move(base);
  for (const graph::PostOp& post : ctx.node.post_ops) {
    if (post.kind == graph::PostOp::Kind::kActivation) {
      auto ops = ActivationOps(post.activation, post.alpha, post.beta);
      if (!ops.ok()) return ctx.Unsupported(std::string(ops.status().message()));
      for (const EltwiseOp& op : *ops) fused.ops.append_eltwise(1.f, op.alg, op.alpha, op.beta);
      continue;
    }
    if (fused.sum_input >= 0) return ctx.Unsupported("more than one fused Add");
    const int index = post.input_index;
    if (index < 0 || !ctx.has_input(static_cast<size_t>(index))) return ctx.Invalid("fused Add input is missing");
    const TensorDesc& addend = ctx.desc(static_cast<size_t>(index));
    if (addend.dtype != dtype || addend.shape != out_shape) {
      return ctx.Invalid("fused Add input " + ShapeToString(addend.shape) + " does not match the output " +
                         ShapeToString(out_shape));
    }
    fused.ops.append_sum(1.f);
    fused.sum_input = index;
  }
  return fused;
}

dnnl::primitive_attr MakeAttr(const dnnl::post_ops& ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(ops);
  return attr;
}

dnnl::memory::desc LayoutFor(const dnnl::memory::desc& md, const Shape& shape) {
  if (dnnl_util::IsPlain(md, DataType::kFloat32, shape)) return dnnl::memory::desc();
  return md;
}

size_t ScratchLayout::Reserve(size_t bytes) {
  const size_t offset = (total_ + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
  total_ = offset + bytes;
  return offset;
}

void StepKernel::AddStep(dnnl_util::PrimitiveRunner runner, std::vector<BufferRef> args) {
  steps_.push_back(Step{std::move(runner), std::move(args), nullptr});
}

void StepKernel::AddHostStep(HostStep step) { steps_.push_back(Step{{}, {}, std::move(step)}); }

BufferRef StepKernel::AddScratchpad(const dnnl::primitive_desc_base& pd, const dnnl::engine& engine,
                                    dnnl_util::PrimitiveRunner& runner, std::vector<BufferRef>& args) {
  const dnnl::memory::desc md = pd.scratchpad_desc();
  const BufferRef ref = BufferRef::Scratch(scratch_.Reserve(md.get_size()));
  if (md.get_size() == 0) return ref;
  runner.Bind(DNNL_ARG_SCRATCHPAD, md, engine);
  args.push_back(ref);
  return ref;
}

absl::Status StepKernel::Run(const RunContext& ctx) {
  const void* buffers[kMaxStepArgs];
  for (Step& step : steps_) {
    if (step.host) {
      step.host(ctx);
      continue;
    }
    const size_t n = step.args.size();
    if (n > kMaxStepArgs) return absl::InternalError(node_ + ": too many primitive arguments");
    for (size_t i = 0; i < n; ++i) buffers[i] = Resolve(ctx, step.args[i]);
    absl::Status status = RunWith(step.runner, ctx.stream(), buffers, n);
    if (!status.ok()) return absl::Status(status.code(), node_ + ": " + std::string(status.message()));
  }
  return absl::OkStatus();
}

void AppendEltwiseStep(const dnnl::engine& engine, const EltwiseOp& op, const dnnl::memory::desc& md,
                       StepKernel& kernel) {
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.alg, md, op.alpha, op.beta);
  dnnl::eltwise_forward::primitive_desc pd(desc, MakeAttr(), engine);
  dnnl_util::PrimitiveRunner runner{dnnl::eltwise_forward(pd)};
  runner.Bind(DNNL_ARG_SRC, md, engine);
  runner.Bind(DNNL_ARG_DST, md, engine);
  std::vector<BufferRef> args = {BufferRef::Output(0), BufferRef::Output(0)};
  kernel.AddScratchpad(pd, engine, runner, args);
  kernel.AddStep(std::move(runner), std::move(args));
}

absl::Status AppendPostOpSteps(const CompileContext& ctx, const dnnl::memory::desc& dst_md, const Shape& out_shape,
                               StepKernel& kernel, CompiledKernel& compiled) {
  for (const graph::PostOp& post : ctx.node.post_ops) {
    if (post.kind == graph::PostOp::Kind::kActivation) {
      auto ops = ActivationOps(post.activation, post.alpha, post.beta);
      if (!ops.ok()) return ctx.Unsupported(std::string(ops.status().message()));
      for (const EltwiseOp& op : *ops) AppendEltwiseStep(ctx.engine, op, dst_md, kernel);
      continue;
    }
    const int index = post.input_index;
    if (index < 0 || !ctx.has_input(static_cast<size_t>(index))) return ctx.Invalid("fused Add input is missing");
    const TensorDesc& addend = ctx.desc(static_cast<size_t>(index));
    if (addend.dtype != DataType::kFloat32 || addend.shape != out_shape) {
      return ctx.Invalid("fused Add input does not match the output " + ShapeToString(out_shape));
    }
    dnnl::binary::desc desc(algorithm::binary_add, dst_md, dst_md, dst_md);
    dnnl::binary::primitive_desc pd(desc, MakeAttr(), ctx.engine);
    dnnl_util::PrimitiveRunner runner{dnnl::binary(pd)};
    runner.Bind(DNNL_ARG_SRC_0, dst_md, ctx.engine);
    runner.Bind(DNNL_ARG_SRC_1, dst_md, ctx.engine);
    runner.Bind(DNNL_ARG_DST, dst_md, ctx.engine);
    std::vector<BufferRef> args = {BufferRef::Output(0), BufferRef::Input(static_cast<size_t>(index)),
                                   BufferRef::Output(0)};
    kernel.AddScratchpad(pd, ctx.engine, runner, args);
    kernel.AddStep(std::move(runner), std::move(args));
    if (compiled.input_layouts.size() < ctx.inputs.size()) compiled.input_layouts.resize(ctx.inputs.size());
    compiled.input_layouts[static_cast<size_t>(index)] = LayoutFor(dst_md, out_shape);
  }
  return absl::OkStatus();
}

absl::Status CheckOutputs(const CompileContext& ctx, size_t max_outputs) {
  if (ctx.node.outputs.empty() || ctx.node.output(0) == nullptr) return ctx.Invalid("output 0 is missing");
  for (size_t i = max_outputs; i < ctx.node.outputs.size(); ++i) {
    if (ctx.node.output(i) != nullptr) return ctx.Unsupported("optional output " + std::to_string(i) + " is not supported");
  }
  return absl::OkStatus();
}

}  // namespace peregrine::engine::dnnl_ops
