// Shared helpers for oneDNN-backed kernels: type and shape conversion, and PrimitiveRunner, which
// executes a primitive without allocating (oneDNN's C++ execute() builds a std::vector per call).
#pragma once

#include <initializer_list>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "common/status.h"
#include "engine/kernel.h"

namespace peregrine::engine::dnnl_util {

// oneDNN's type for `type`; Unimplemented for types oneDNN has no primitive support for.
absl::StatusOr<dnnl::memory::data_type> ToDnnlType(DataType type);
dnnl::memory::dims ToDims(const Shape& shape);
// Dense row-major descriptor (format tag a, ab, abc, ...) of rank 1..12; rank 0 is treated as [1].
dnnl::memory::desc PlainDesc(dnnl::memory::data_type type, const Shape& shape);
// The tensor's layout when it is blocked, else its plain row-major descriptor.
absl::StatusOr<dnnl::memory::desc> DescOf(const TensorDesc& desc);
// A plan TensorDesc for a oneDNN descriptor chosen by a primitive (plain descriptors map to a zero
// layout so that plain consumers need no reorder).
TensorDesc FromDnnl(DataType dtype, const Shape& shape, const dnnl::memory::desc& md);
// True for a zero desc or dense row-major data of `dtype`'s own element type (a bf16 copy of a
// float32 tensor is not plain: readers of plain float32 need a conversion).
bool IsPlain(const dnnl::memory::desc& md, DataType dtype, const Shape& shape);
// The type a kernel that supports bfloat16 computes its activations and weights in: bf16 when the
// session's precision asks for it (set only on CPUs with native bfloat16), else f32.
dnnl::memory::data_type ComputeType(const CompileContext& ctx);

// Reorders a plain host tensor (e.g. weights known at compile time) into `md`, returning memory the
// caller owns, or memory held by `constants` (which must outlive its use) when given.
dnnl::memory ReorderToLayout(const dnnl::engine& engine, const Tensor& tensor, const dnnl::memory::desc& md,
                             SharedConstants* constants = nullptr);

// Holds one primitive and its argument list. Arguments are either fixed (weights owned by the
// kernel) or bound per run, in the order of Bind() calls, by Run(). Run does not allocate.
class PrimitiveRunner {
 public:
  PrimitiveRunner() = default;
  explicit PrimitiveRunner(dnnl::primitive primitive) : primitive_(std::move(primitive)) {}

  // Adds an argument whose buffer is supplied by each Run() call, in the order of Bind() calls.
  void Bind(int dnnl_arg, const dnnl::memory::desc& md, const dnnl::engine& engine);
  // Adds an argument bound to `memory` for the runner's lifetime.
  void BindFixed(int dnnl_arg, dnnl::memory memory);
  // Points the per-run arguments at `buffers` (one per Bind(), in order) and executes on `stream`.
  absl::Status Run(dnnl::stream& stream, std::initializer_list<const void*> buffers);

 private:
  dnnl::primitive primitive_;
  std::vector<dnnl::memory> memories_;  // keeps fixed and bound memories alive
  std::vector<dnnl_exec_arg_t> args_;
  std::vector<size_t> bound_;           // indices into args_/memories_ of per-run arguments
};

}  // namespace peregrine::engine::dnnl_util
