// Shared machinery of the oneDNN op kernels (Conv, MatMul, pooling, normalization, eltwise):
//   - ONNX activations as oneDNN eltwise operations, and graph::PostOp lists as oneDNN post-ops;
//   - StepKernel, a Kernel that runs a fixed list of primitives (e.g. runtime weights reorder, the op
//     itself, in-place post-op steps) whose arguments point at node inputs, outputs or scratch;
//   - ScratchLayout, which carves a kernel's scratch memory into aligned regions;
//   - Guarded<F>, which turns oneDNN exceptions escaping a factory into Unimplemented.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "common/status.h"
#include "engine/kernel.h"
#include "engine/kernels/dnnl/dnnl_util.h"

namespace peregrine::engine::dnnl_ops {

// One oneDNN elementwise operation: y = alg(x; alpha, beta).
struct EltwiseOp {
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
  float alpha = 0;
  float beta = 0;
};

// The oneDNN operations (applied in order) equal to ONNX activation `op`. alpha/beta follow
// graph::PostOp: LeakyRelu/Elu alpha, Clip min/max, HardSigmoid alpha/beta, Selu alpha/gamma.
// Unimplemented when oneDNN has no equivalent (e.g. Erf).
absl::StatusOr<std::vector<EltwiseOp>> ActivationOps(const std::string& op, float alpha, float beta);

// node.post_ops as oneDNN post-ops for primitives that support eltwise and sum post-ops.
struct FusedPostOps {
  dnnl::post_ops ops;
  int sum_input = -1;  // node input added by the sum post-op (must be in dst before Run), or -1
};
// The ops are appended to `base` (post-ops the kernel itself needs first). Unimplemented for
// activations oneDNN lacks or several sums; InvalidArgument when the addend's dtype or shape
// differs from the output's.
absl::StatusOr<FusedPostOps> TranslatePostOps(const CompileContext& ctx, DataType dtype, const Shape& out_shape,
                                              dnnl::post_ops base = dnnl::post_ops());

// Attribute with user-managed scratchpad (the plan passes shared scratch memory) and `ops`.
dnnl::primitive_attr MakeAttr(const dnnl::post_ops& ops = dnnl::post_ops());

// For a float32 tensor: zero desc for dense row-major float32 `md` (what plan descriptors use for
// plain), else `md` (blocked, or bf16 data).
dnnl::memory::desc LayoutFor(const dnnl::memory::desc& md, const Shape& shape);

// Byte offsets of regions inside a kernel's scratch memory; each region is 64-byte aligned.
class ScratchLayout {
 public:
  size_t Reserve(size_t bytes);
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

// Where one primitive argument's buffer comes from when the kernel runs.
struct BufferRef {
  enum class Kind { kInput, kOutput, kScratch };
  Kind kind = Kind::kInput;
  size_t index = 0;  // input or output index, or byte offset into scratch

  static BufferRef Input(size_t i) { return {Kind::kInput, i}; }
  static BufferRef Output(size_t i) { return {Kind::kOutput, i}; }
  static BufferRef Scratch(size_t offset) { return {Kind::kScratch, offset}; }
};

// A kernel made of primitives run in order. Each step's `args` name the buffers for its runner's
// Bind() calls, in order (at most 8). Host steps run plain C++ between primitives (no allocation).
class StepKernel : public Kernel {
 public:
  using HostStep = std::function<void(const RunContext&)>;

  explicit StepKernel(std::string node) : node_(std::move(node)) {}
  void AddStep(dnnl_util::PrimitiveRunner runner, std::vector<BufferRef> args);
  void AddHostStep(HostStep step);
  // Keeps `memory` (e.g. reordered weights bound with BindFixed) alive with the kernel.
  void Keep(dnnl::memory memory) { kept_.push_back(std::move(memory)); }
  // Reserves a region of the kernel's scratch memory.
  BufferRef ReserveScratch(size_t bytes) { return BufferRef::Scratch(scratch_.Reserve(bytes)); }
  // When `pd` needs a scratchpad: binds DNNL_ARG_SCRATCHPAD on `runner`, appends its region to `args`.
  BufferRef AddScratchpad(const dnnl::primitive_desc_base& pd, const dnnl::engine& engine,
                          dnnl_util::PrimitiveRunner& runner, std::vector<BufferRef>& args);
  // Scratch bytes all steps need together (CompiledKernel::scratch_bytes).
  size_t scratch_bytes() const { return scratch_.total(); }
  size_t num_steps() const { return steps_.size(); }

  absl::Status Run(const RunContext& ctx) override;

 private:
  struct Step {
    dnnl_util::PrimitiveRunner runner;
    std::vector<BufferRef> args;
    HostStep host;
  };
  std::string node_;
  std::vector<Step> steps_;
  std::vector<dnnl::memory> kept_;
  ScratchLayout scratch_;
};

// Adds node.post_ops as separate in-place steps on output 0 (layout `dst_md`) for primitives without
// post-op support: eltwise steps, and binary-add steps reading the addend input, whose wanted layout
// is set to dst_md in `compiled.input_layouts`.
absl::Status AppendPostOpSteps(const CompileContext& ctx, const dnnl::memory::desc& dst_md, const Shape& out_shape,
                               StepKernel& kernel, CompiledKernel& compiled);

// Adds one eltwise primitive working in place on output 0 (layout `md`).
void AppendEltwiseStep(const dnnl::engine& engine, const EltwiseOp& op, const dnnl::memory::desc& md,
                       StepKernel& kernel);

// Calls F, converting oneDNN (and other standard) exceptions into Unimplemented naming the node:
// a primitive oneDNN cannot create means this kernel does not handle the case. Also gives omitted
// trailing node outputs their absent descriptors.
template <absl::StatusOr<CompiledKernel> (*F)(const CompileContext&)>
absl::StatusOr<CompiledKernel> Guarded(const CompileContext& ctx) {
  try {
    absl::StatusOr<CompiledKernel> compiled = F(ctx);
    if (compiled.ok() && compiled->outputs.size() < ctx.node.outputs.size()) {
      compiled->outputs.resize(ctx.node.outputs.size());
    }
    return compiled;
  } catch (const dnnl::error& e) {
    return ctx.Unsupported(std::string("oneDNN: ") + e.what());
  } catch (const std::exception& e) {
    return ctx.Unsupported(e.what());
  }
}

// The node's output count check shared by all factories: output 0 must exist, and outputs past
// `max_outputs` must be omitted.
absl::Status CheckOutputs(const CompileContext& ctx, size_t max_outputs);

}  // namespace peregrine::engine::dnnl_ops
