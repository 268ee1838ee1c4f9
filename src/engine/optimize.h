// Shape-independent graph optimisation run once when a Session is created: constant folding
// (through the kernels themselves, so folded results are bit-identical to running them) followed by
// the fusion passes of graph/passes.h.
#pragma once

#include "common/status.h"
#include "graph/ir.h"
#include "graph/passes.h"

namespace peregrine::engine {

struct OptimizeStats {
  int constants_folded = 0;
  graph::PassStats passes;
};

absl::StatusOr<OptimizeStats> Optimize(graph::Graph& graph);

// Replaces every node whose inputs are all constants by its constant outputs; returns how many.
absl::StatusOr<int> FoldConstants(graph::Graph& graph);

}  // namespace peregrine::engine
