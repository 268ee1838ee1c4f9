// MaxPool's optional Indices output from oneDNN's max-pooling workspace.
//
// In training mode oneDNN records, for every output element, which element of its window held the
// maximum (an offset inside the window, row-major over the kernel dims). ONNX wants flat offsets
// into the whole input tensor instead; the host step built here converts one into the other.
#pragma once

#include <cstdint>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "engine/kernels/dnnl/conv_common.h"
#include "engine/kernels/dnnl/post_ops.h"
#include "tensor/shape.h"

namespace peregrine::engine::dnnl_ops {

struct PoolIndexGeometry {
  Shape in;                  // [N, C, spatial...] of the pooled input
  Shape out;                 // [N, C, spatial...] of the output (and of the plain workspace)
  WindowAttrs window;        // resolved pads, strides, dilations, kernel
  bool column_major = false; // ONNX storage_order 1: spatial offsets counted column-major
  dnnl::memory::data_type workspace_type = dnnl::memory::data_type::u8;  // u8 or s32
};

// A host step reading the plain workspace at `workspace` and writing int64 indices to output 1.
StepKernel::HostStep MakeIndicesStep(PoolIndexGeometry geometry, BufferRef workspace);

}  // namespace peregrine::engine::dnnl_ops
