#include "test_case.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "onnx/onnx_pb.h"

namespace peregrine::conformance {
namespace fs = std::filesystem;

namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// data.json is one flat object written by ONNX's tooling; a regex per field is enough and keeps a
// JSON library out of the build.
std::optional<std::string> JsonField(const std::string& json, const std::string& key) {
  std::smatch m;
  const std::regex re("\"" + key + "\"\\s*:\\s*(\"([^\"]*)\"|[-+0-9.eE]+)");
  if (!std::regex_search(json, m, re)) return std::nullopt;
  return m[2].matched ? m[2].str() : m[1].str();
}

std::vector<std::string> DataSets(const std::string& dir) {
  std::vector<std::string> sets;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path().string());
    }
  }
  std::sort(sets.begin(), sets.end());
  return sets;
}

// Fills in a `real` test from its data.json: the model is looked up in the models directory.
void ResolveRealTest(const std::string& dir, const std::string& models_dir, TestCase& test) {
  const std::string json = ReadWholeFile(dir + "/data.json");
  const std::string model_name = JsonField(json, "model_name").value_or(test.name);
  if (auto rtol = JsonField(json, "rtol")) test.rtol = std::strtod(rtol->c_str(), nullptr);
  if (auto atol = JsonField(json, "atol")) test.atol = std::strtod(atol->c_str(), nullptr);
  const std::string model_dir = models_dir + "/" + model_name;
  if (!fs::exists(model_dir + "/model.onnx")) {
    test.skip_reason = "model not downloaded: expected " + model_dir + "/model.onnx (from " +
                       JsonField(json, "url").value_or("data.json") + ")";
    return;
  }
  test.model_path = model_dir + "/model.onnx";
  test.data_sets = DataSets(model_dir);
}

bool Matches(const DiscoverOptions& options, const TestCase& test) {
  if (!options.filter) return true;
  return std::regex_search(test.name, *options.filter) || std::regex_search(test.id(), *options.filter);
}

}  // namespace

absl::StatusOr<std::vector<TestCase>> DiscoverTests(const DiscoverOptions& options) {
  if (!fs::is_directory(options.root)) return absl::NotFoundError("no test data at " + options.root);
  std::vector<TestCase> tests;
  for (const std::string& suite : options.suites) {
    const std::string suite_dir = options.root + "/" + suite;
    if (!fs::is_directory(suite_dir)) return absl::NotFoundError("no suite directory " + suite_dir);
    std::vector<TestCase> found;
    for (const auto& entry : fs::directory_iterator(suite_dir)) {
      if (!entry.is_directory()) continue;
      TestCase test;
      test.suite = suite;
      test.name = entry.path().filename().string();
      if (!Matches(options, test)) continue;
      const std::string dir = entry.path().string();
      if (fs::exists(dir + "/model.onnx")) {
        test.model_path = dir + "/model.onnx";
        test.data_sets = DataSets(dir);
      } else if (fs::exists(dir + "/data.json")) {
        ResolveRealTest(dir, options.real_models_dir, test);
      } else {
        test.skip_reason = "no model.onnx or data.json in " + dir;
      }
      found.push_back(std::move(test));
    }
    std::sort(found.begin(), found.end(), [](const TestCase& a, const TestCase& b) { return a.name < b.name; });
    tests.insert(tests.end(), found.begin(), found.end());
  }
  return tests;
}

std::vector<std::string> NumberedFiles(const std::string& data_set, const std::string& prefix) {
  std::vector<std::string> files;
  for (int i = 0;; ++i) {
    std::string path = data_set + "/" + prefix + "_" + std::to_string(i) + ".pb";
    if (!fs::exists(path)) break;
    files.push_back(std::move(path));
  }
  return files;
}

namespace {

const char* TypeKindName(const onnx::TypeProto& type) {
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType: return "tensor";
    case onnx::TypeProto::kSequenceType: return "sequence";
    case onnx::TypeProto::kMapType: return "map";
    case onnx::TypeProto::kOptionalType: return "optional";
    case onnx::TypeProto::kSparseTensorType: return "sparse tensor";
    default: return "value of unknown type";
  }
}

void CollectOps(const onnx::GraphProto& graph, std::set<std::string>& ops) {
  for (const onnx::NodeProto& node : graph.node()) {
    const std::string& domain = node.domain();
    ops.insert(domain.empty() || domain == "ai.onnx" ? node.op_type() : domain + ":" + node.op_type());
    for (const onnx::AttributeProto& attr : node.attribute()) {
      if (attr.has_g()) CollectOps(attr.g(), ops);
      for (const onnx::GraphProto& g : attr.graphs()) CollectOps(g, ops);
    }
  }
}

// Describes the first graph input or output that is not a dense tensor ("" when all are).
std::string NonTensorIo(const onnx::GraphProto& graph) {
  for (const onnx::ValueInfoProto& v : graph.input()) {
    if (v.type().value_case() != onnx::TypeProto::kTensorType) {
      return "input '" + v.name() + "' is a " + TypeKindName(v.type());
    }
  }
  for (const onnx::ValueInfoProto& v : graph.output()) {
    if (v.type().value_case() != onnx::TypeProto::kTensorType) {
      return "output '" + v.name() + "' is a " + TypeKindName(v.type());
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<ModelInfo> ReadModelInfo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("cannot open " + path);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) return absl::InvalidArgumentError("cannot parse " + path + " as an ONNX model");
  ModelInfo info;
  std::set<std::string> ops;
  CollectOps(model.graph(), ops);
  info.op_types.assign(ops.begin(), ops.end());
  std::set<std::string> initializers;
  for (const onnx::TensorProto& t : model.graph().initializer()) initializers.insert(t.name());
  for (const onnx::ValueInfoProto& v : model.graph().input()) {
    info.declared_inputs.push_back(v.name());
    if (!initializers.count(v.name())) info.runtime_inputs.push_back(v.name());
  }
  for (const onnx::ValueInfoProto& v : model.graph().output()) info.outputs.push_back(v.name());
  info.non_tensor_io = NonTensorIo(model.graph());
  for (const onnx::OperatorSetIdProto& id : model.opset_import()) {
    if (id.domain().empty() || id.domain() == "ai.onnx") info.opset = id.version();
  }
  return info;
}

}  // namespace peregrine::conformance
