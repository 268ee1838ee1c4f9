// The contract between the plan compiler and operator kernels.
//
// At compile time the compiler calls a KernelFactory once per node with the node's inputs described
// by concrete shapes, dtypes, current memory layouts, and (for inputs known at compile time) their
// values. The factory validates the node, builds everything the run needs (oneDNN primitives,
// reordered weights, strides, ...), and returns a CompiledKernel: the Kernel object plus the output
// descriptions and the layouts it wants its inputs in. At run time the plan calls Kernel::Run with
// buffers that match exactly what the factory declared. Run must not allocate, must not block, and
// may be called many times, but never concurrently on one Kernel.
//
// A factory returns:
//   - InvalidArgument naming the node for a malformed node or inputs it cannot accept
//     (wrong rank, dtype, attribute values);
//   - Unimplemented for a valid node this kernel does not handle (an unsupported dtype, attribute
//     value, or layout); the registry then tries the next kernel registered for the op.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "common/status.h"
#include "engine/precision.h"
#include "graph/ir.h"
#include "tensor/tensor.h"

namespace peregrine::engine {

class SharedConstants;

// How a tensor lives inside a plan.
struct TensorDesc {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  // oneDNN memory layout when the tensor is kept in a oneDNN-specific (e.g. blocked nChw16c) layout,
  // or in another element type than `dtype` (float32 activations held as bf16 between bfloat16
  // convolutions). A zero desc (the default) means dense row-major `dtype`, which every kernel understands.
  dnnl::memory::desc layout;

  bool is_plain() const { return layout.is_zero(); }
  bool present() const { return dtype != DataType::kUndefined; }
  // Bytes needed to hold the tensor in its layout.
  size_t byte_size() const;
};

// One input of the node being compiled.
struct KernelInput {
  TensorDesc desc;                // dtype kUndefined when an optional input is omitted
  const Tensor* value = nullptr;  // set when the value is known at compile time (always plain)

  bool present() const { return desc.present(); }
  bool is_known() const { return value != nullptr; }
};

struct CompileContext {
  const graph::Node& node;
  std::vector<KernelInput> inputs;  // one per node input, omitted ones included
  const dnnl::engine& engine;
  int opset = 0;    // version of the default ONNX domain the model imports
  int threads = 1;  // intra-op threads the plan runs with
  // Where compile-time constants the kernel keeps (reordered weights) should live: the session's
  // store, shared by its plans and alive as long as their kernels. nullptr: the kernel owns them
  // (oneDNN-allocated memory).
  SharedConstants* constants = nullptr;
  // Kernels that support it (Conv, Gemm/MatMul, LSTM with constant weights) compute in bfloat16 when
  // this is kBfloat16, which the session sets only on CPUs with native bfloat16; their layouts then
  // carry bf16 data (see TensorDesc::layout) and the compiler's reorders convert at the edges.
  Precision precision = Precision::kFloat32;

  // The input's descriptor; an absent TensorDesc for out-of-range indices.
  const TensorDesc& desc(size_t i) const;
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present(); }
  // InvalidArgument("<node>: <message>") - the uniform way kernels report bad nodes.
  absl::Status Invalid(const std::string& message) const;
  // Unimplemented("<node>: <message>").
  absl::Status Unsupported(const std::string& message) const;
};

// Buffers for one execution of a kernel. Pointers follow the layouts declared at compile time.
class RunContext {
 public:
  RunContext(void* const* inputs, size_t num_inputs, void* const* outputs, size_t num_outputs, void* scratch,
             dnnl::stream* stream)
      : inputs_(inputs), num_inputs_(num_inputs), outputs_(outputs), num_outputs_(num_outputs),
        scratch_(scratch), stream_(stream) {}

  // Input i's buffer (nullptr for an omitted input).
  const void* input(size_t i) const { return i < num_inputs_ ? inputs_[i] : nullptr; }
  template <typename T> const T* input_as(size_t i) const { return static_cast<const T*>(input(i)); }
  // Output i's buffer (nullptr for an omitted output).
  void* output(size_t i) const { return i < num_outputs_ ? outputs_[i] : nullptr; }
  template <typename T> T* output_as(size_t i) const { return static_cast<T*>(output(i)); }
  // At least CompiledKernel::scratch_bytes of 64-byte aligned memory, shared by all steps.
  void* scratch() const { return scratch_; }
  dnnl::stream& stream() const { return *stream_; }

 private:
  void* const* inputs_;
  size_t num_inputs_;
  void* const* outputs_;
  size_t num_outputs_;
  void* scratch_;
  dnnl::stream* stream_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Executes the node. Errors here are data errors (e.g. an index out of range) and name the node.
  virtual absl::Status Run(const RunContext& ctx) = 0;
};

struct CompiledKernel {
  std::unique_ptr<Kernel> kernel;
  // One per node output; an omitted (nullptr) node output gets an absent TensorDesc.
  std::vector<TensorDesc> outputs;
  // Layout wanted for each input; empty, or a zero desc for an input, means plain row-major. When it
  // differs from the producer's layout the compiler inserts a reorder before this step.
  std::vector<dnnl::memory::desc> input_layouts;
  size_t scratch_bytes = 0;
  // Output 0 may share input `alias_input`'s buffer (the kernel works in place). With
  // `alias_required`, output 0 must hold input `alias_input`'s data when Run starts (a oneDNN sum
  // post-op): the compiler shares the buffer when it can, or copies the input in before the step.
  int alias_input = -1;
  bool alias_required = false;
  // The kernel computes in bfloat16 (CompileContext::precision) though its outputs are float32 (a
  // Gemm): counted in PlanStats::bf16_steps like the steps whose outputs carry bf16 data.
  bool computes_bfloat16 = false;
};

using KernelFactory = absl::StatusOr<CompiledKernel> (*)(const CompileContext& ctx);

}  // namespace peregrine::engine
