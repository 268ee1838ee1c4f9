#include "graph/ir.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"

namespace peregrine::graph {

int64_t Node::GetInt(const std::string& attr, int64_t fallback) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? fallback : it->second.i;
}

float Node::GetFloat(const std::string& attr, float fallback) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? fallback : it->second.f;
}

std::string Node::GetString(const std::string& attr, const std::string& fallback) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::GetInts(const std::string& attr, std::vector<int64_t> fallback) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? fallback : it->second.ints;
}

std::vector<float> Node::GetFloats(const std::string& attr, std::vector<float> fallback) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? fallback : it->second.floats;
}

std::vector<std::string> Node::GetStrings(const std::string& attr) const {
  auto it = attributes.find(attr);
  return it == attributes.end() ? std::vector<std::string>{} : it->second.strings;
}

const Tensor* Node::GetTensor(const std::string& attr) const {
  auto it = attributes.find(attr);
  return it == attributes.end() || it->second.kind != Attribute::Kind::kTensor ? nullptr : &it->second.t;
}

std::string Node::Describe() const { return absl::StrCat(op_type, " '", name, "'"); }

Value* Graph::AddValue(std::string value_name, DataType dtype) {
  auto value = std::make_unique<Value>();
  value->name = std::move(value_name);
  value->dtype = dtype;
  values_.push_back(std::move(value));
  return values_.back().get();
}

Value* Graph::AddConstant(std::string value_name, Tensor tensor) {
  Value* value = AddValue(std::move(value_name), tensor.dtype());
  std::vector<Dim> dims;
  for (int64_t d : tensor.shape()) dims.push_back(Dim{d, ""});
  value->shape = std::move(dims);
  value->constant = std::move(tensor);
  return value;
}

Node* Graph::AddNode(std::string op_type, std::string node_name) {
  auto node = std::make_unique<Node>();
  node->op_type = std::move(op_type);
  node->name = std::move(node_name);
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

Value* Graph::FindValue(const std::string& value_name) const {
  for (const auto& value : values_) {
    if (value->name == value_name) return value.get();
  }
  return nullptr;
}

void Graph::ReplaceAllUses(Value* from, Value* to) {
  for (const auto& node : nodes_) {
    std::replace(node->inputs.begin(), node->inputs.end(), from, to);
  }
  std::replace(outputs.begin(), outputs.end(), from, to);
}

std::vector<Node*> Graph::Consumers(const Value* value) const {
  std::vector<Node*> consumers;
  for (const auto& node : nodes_) {
    if (std::find(node->inputs.begin(), node->inputs.end(), value) != node->inputs.end()) {
      consumers.push_back(node.get());
    }
  }
  return consumers;
}

void Graph::RemoveNode(Node* node) {
  for (Value* out : node->outputs) {
    if (out != nullptr && out->producer == node) out->producer = nullptr;
  }
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return n.get() == node; }),
               nodes_.end());
}

void Graph::RemoveDeadNodes() {
  // Everything reachable backwards from the outputs through producers is live, whatever the order.
  std::unordered_map<const Value*, Node*> producer;
  for (const auto& node : nodes_) {
    for (Value* out : node->outputs) {
      if (out != nullptr) producer[out] = node.get();
    }
  }
  std::unordered_set<const Value*> live;
  std::unordered_set<const Node*> live_nodes;
  std::vector<const Value*> work(outputs.begin(), outputs.end());
  while (!work.empty()) {
    const Value* v = work.back();
    work.pop_back();
    if (!live.insert(v).second) continue;
    auto it = producer.find(v);
    if (it == producer.end() || !live_nodes.insert(it->second).second) continue;
    for (const Value* out : it->second->outputs) {
      if (out != nullptr) live.insert(out);
    }
    for (const Value* in : it->second->inputs) {
      if (in != nullptr) work.push_back(in);
    }
  }
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return !live_nodes.count(n.get()); }),
               nodes_.end());
  for (const Value* in : inputs) live.insert(in);
  values_.erase(std::remove_if(values_.begin(), values_.end(), [&](const auto& v) { return !live.count(v.get()); }),
                values_.end());
}

absl::Status Graph::TopologicalSort() {
  std::unordered_map<const Value*, Node*> producer;
  for (const auto& node : nodes_) {
    for (Value* out : node->outputs) {
      if (out != nullptr) producer[out] = node.get();
    }
  }
  std::unordered_map<const Node*, int> state;  // 0 unvisited, 1 on stack, 2 done
  std::vector<Node*> order;
  // Iterative depth-first search: real models have chains thousands of nodes long.
  for (const auto& root : nodes_) {
    if (state[root.get()] == 2) continue;
    std::vector<std::pair<Node*, size_t>> stack = {{root.get(), 0}};
    state[root.get()] = 1;
    while (!stack.empty()) {
      auto& [node, next_input] = stack.back();
      if (next_input < node->inputs.size()) {
        const Value* in = node->inputs[next_input++];
        auto it = in == nullptr ? producer.end() : producer.find(in);
        if (it == producer.end()) continue;
        int& s = state[it->second];
        if (s == 1) return absl::InvalidArgumentError(absl::StrCat("graph has a cycle through ", it->second->Describe()));
        if (s == 0) {
          s = 1;
          stack.push_back({it->second, 0});
        }
        continue;
      }
      state[node] = 2;
      order.push_back(node);
      stack.pop_back();
    }
  }
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::sort(nodes_.begin(), nodes_.end(), [&](const auto& a, const auto& b) { return position[a.get()] < position[b.get()]; });
  for (const auto& node : nodes_) {
    for (Value* out : node->outputs) {
      if (out != nullptr) out->producer = node.get();
    }
  }
  return absl::OkStatus();
}

std::string Graph::UniqueName(const std::string& base) const {
  std::unordered_set<std::string> used;
  for (const auto& v : values_) used.insert(v->name);
  if (!used.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = absl::StrCat(base, "_", i);
    if (!used.count(candidate)) return candidate;
  }
}

}  // namespace peregrine::graph
