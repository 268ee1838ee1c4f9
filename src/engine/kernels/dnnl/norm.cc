// BatchNormalization (inference), InstanceNormalization and LayerNormalization on oneDNN (float32).
//
// BatchNormalization keeps the producer's layout. InstanceNormalization is a batch normalization
// with computed statistics over the plain input viewed as [1, N*C, spatial]; LayerNormalization
// views the plain input as [outer, inner] with inner = product of the normalized dimensions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

using dnnl::memory;
using dnnl::normalization_flags;
using dnnl_ops::BufferRef;

using StepKernelHost = dnnl_ops::StepKernel::HostStep;

constexpr auto kF32 = memory::data_type::f32;

absl::Status CheckFloatInputs(const CompileContext& ctx, size_t first, size_t count) {
  for (size_t i = first; i < first + count; ++i) {
    if (ctx.has_input(i) && ctx.desc(i).dtype != DataType::kFloat32) return ctx.Unsupported("only float32");
  }
  return absl::OkStatus();
}

memory::desc Vector(int64_t n) { return memory::desc({n}, kF32, memory::format_tag::a); }

// Adds the normalization step and finishes the kernel: post-ops, output desc, scratch. `data_md`
// is X's layout as the plan holds it (kept for the output); `keep_layout` says X may stay blocked.
template <typename P>
absl::StatusOr<CompiledKernel> Finish(const CompileContext& ctx, const typename P::primitive_desc& pd,
                                      std::unique_ptr<dnnl_ops::StepKernel> kernel, dnnl_util::PrimitiveRunner runner,
                                      std::vector<BufferRef> args, const memory::desc& data_md, bool keep_layout,
                                      StepKernelHost after = nullptr) {
  TensorDesc out = ctx.desc(0);
  if (!keep_layout) out.layout = memory::desc();
  kernel->AddScratchpad(pd, ctx.engine, runner, args);
  kernel->AddStep(std::move(runner), std::move(args));
  if (after) kernel->AddHostStep(std::move(after));
  CompiledKernel compiled;
  compiled.input_layouts.resize(ctx.inputs.size());
  compiled.input_layouts[0] = out.layout;
  RETURN_IF_ERROR(dnnl_ops::AppendPostOpSteps(ctx, data_md, out.shape, *kernel, compiled));
  compiled.outputs = {out};
  compiled.alias_input = 0;
  compiled.scratch_bytes = kernel->scratch_bytes();
  compiled.kernel = std::move(kernel);
  return compiled;
}

absl::StatusOr<CompiledKernel> CompileBatchNorm(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  for (size_t i = 0; i < 5; ++i) {
    if (!ctx.has_input(i)) return ctx.Invalid("X, scale, B, mean and var are required");
  }
  RETURN_IF_ERROR(CheckFloatInputs(ctx, 0, 5));
  if (ctx.node.GetInt("training_mode", 0) != 0) return ctx.Unsupported("training_mode");
  if (ctx.node.GetInt("spatial", 1) == 0) return ctx.Unsupported("spatial=0");
  const TensorDesc& x = ctx.desc(0);
  if (x.shape.size() < 2) return ctx.Invalid("X must have rank >= 2");
  if (x.shape.size() > 5) return ctx.Unsupported("rank above 5");
  const int64_t c = x.shape[1];
  for (size_t i = 1; i < 5; ++i) {
    if (NumElements(ctx.desc(i).shape) != c) return ctx.Invalid("scale, B, mean and var must have C elements");
  }
  ASSIGN_OR_RETURN(memory::desc data_md, dnnl_util::DescOf(x));
  const auto flags = normalization_flags::use_global_stats | normalization_flags::use_scale |
                     normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data_md,
                                               ctx.node.GetFloat("epsilon", 1e-5f), flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::batch_normalization_forward(pd)};
  std::vector<BufferRef> args;
  runner.Bind(DNNL_ARG_SRC, data_md, ctx.engine);
  args.push_back(BufferRef::Input(0));
  const int params[] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
  for (size_t i = 0; i < 4; ++i) {
    dnnl_ops::BindWeights(ctx, i + 1, params[i], Vector(c), Vector(c), *kernel, runner, args);
  }
  runner.Bind(DNNL_ARG_DST, data_md, ctx.engine);
  args.push_back(BufferRef::Output(0));
  return Finish<dnnl::batch_normalization_forward>(ctx, pd, std::move(kernel), std::move(runner), std::move(args),
                                                   data_md, true);
}

// Binds input `input` ([C] values) repeated `times` times as a [times*C] argument: tiled once when
// known at compile time, else by a host step into scratch before each run.
void BindTiled(const CompileContext& ctx, size_t input, int arg, int64_t c, int64_t times,
               dnnl_ops::StepKernel& kernel, dnnl_util::PrimitiveRunner& runner, std::vector<BufferRef>& args) {
  const memory::desc md = Vector(c * times);
  if (ctx.inputs[input].is_known()) {
    const float* src = ctx.inputs[input].value->data_as<float>();
    std::vector<float> tiled(static_cast<size_t>(c * times));
    for (int64_t i = 0; i < times; ++i) std::memcpy(tiled.data() + i * c, src, static_cast<size_t>(c) * sizeof(float));
    runner.BindFixed(arg, dnnl_ops::ReorderConstant(ctx.engine, md, tiled.data(), md, ctx.constants));
    return;
  }
  const BufferRef region = kernel.ReserveScratch(md.get_size());
  kernel.AddHostStep([input, c, times, offset = region.index](const RunContext& run) {
    const float* src = run.input_as<float>(input);
    float* dst = reinterpret_cast<float*>(static_cast<char*>(run.scratch()) + offset);
    for (int64_t i = 0; i < times; ++i) std::memcpy(dst + i * c, src, static_cast<size_t>(c) * sizeof(float));
  });
  runner.Bind(arg, md, ctx.engine);
  args.push_back(region);
}

absl::StatusOr<CompiledKernel> CompileInstanceNorm(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 1));
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) return ctx.Invalid("input, scale and B are required");
  RETURN_IF_ERROR(CheckFloatInputs(ctx, 0, 3));
  const Shape& x = ctx.desc(0).shape;
  if (x.size() < 3) return ctx.Invalid("input must have rank >= 3");
  const int64_t n = x[0];
  const int64_t c = x[1];
  const int64_t spatial = NumElements(x) / std::max<int64_t>(1, n * c);
  if (NumElements(x) == 0) return ctx.Unsupported("empty input");
  if (NumElements(ctx.desc(1).shape) != c || NumElements(ctx.desc(2).shape) != c) {
    return ctx.Invalid("scale and B must have C elements");
  }
  // Per-(n, c) statistics are per-channel statistics of the [1, N*C, spatial] view.
  const memory::desc data_md({1, n * c, spatial}, kF32, memory::format_tag::abc);
  const auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data_md,
                                               ctx.node.GetFloat("epsilon", 1e-5f), flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::batch_normalization_forward(pd)};
  std::vector<BufferRef> args;
  runner.Bind(DNNL_ARG_SRC, data_md, ctx.engine);
  args.push_back(BufferRef::Input(0));
  BindTiled(ctx, 1, DNNL_ARG_SCALE, c, n, *kernel, runner, args);
  BindTiled(ctx, 2, DNNL_ARG_SHIFT, c, n, *kernel, runner, args);
  runner.Bind(DNNL_ARG_DST, data_md, ctx.engine);
  args.push_back(BufferRef::Output(0));
  return Finish<dnnl::batch_normalization_forward>(ctx, pd, std::move(kernel), std::move(runner), std::move(args),
                                                   dnnl_util::PlainDesc(kF32, x), false);
}

// LayerNormalization's optional Mean and InvStdDev outputs come from oneDNN's training-mode
// statistics (mean and variance); a host step turns the variance into 1 / sqrt(var + epsilon).
absl::StatusOr<CompiledKernel> CompileLayerNorm(const CompileContext& ctx) {
  RETURN_IF_ERROR(dnnl_ops::CheckOutputs(ctx, 3));
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.Invalid("X and Scale are required");
  RETURN_IF_ERROR(CheckFloatInputs(ctx, 0, 3));
  const Shape& x = ctx.desc(0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = ctx.node.GetInt("axis", -1);
  if (axis < -rank || axis >= rank) return ctx.Invalid("axis out of range");
  if (axis < 0) axis += rank;
  const int64_t outer = NumElements(Shape(x.begin(), x.begin() + axis));
  const int64_t inner = NumElements(Shape(x.begin() + axis, x.end()));
  if (outer == 0 || inner == 0) return ctx.Unsupported("empty input");
  const bool has_bias = ctx.has_input(2);
  if (NumElements(ctx.desc(1).shape) != inner || (has_bias && NumElements(ctx.desc(2).shape) != inner)) {
    return ctx.Unsupported("Scale and B must cover the normalized dimensions exactly");
  }
  const bool want_mean = ctx.node.output(1) != nullptr;
  const bool want_inv_std = ctx.node.output(2) != nullptr;
  const bool stats = want_mean || want_inv_std;
  const float epsilon = ctx.node.GetFloat("epsilon", 1e-5f);
  const memory::desc data_md({outer, inner}, kF32, memory::format_tag::ab);
  auto flags = normalization_flags::use_scale;
  if (has_bias) flags = flags | normalization_flags::use_shift;
  dnnl::layer_normalization_forward::desc desc(
      stats ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, data_md, epsilon, flags);
  dnnl::layer_normalization_forward::primitive_desc pd(desc, dnnl_ops::MakeAttr(), ctx.engine);

  auto kernel = std::make_unique<dnnl_ops::StepKernel>(ctx.node.Describe());
  dnnl_util::PrimitiveRunner runner{dnnl::layer_normalization_forward(pd)};
  std::vector<BufferRef> args;
  runner.Bind(DNNL_ARG_SRC, data_md, ctx.engine);
  args.push_back(BufferRef::Input(0));
  dnnl_ops::BindWeights(ctx, 1, DNNL_ARG_SCALE, Vector(inner), Vector(inner), *kernel, runner, args);
  if (has_bias) dnnl_ops::BindWeights(ctx, 2, DNNL_ARG_SHIFT, Vector(inner), Vector(inner), *kernel, runner, args);
  runner.Bind(DNNL_ARG_DST, data_md, ctx.engine);
  args.push_back(BufferRef::Output(0));
  StepKernelHost after;
  if (stats) {
    runner.Bind(DNNL_ARG_MEAN, pd.mean_desc(), ctx.engine);
    args.push_back(want_mean ? BufferRef::Output(1) : kernel->ReserveScratch(pd.mean_desc().get_size()));
    runner.Bind(DNNL_ARG_VARIANCE, pd.variance_desc(), ctx.engine);
    args.push_back(want_inv_std ? BufferRef::Output(2) : kernel->ReserveScratch(pd.variance_desc().get_size()));
  }
  if (want_inv_std) {
    after = [outer, epsilon](const RunContext& run) {
      float* v = run.output_as<float>(2);
      for (int64_t i = 0; i < outer; ++i) v[i] = 1.f / std::sqrt(v[i] + epsilon);
    };
  }
  ASSIGN_OR_RETURN(CompiledKernel compiled,
                   Finish<dnnl::layer_normalization_forward>(ctx, pd, std::move(kernel), std::move(runner),
                                                             std::move(args), dnnl_util::PlainDesc(kF32, x), false,
                                                             std::move(after)));
  Shape stat_shape(x.begin(), x.begin() + axis);
  stat_shape.resize(x.size(), 1);
  compiled.outputs.resize(3);
  if (want_mean) compiled.outputs[1] = TensorDesc{DataType::kFloat32, stat_shape, {}};
  if (want_inv_std) compiled.outputs[2] = TensorDesc{DataType::kFloat32, stat_shape, {}};
  return compiled;
}

}  // namespace

void RegisterDnnlNormKernels(KernelRegistry& registry) {
  registry.Register({"BatchNormalization", &dnnl_ops::Guarded<CompileBatchNorm>, kPriorityDnnl, {}});
  registry.Register({"InstanceNormalization", &dnnl_ops::Guarded<CompileInstanceNorm>, kPriorityDnnl, {}});
  registry.Register({"LayerNormalization", &dnnl_ops::Guarded<CompileLayerNorm>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
