#include "onnx/loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"
#include "onnx/shape_inference_guards.h"
#include "onnx/tensor_proto.h"

namespace peregrine::onnx_import {
namespace {

using graph::Attribute;
using graph::Dim;
using graph::Graph;
using graph::Node;
using graph::Value;

absl::StatusOr<int64_t> DefaultOpset(const onnx::ModelProto& model) {
  int64_t opset = -1;
  for (const auto& import : model.opset_import()) {
    if (import.domain().empty() || import.domain() == "ai.onnx") opset = import.version();
  }
  if (opset < 0 && model.opset_import_size() > 0) {
    return absl::UnimplementedError(absl::StrCat("model uses only the operator domain '", model.opset_import(0).domain(),
                                                 "'; Peregrine supports the default ONNX domain"));
  }
  if (opset < 0) return absl::InvalidArgumentError("model imports no operator set");
  if (opset < kMinOpset || opset > kMaxOpset) {
    return absl::UnimplementedError(absl::StrCat("model uses opset ", opset, "; Peregrine supports opsets ", kMinOpset, " to ", kMaxOpset));
  }
  return opset;
}

// Runs onnx's checker and shape inference, turning their exceptions into statuses.
absl::Status CheckAndInfer(onnx::ModelProto& model, const LoadOptions& options) {
  try {
    if (options.run_checker) onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("model fails the ONNX checker: ", e.what()));
  }
  try {
    if (options.infer_shapes) {
      InstallShapeInferenceGuards();  // libonnx crashes on some malformed nodes without them
      onnx::shape_inference::InferShapes(model);
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX shape inference failed: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ApplyType(const onnx::TypeProto& type, Value& value) {
  if (!type.has_tensor_type()) {
    return absl::UnimplementedError(absl::StrCat("value '", value.name, "' is not a tensor (sequences and maps are not supported)"));
  }
  const auto& tensor = type.tensor_type();
  if (tensor.elem_type() != 0) {
    if (!IsSupported(tensor.elem_type())) {
      return absl::UnimplementedError(absl::StrCat("value '", value.name, "' has unsupported element type ", tensor.elem_type()));
    }
    value.dtype = static_cast<DataType>(tensor.elem_type());
  }
  if (tensor.has_shape()) {
    std::vector<Dim> dims;
    for (const auto& d : tensor.shape().dim()) {
      dims.push_back(d.has_dim_value() ? Dim{d.dim_value(), ""} : Dim{-1, d.dim_param()});
    }
    value.shape = std::move(dims);
  }
  return absl::OkStatus();
}

absl::StatusOr<Attribute> ConvertAttribute(const onnx::AttributeProto& proto, const Node& node, const std::string& base_dir) {
  Attribute attr;
  switch (proto.type()) {
    case onnx::AttributeProto::INT: attr.kind = Attribute::Kind::kInt; attr.i = proto.i(); break;
    case onnx::AttributeProto::FLOAT: attr.kind = Attribute::Kind::kFloat; attr.f = proto.f(); break;
    case onnx::AttributeProto::STRING: attr.kind = Attribute::Kind::kString; attr.s = proto.s(); break;
    case onnx::AttributeProto::INTS:
      attr.kind = Attribute::Kind::kInts;
      attr.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      attr.kind = Attribute::Kind::kFloats;
      attr.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case onnx::AttributeProto::STRINGS:
      attr.kind = Attribute::Kind::kStrings;
      attr.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      attr.kind = Attribute::Kind::kTensor;
      ASSIGN_OR_RETURN(attr.t, TensorFromProto(proto.t(), base_dir));
      break;
    }
    default:
      return absl::UnimplementedError(absl::StrCat(node.Describe(), ": attribute '", proto.name(), "' has an unsupported kind (subgraphs are not supported)"));
  }
  return attr;
}

class GraphBuilder {
 public:
  GraphBuilder(Graph& graph, std::string base_dir) : graph_(graph), base_dir_(std::move(base_dir)) {}

  absl::Status Build(const onnx::GraphProto& proto) {
    for (const auto& init : proto.initializer()) {
      ASSIGN_OR_RETURN(Tensor t, TensorFromProto(init, base_dir_));
      values_[init.name()] = graph_.AddConstant(init.name(), std::move(t));
    }
    for (const auto& input : proto.input()) {
      if (values_.count(input.name())) continue;  // an initializer listed as input (IR < 4 style)
      Value* v = graph_.AddValue(input.name());
      RETURN_IF_ERROR(ApplyType(input.type(), *v));
      values_[input.name()] = v;
      graph_.inputs.push_back(v);
    }
    for (const auto& node : proto.node()) RETURN_IF_ERROR(AddNode(node));
    for (const auto& info : proto.value_info()) {
      auto it = values_.find(info.name());
      if (it != values_.end() && !it->second->is_constant()) RETURN_IF_ERROR(ApplyType(info.type(), *it->second));
    }
    for (const auto& output : proto.output()) {
      auto it = values_.find(output.name());
      if (it == values_.end()) return absl::InvalidArgumentError(absl::StrCat("graph output '", output.name(), "' is never produced"));
      if (!it->second->is_constant()) RETURN_IF_ERROR(ApplyType(output.type(), *it->second));
      graph_.outputs.push_back(it->second);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status AddNode(const onnx::NodeProto& proto) {
    if (!proto.domain().empty() && proto.domain() != "ai.onnx") {
      return absl::UnimplementedError(absl::StrCat(proto.op_type(), " '", proto.name(), "': operator domain '", proto.domain(), "' is not supported"));
    }
    Node* node = graph_.AddNode(proto.op_type(), proto.name().empty() ? absl::StrCat(proto.op_type(), "_", graph_.nodes().size()) : proto.name());
    for (const auto& attr : proto.attribute()) {
      ASSIGN_OR_RETURN(node->attributes[attr.name()], ConvertAttribute(attr, *node, base_dir_));
    }
    for (const auto& name : proto.input()) {
      if (name.empty()) {
        node->inputs.push_back(nullptr);
        continue;
      }
      auto it = values_.find(name);
      if (it == values_.end()) return absl::InvalidArgumentError(absl::StrCat(node->Describe(), " reads '", name, "', which is never defined"));
      node->inputs.push_back(it->second);
    }
    for (const auto& name : proto.output()) {
      if (name.empty()) {
        node->outputs.push_back(nullptr);
        continue;
      }
      if (values_.count(name)) return absl::InvalidArgumentError(absl::StrCat(node->Describe(), " redefines '", name, "'"));
      Value* v = graph_.AddValue(name);
      v->producer = node;
      values_[name] = v;
      node->outputs.push_back(v);
    }
    return absl::OkStatus();
  }

  Graph& graph_;
  std::string base_dir_;
  std::unordered_map<std::string, Value*> values_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Graph>> LoadModelFromBytes(std::string_view bytes, const std::string& base_dir,
                                                          const LoadOptions& options) {
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("not an ONNX model: the file is empty, truncated or not a ModelProto");
  }
  if (!model.has_graph()) return absl::InvalidArgumentError("not an ONNX model: it has no graph");
  ASSIGN_OR_RETURN(int64_t opset, DefaultOpset(model));
  RETURN_IF_ERROR(CheckAndInfer(model, options));

  auto graph = std::make_unique<Graph>();
  graph->name = model.graph().name();
  graph->opset = opset;
  RETURN_IF_ERROR(GraphBuilder(*graph, base_dir).Build(model.graph()));
  RETURN_IF_ERROR(graph->TopologicalSort());
  return graph;
}

absl::StatusOr<std::unique_ptr<Graph>> LoadModel(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open model file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  auto graph = LoadModelFromBytes(bytes, std::filesystem::path(path).parent_path().string(), options);
  if (!graph.ok()) return absl::Status(graph.status().code(), absl::StrCat(path, ": ", graph.status().message()));
  return graph;
}

}  // namespace peregrine::onnx_import
