#include "engine/optimize.h"

#include <algorithm>

#include "engine/compiler.h"

namespace peregrine::engine {
namespace {

// Ops whose result must not be computed once and reused.
bool IsFoldable(const graph::Node& node) {
  static const char* const kNever[] = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"};
  return std::none_of(std::begin(kNever), std::end(kNever), [&](const char* op) { return node.op_type == op; });
}

}  // namespace

absl::StatusOr<int> FoldConstants(graph::Graph& graph) {
  // Nodes are in topological order, so folding one can make the next foldable in the same sweep.
  std::vector<graph::Node*> folded;
  for (const auto& node : graph.nodes()) {
    const bool all_constant = std::all_of(node->inputs.begin(), node->inputs.end(),
                                          [](const graph::Value* v) { return v == nullptr || v->is_constant(); });
    if (!all_constant || !IsFoldable(*node)) continue;
    std::vector<const Tensor*> inputs;
    for (const graph::Value* v : node->inputs) inputs.push_back(v ? &*v->constant : nullptr);
    auto outputs = EvaluateNode(*node, inputs, graph.opset, CpuEngine());
    // A node that cannot run stays in the graph; compiling the plan reports it with full context.
    if (!outputs.ok()) continue;
    for (size_t i = 0; i < node->outputs.size(); ++i) {
      graph::Value* out = node->outputs[i];
      if (out == nullptr) continue;
      std::vector<graph::Dim> dims;
      for (int64_t d : (*outputs)[i].shape()) dims.push_back(graph::Dim{d, ""});
      out->dtype = (*outputs)[i].dtype();
      out->shape = std::move(dims);
      out->constant = std::move((*outputs)[i]);
      out->producer = nullptr;
    }
    folded.push_back(node.get());
  }
  for (graph::Node* node : folded) graph.RemoveNode(node);
  return static_cast<int>(folded.size());
}

absl::StatusOr<OptimizeStats> Optimize(graph::Graph& graph) {
  OptimizeStats stats;
  ASSIGN_OR_RETURN(stats.constants_folded, FoldConstants(graph));
  stats.passes = graph::RunFusionPasses(graph);
  return stats;
}

}  // namespace peregrine::engine
