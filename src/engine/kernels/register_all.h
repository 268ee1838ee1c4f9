// One registration function per kernel family; register_all.cc calls every one of them.
#pragma once

#include "engine/kernel_registry.h"

namespace peregrine::engine {

// Portable C++ kernels (kernels/ref/).
void RegisterRefElementwiseKernels(KernelRegistry& registry);  // unary/binary math, compare, Where, Cast
void RegisterRefShapeKernels(KernelRegistry& registry);        // Reshape, Transpose, Slice, Gather, Concat, ...
void RegisterRefReduceKernels(KernelRegistry& registry);       // ReduceMean/Sum/Max/..., Softmax, LogSoftmax, ArgMax

// oneDNN kernels (kernels/dnnl/).
void RegisterDnnlReorderKernels(KernelRegistry& registry);     // internal layout conversion
void RegisterDnnlConvKernels(KernelRegistry& registry);        // Conv, ConvTranspose
void RegisterDnnlMatMulKernels(KernelRegistry& registry);      // Gemm, MatMul
void RegisterDnnlPoolKernels(KernelRegistry& registry);        // MaxPool, AveragePool, Global*Pool
void RegisterDnnlNormKernels(KernelRegistry& registry);        // Batch/Instance/LayerNormalization
void RegisterDnnlEltwiseKernels(KernelRegistry& registry);     // float unary/binary, Softmax, LogSoftmax
void RegisterDnnlRnnKernels(KernelRegistry& registry);         // LSTM, GRU, RNN

}  // namespace peregrine::engine
