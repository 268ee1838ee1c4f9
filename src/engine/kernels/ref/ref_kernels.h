// Registration functions of the portable kernel files; the three public Register* functions in
// register_all.h call these (elementwise.cc, shape_ops.cc, reduce.cc).
#pragma once

#include "engine/kernel_registry.h"

namespace peregrine::engine::ref {

void RegisterUnaryKernels(KernelRegistry& registry);     // unary.cc: Abs..Tanh, Clip, IsNaN, IsInf
void RegisterBinaryKernels(KernelRegistry& registry);    // binary.cc: Add..Xor, BitShift, Sum/Mean/Min/Max, PRelu
void RegisterWhereCastKernels(KernelRegistry& registry); // where_cast.cc: Where, Cast, CastLike
void RegisterReshapeKernels(KernelRegistry& registry);   // reshape.cc: Reshape, Flatten, Squeeze, ...
void RegisterConstantKernels(KernelRegistry& registry);  // constant.cc: Constant, Shape, Size, Range, ...
void RegisterMoveKernels(KernelRegistry& registry);      // movement.cc: Transpose, Expand, Tile, Slice, DepthToSpace, ...
void RegisterConcatKernels(KernelRegistry& registry);    // concat.cc: Concat, Split
void RegisterPadKernels(KernelRegistry& registry);       // pad.cc: Pad
void RegisterGatherKernels(KernelRegistry& registry);    // gather.cc: Gather, GatherElements
void RegisterScatterKernels(KernelRegistry& registry);   // scatter.cc: GatherND, ScatterND, ScatterElements
void RegisterMatrixKernels(KernelRegistry& registry);    // matrix_ops.cc: Trilu, EyeLike, OneHot
void RegisterScanKernels(KernelRegistry& registry);      // scan_ops.cc: CumSum, TopK, ReverseSequence
void RegisterReductionKernels(KernelRegistry& registry); // reduce.cc: Reduce*
void RegisterArgKernels(KernelRegistry& registry);       // softmax.cc: ArgMax/ArgMin, Softmax, Hardmax, LRN

}  // namespace peregrine::engine::ref
