// Pieces shared by the windowed oneDNN kernels (Conv, ConvTranspose, pooling) and by the kernels
// that hold weights (Conv, ConvTranspose, Gemm/MatMul): ONNX window attributes and weight layout
// preparation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "common/status.h"
#include "engine/kernel.h"
#include "engine/kernels/dnnl/post_ops.h"

namespace peregrine::engine::dnnl_ops {

// ONNX window attributes (kernel_shape, strides, dilations, pads, auto_pad) for `spatial` dims.
struct WindowAttrs {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;  // ONNX convention: 1 means dense
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  std::string auto_pad = "NOTSET";  // NOTSET, SAME_UPPER, SAME_LOWER or VALID
};

// Reads and checks the attributes. `kernel` is the kernel size from the weights (Conv) or empty
// when kernel_shape is required (pooling). InvalidArgument for wrong sizes or non-positive values.
absl::StatusOr<WindowAttrs> ReadWindowAttrs(const CompileContext& ctx, size_t spatial,
                                            const std::vector<int64_t>& kernel);

// Resolves auto_pad for a forward window (conv, pooling) over `in` (spatial sizes): fills pads and
// returns the output spatial sizes (floor rounding, or ceil with `ceil_mode`). InvalidArgument when
// an output size is not positive.
absl::StatusOr<std::vector<int64_t>> ForwardWindowOutput(const CompileContext& ctx, const std::vector<int64_t>& in,
                                                         WindowAttrs& attrs, bool ceil_mode);

// oneDNN dims from int64 lists; dilations in oneDNN's convention (0 means dense).
dnnl::memory::dims Dims(const std::vector<int64_t>& values);
dnnl::memory::dims DnnlDilations(const std::vector<int64_t>& onnx_dilations);

// Copies constant data described by `user_md` into memory of layout `target_md` (compile time), held
// by `constants` when given (ctx.constants: shared with the session's other plans), else owned by the
// returned memory.
dnnl::memory ReorderConstant(const dnnl::engine& engine, const dnnl::memory::desc& user_md, const void* data,
                             const dnnl::memory::desc& target_md, SharedConstants* constants = nullptr);

// For an operand only known at run time: adds a step reordering node input `input` (layout
// `user_md`) into a scratch region of layout `target_md`, and returns that region.
BufferRef AddRuntimeReorder(const dnnl::engine& engine, size_t input, const dnnl::memory::desc& user_md,
                            const dnnl::memory::desc& target_md, StepKernel& kernel);

// Binds a primitive's weights-like argument `arg`: fixed reordered memory when `input` is known at
// compile time, else a runtime reorder into scratch. `user_md` describes the input's plain data.
void BindWeights(const CompileContext& ctx, size_t input, int arg, const dnnl::memory::desc& user_md,
                 const dnnl::memory::desc& target_md, StepKernel& kernel, dnnl_util::PrimitiveRunner& runner,
                 std::vector<BufferRef>& args);

}  // namespace peregrine::engine::dnnl_ops
