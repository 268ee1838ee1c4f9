// Graph rewrites that need no kernels. Each returns how many rewrites it made, so a driver can
// iterate to a fixed point and `peregrine inspect` can report what was done. All passes keep the
// graph's observable outputs (names and values) unchanged, up to floating-point rounding.
#pragma once

#include "graph/ir.h"

namespace peregrine::graph {

// Drops Identity and inference-mode Dropout nodes, rewiring their consumers to the input.
int RemoveIdentities(Graph& graph);

// Folds an inference BatchNormalization that follows a Conv with constant weights into the Conv's
// weights and bias (w' = w * scale / sqrt(var + eps), b' = (b - mean) * scale / sqrt(var + eps) + B).
int FoldBatchNormIntoConv(Graph& graph);

// Fuses a residual Add whose one operand is the single-use output of a Conv/Gemm/MatMul into that
// node as a PostOp::kSum (the other operand becomes an extra node input). Only when both operands
// provably have the same shape.
int FuseResidualAdd(Graph& graph);

// Fuses Relu, LeakyRelu, Sigmoid, Tanh, Clip (constant bounds), Elu, HardSigmoid following a
// Conv/ConvTranspose/Gemm/MatMul with a single consumer into that node as a PostOp::kActivation.
int FuseActivations(Graph& graph);

// Runs the passes above to a fixed point and removes dead nodes.
struct PassStats {
  int identities_removed = 0;
  int batchnorms_folded = 0;
  int adds_fused = 0;
  int activations_fused = 0;
};
PassStats RunFusionPasses(Graph& graph);

}  // namespace peregrine::graph
