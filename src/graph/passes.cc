#include "graph/passes.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace peregrine::graph {
namespace {

bool IsGraphOutput(const Graph& graph, const Value* value) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), value) != graph.outputs.end();
}

// The only consumer of `value`, or nullptr when it has several, none, or is a graph output.
Node* SoleConsumer(const Graph& graph, const Value* value) {
  if (IsGraphOutput(graph, value)) return nullptr;
  std::vector<Node*> consumers = graph.Consumers(value);
  if (consumers.size() != 1) return nullptr;
  // A node reading the value twice (Add(x, x)) cannot absorb it.
  const auto& ins = consumers[0]->inputs;
  return std::count(ins.begin(), ins.end(), value) == 1 ? consumers[0] : nullptr;
}

bool IsFusionTarget(const Node& node) {
  static const std::set<std::string> kTargets = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
  return node.domain.empty() && kTargets.count(node.op_type) && node.outputs.size() == 1;
}

bool SameKnownShape(const Value& a, const Value& b) {
  if (!a.shape || !b.shape || a.shape->size() != b.shape->size() || a.dtype != b.dtype) return false;
  for (size_t i = 0; i < a.shape->size(); ++i) {
    const Dim& x = (*a.shape)[i];
    const Dim& y = (*b.shape)[i];
    if (x.known() && y.known() && x.size == y.size) continue;
    if (!x.known() && !y.known() && !x.symbol.empty() && x.symbol == y.symbol) continue;
    return false;
  }
  return true;
}

// Redirects uses of `node`'s output to `replacement` and removes `node`.
void Bypass(Graph& graph, Node* node, Value* replacement) {
  Value* out = node->outputs[0];
  if (IsGraphOutput(graph, out)) {
    // Keep the output's name: the producer of `replacement` now writes `out` directly.
    Node* producer = replacement->producer;
    if (producer == nullptr || IsGraphOutput(graph, replacement)) return;
    std::replace(producer->outputs.begin(), producer->outputs.end(), replacement, out);
    out->producer = producer;
    graph.ReplaceAllUses(replacement, out);
    graph.RemoveNode(node);
    return;
  }
  graph.ReplaceAllUses(out, replacement);
  graph.RemoveNode(node);
}

const float* ConstFloats(const Value* v, int64_t count) {
  if (v == nullptr || !v->is_constant() || v->constant->dtype() != DataType::kFloat32) return nullptr;
  return v->constant->num_elements() == count ? v->constant->data_as<float>() : nullptr;
}

std::vector<Node*> Snapshot(const Graph& graph) {
  std::vector<Node*> nodes;
  for (const auto& node : graph.nodes()) nodes.push_back(node.get());
  return nodes;
}

// Fuses add = main + other into main's producer as a sum post-op; false when the pattern does not apply.
bool TryFuseAdd(Graph& graph, Node* add, Value* main, Value* other) {
  Node* producer = main ? main->producer : nullptr;
  if (producer == nullptr || other == nullptr || !IsFusionTarget(*producer)) return false;
  // A sum must be the first post-op (activations fused later apply to the sum).
  if (!producer->post_ops.empty() || SoleConsumer(graph, main) != add || other->producer == producer) return false;
  if (!SameKnownShape(*main, *other) || !SameKnownShape(*main, *add->outputs[0])) return false;
  // The addend goes after every input the op may have (Conv/Gemm: 3) so it is never taken for a bias.
  constexpr size_t kMaxOpInputs = 3;
  if (producer->inputs.size() < kMaxOpInputs) producer->inputs.resize(kMaxOpInputs, nullptr);
  PostOp sum;
  sum.kind = PostOp::Kind::kSum;
  sum.input_index = static_cast<int>(producer->inputs.size());
  producer->inputs.push_back(other);
  producer->post_ops.push_back(sum);
  Bypass(graph, add, main);
  return true;
}

}  // namespace

int RemoveIdentities(Graph& graph) {
  int removed = 0;
  std::vector<Node*> candidates;
  for (const auto& node : graph.nodes()) {
    bool dropout = node->op_type == "Dropout" && (node->outputs.size() < 2 || node->outputs[1] == nullptr);
    if (node->domain.empty() && (node->op_type == "Identity" || dropout) && node->input(0) != nullptr) {
      candidates.push_back(node.get());
    }
  }
  for (Node* node : candidates) {
    size_t before = graph.nodes().size();
    Bypass(graph, node, node->inputs[0]);
    removed += graph.nodes().size() < before ? 1 : 0;
  }
  return removed;
}

int FoldBatchNormIntoConv(Graph& graph) {
  int folded = 0;
  {  // Each rewrite removes only the node being visited, so a snapshot of the list stays valid.
    for (Node* bn : Snapshot(graph)) {
      if (bn->op_type != "BatchNormalization" || !bn->domain.empty() || bn->outputs.size() != 1) continue;
      Node* conv = bn->input(0) ? bn->input(0)->producer : nullptr;
      if (conv == nullptr || conv->op_type != "Conv" || !conv->post_ops.empty()) continue;
      if (SoleConsumer(graph, conv->outputs[0]) != bn) continue;
      Value* w = conv->input(1);
      if (w == nullptr || !w->is_constant() || w->constant->dtype() != DataType::kFloat32 || w->constant->rank() < 3) continue;
      const int64_t channels = w->constant->shape()[0];
      const float* scale = ConstFloats(bn->input(1), channels);
      const float* shift = ConstFloats(bn->input(2), channels);
      const float* mean = ConstFloats(bn->input(3), channels);
      const float* var = ConstFloats(bn->input(4), channels);
      const float* bias = conv->input(2) ? ConstFloats(conv->input(2), channels) : nullptr;
      if (!scale || !shift || !mean || !var || (conv->input(2) && !bias)) continue;
      const float eps = bn->GetFloat("epsilon", 1e-5f);

      Tensor new_w = w->constant->Clone();
      Tensor new_b = Tensor::Zeros(DataType::kFloat32, {channels});
      const int64_t per_channel = new_w.num_elements() / channels;
      for (int64_t c = 0; c < channels; ++c) {
        const float k = scale[c] / std::sqrt(var[c] + eps);
        float* wc = new_w.data_as<float>() + c * per_channel;
        for (int64_t j = 0; j < per_channel; ++j) wc[j] *= k;
        new_b.data_as<float>()[c] = ((bias ? bias[c] : 0.f) - mean[c]) * k + shift[c];
      }
      conv->inputs.resize(3);
      conv->inputs[1] = graph.AddConstant(graph.UniqueName(w->name + "_bn_folded"), std::move(new_w));
      conv->inputs[2] = graph.AddConstant(graph.UniqueName(conv->name + "_bias_bn_folded"), std::move(new_b));
      Bypass(graph, bn, conv->outputs[0]);
      ++folded;
    }
  }
  return folded;
}

int FuseResidualAdd(Graph& graph) {
  int fused = 0;
  for (Node* add : Snapshot(graph)) {
    if (add->op_type != "Add" || !add->domain.empty() || add->inputs.size() != 2) continue;
    for (int side = 0; side < 2; ++side) {
      if (TryFuseAdd(graph, add, add->inputs[side], add->inputs[1 - side])) {
        ++fused;
        break;  // `add` is gone
      }
    }
  }
  return fused;
}

int FuseActivations(Graph& graph) {
  static const std::set<std::string> kActivations = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Elu", "HardSigmoid"};
  int fused = 0;
  {
    for (Node* act : Snapshot(graph)) {
      if (!act->domain.empty() || !kActivations.count(act->op_type) || act->input(0) == nullptr) continue;
      Node* producer = act->input(0)->producer;
      if (producer == nullptr || !IsFusionTarget(*producer) || SoleConsumer(graph, act->input(0)) != act) continue;
      if (act->outputs.size() != 1 || act->input(0)->dtype != DataType::kFloat32) continue;
      PostOp op;
      op.kind = PostOp::Kind::kActivation;
      op.activation = act->op_type;
      if (act->op_type == "LeakyRelu") op.alpha = act->GetFloat("alpha", 0.01f);
      if (act->op_type == "Elu") op.alpha = act->GetFloat("alpha", 1.0f);
      if (act->op_type == "HardSigmoid") {
        op.alpha = act->GetFloat("alpha", 0.2f);
        op.beta = act->GetFloat("beta", 0.5f);
      }
      if (act->op_type == "Clip") {
        // Bounds are attributes before opset 11 and optional constant inputs after.
        op.alpha = act->GetFloat("min", -INFINITY);
        op.beta = act->GetFloat("max", INFINITY);
        const float* lo = act->input(1) ? ConstFloats(act->input(1), 1) : nullptr;
        const float* hi = act->input(2) ? ConstFloats(act->input(2), 1) : nullptr;
        if ((act->input(1) && !lo) || (act->input(2) && !hi)) continue;
        if (lo) op.alpha = *lo;
        if (hi) op.beta = *hi;
      }
      producer->post_ops.push_back(op);
      Bypass(graph, act, act->inputs[0]);
      ++fused;
    }
  }
  return fused;
}

PassStats RunFusionPasses(Graph& graph) {
  PassStats stats;
  stats.identities_removed = RemoveIdentities(graph);
  stats.batchnorms_folded = FoldBatchNormIntoConv(graph);
  stats.adds_fused = FuseResidualAdd(graph);
  stats.activations_fused = FuseActivations(graph);
  graph.RemoveDeadNodes();
  // A fused sum makes its node read the other addend, which may come later in the old order.
  absl::Status sorted = graph.TopologicalSort();
  (void)sorted;  // fusion adds no cycles: the addend never depends on the node it is fused into
  return stats;
}

}  // namespace peregrine::graph
