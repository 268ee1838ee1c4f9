// The graph IR every pass and the engine work on: Values (tensors flowing between nodes, possibly
// constant), Nodes (one ONNX operator each, plus fused post-ops), and the Graph that owns both.
//
// Ownership: the Graph owns all Values and Nodes; raw pointers between them stay valid until the
// Graph is destroyed or a pass removes the pointee (RemoveDeadNodes, Compact). Not thread-safe for
// mutation; a fully built graph may be read from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace peregrine::graph {

struct Node;

// One dimension of a declared shape: a known size, or a symbolic one ("batch") or unknown (-1, "").
struct Dim {
  int64_t size = -1;
  std::string symbol;
  bool known() const { return size >= 0; }
};

struct Value {
  std::string name;
  DataType dtype = DataType::kUndefined;
  // Declared or inferred shape; nullopt when even the rank is unknown.
  std::optional<std::vector<Dim>> shape;
  // Set for initializers and folded constants.
  std::optional<Tensor> constant;
  Node* producer = nullptr;  // null for graph inputs and constants

  bool is_constant() const { return constant.has_value(); }
};

// Attribute of a node, tagged by kind (ONNX AttributeProto's useful subset).
struct Attribute {
  enum class Kind { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  Tensor t;
};

// An operation fused onto a node's output by a graph pass, executed by the node's kernel.
struct PostOp {
  enum class Kind {
    kActivation,  // apply `activation` (ONNX op name: Relu, Sigmoid, Tanh, Clip, LeakyRelu, ...) elementwise
    kSum,         // add node input `input_index` (same shape as the output) elementwise
  };
  Kind kind = Kind::kActivation;
  std::string activation;
  float alpha = 0;  // LeakyRelu alpha / Clip min / Elu alpha
  float beta = 0;   // Clip max
  int input_index = -1;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<Value*> inputs;   // nullptr marks an omitted optional input
  std::vector<Value*> outputs;  // nullptr marks an omitted optional output
  std::map<std::string, Attribute> attributes;
  std::vector<PostOp> post_ops;  // applied in order after the op itself

  bool has(const std::string& attr) const { return attributes.count(attr) != 0; }
  int64_t GetInt(const std::string& attr, int64_t fallback) const;
  float GetFloat(const std::string& attr, float fallback) const;
  std::string GetString(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> GetInts(const std::string& attr, std::vector<int64_t> fallback = {}) const;
  std::vector<float> GetFloats(const std::string& attr, std::vector<float> fallback = {}) const;
  std::vector<std::string> GetStrings(const std::string& attr) const;
  const Tensor* GetTensor(const std::string& attr) const;

  // Input i, or nullptr when i is out of range or the input was omitted.
  Value* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs.size() ? outputs[i] : nullptr; }
  // "Conv 'conv1'" - how error messages name a node.
  std::string Describe() const;
};

class Graph {
 public:
  std::string name;
  int64_t opset = 0;  // version of the default ONNX domain
  std::vector<Value*> inputs;   // runtime inputs only (initializers are not listed here)
  std::vector<Value*> outputs;

  Value* AddValue(std::string name, DataType dtype = DataType::kUndefined);
  Value* AddConstant(std::string name, Tensor tensor);
  Node* AddNode(std::string op_type, std::string name);
  // Finds a value by name; nullptr when absent.
  Value* FindValue(const std::string& name) const;

  // Nodes in execution (topological) order.
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  // Makes every consumer of `from` (and the graph outputs) read `to` instead.
  void ReplaceAllUses(Value* from, Value* to);
  // Nodes reading `value`, in order.
  std::vector<Node*> Consumers(const Value* value) const;
  // Removes nodes whose outputs nobody reads, then values nobody references.
  void RemoveDeadNodes();
  // Removes the given node (its outputs must be unused or already redirected).
  void RemoveNode(Node* node);
  // Reorders nodes topologically; InvalidArgument when the graph has a cycle or reads an undefined value.
  absl::Status TopologicalSort();
  // Creates a fresh name not yet used by any value: "<base>", "<base>_1", ...
  std::string UniqueName(const std::string& base) const;

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace peregrine::graph
