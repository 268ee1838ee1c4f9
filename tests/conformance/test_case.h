// Finding the ONNX backend tests on disk and reading what the runner needs to know about each model
// (independently of the engine, so a model the engine rejects can still be described).
//
// Layout of the data (Debian's libonnx-testdata, /usr/share/libonnx-testdata/data):
//   <root>/<suite>/<test>/model.onnx
//   <root>/<suite>/<test>/test_data_set_<k>/input_<i>.pb, output_<i>.pb   (serialized TensorProtos)
// The `real` suite only ships <test>/data.json naming a model tarball; its models are looked up,
// already extracted, in a models directory (ONNX's own convention: $ONNX_MODELS/<model_name>/).
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/status.h"

namespace peregrine::conformance {

// The four suites the conformance gate runs; `real` is opt-in.
inline const std::vector<std::string>& DefaultSuites() {
  static const std::vector<std::string> suites = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  return suites;
}

struct TestCase {
  std::string suite;
  std::string name;        // directory name, e.g. "test_abs"
  std::string model_path;  // empty when the model is not available (real suite, not downloaded)
  std::vector<std::string> data_sets;  // test_data_set_* directories, sorted
  double rtol = 1e-3;  // ONNX backend-test defaults; the real suite's data.json may override
  double atol = 1e-7;
  std::string skip_reason;  // non-empty: the test cannot be run at all (e.g. model not downloaded)

  std::string id() const { return suite + "/" + name; }
};

struct DiscoverOptions {
  std::string root;
  std::vector<std::string> suites;
  std::optional<std::regex> filter;  // searched in the test name and in "suite/test"
  std::string real_models_dir;       // where the real suite's extracted models live
};

// Tests of the selected suites, sorted by suite (in the given order) then name.
// NotFound when the root or a suite directory does not exist.
absl::StatusOr<std::vector<TestCase>> DiscoverTests(const DiscoverOptions& options);

// Paths of <data_set>/<prefix>_0.pb, _1.pb, ... in index order (stops at the first gap).
std::vector<std::string> NumberedFiles(const std::string& data_set, const std::string& prefix);

// What the runner reads from model.onnx itself.
struct ModelInfo {
  std::vector<std::string> op_types;       // sorted, unique; subgraph ops included; "domain:Op" outside ai.onnx
  std::vector<std::string> declared_inputs;  // all graph inputs, in order (old models list initializers too)
  std::vector<std::string> runtime_inputs; // declared graph inputs that are not initializers, in order
  std::vector<std::string> outputs;        // declared graph outputs, in order
  std::string non_tensor_io;               // "input 'x' is a sequence" when an input/output is not a tensor
  int64_t opset = 0;                       // default-domain opset
};

// InvalidArgument when the file cannot be read or parsed as a ModelProto.
absl::StatusOr<ModelInfo> ReadModelInfo(const std::string& path);

}  // namespace peregrine::conformance
