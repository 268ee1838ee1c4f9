#include "run_test.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <regex>

#include "compare.h"
#include "engine/session.h"
#include "onnx/tensor_proto.h"

namespace peregrine::conformance {
namespace {

// Sets the outcome from an engine error: Unimplemented means "not claimed", anything else is a failure.
// The model's path is dropped from messages: the test is named anyway, and reports stay readable.
void Classify(const absl::Status& status, const std::string& stage, TestResult& result,
              const std::string& model_path = "") {
  std::string message(status.message());
  if (!model_path.empty() && message.rfind(model_path + ": ", 0) == 0) message.erase(0, model_path.size() + 2);
  result.outcome = absl::IsUnimplemented(status) ? Outcome::kUnsupported : Outcome::kFail;
  result.message = stage + ": " + std::string(absl::StatusCodeToString(status.code())) + ": " + message;
}

std::string BaseName(const std::string& path) { return std::filesystem::path(path).filename().string(); }

absl::StatusOr<std::vector<Tensor>> LoadFiles(const std::vector<std::string>& files) {
  std::vector<Tensor> tensors;
  for (const std::string& file : files) {
    absl::StatusOr<Tensor> t = onnx_import::LoadTensorFile(file);
    if (!t.ok()) return absl::Status(t.status().code(), BaseName(file) + ": " + std::string(t.status().message()));
    tensors.push_back(*std::move(t));
  }
  return tensors;
}

// ONNX 1.12's test data stores bfloat16 tensors as uint16 (NumPy has no bfloat16): where the model
// declares bfloat16 and the file holds uint16, the bits are taken as bfloat16.
Tensor FixBFloat16(const Tensor& t, DataType declared) {
  if (declared != DataType::kBFloat16 || t.dtype() != DataType::kUint16) return t;
  Tensor fixed = Tensor::Zeros(DataType::kBFloat16, t.shape());
  if (t.byte_size() > 0) std::memcpy(fixed.data(), t.data(), t.byte_size());
  return fixed;
}

// Index of `name` in `names`, or -1.
int IndexOf(const std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// Puts the data set's input files in session.inputs() order. The files follow the model's declared
// inputs: usually only the runtime ones, but old models also declare their initializers as inputs.
absl::StatusOr<std::vector<Tensor>> ArrangeInputs(std::vector<Tensor> files, const ModelInfo& info,
                                                  const engine::Session& session) {
  const auto& wanted = session.inputs();
  const std::vector<std::string>* file_names = nullptr;
  if (files.size() == info.runtime_inputs.size()) file_names = &info.runtime_inputs;
  else if (files.size() == info.declared_inputs.size()) file_names = &info.declared_inputs;
  else {
    return absl::InvalidArgumentError("data set has " + std::to_string(files.size()) + " input files but the model has " +
                                      std::to_string(info.runtime_inputs.size()) + " runtime inputs");
  }
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < wanted.size(); ++i) {
    int k = IndexOf(*file_names, wanted[i].name);
    if (k < 0 && files.size() == wanted.size()) k = static_cast<int>(i);  // engine renamed it; trust the order
    if (k < 0) return absl::InvalidArgumentError("no input file for engine input '" + wanted[i].name + "'");
    inputs.push_back(FixBFloat16(files[k], wanted[i].dtype));
  }
  return inputs;
}

// Compares one run's outputs with the expected ones; false (with the result filled in) on a mismatch.
bool CheckOutputs(const engine::Session& session, const std::vector<Tensor>& expected,
                  const std::vector<Tensor>& outputs, Tolerance tolerance, const std::string& where,
                  TestResult& result) {
  result.outcome = Outcome::kFail;
  if (outputs.size() != expected.size()) {
    result.message = where + ": engine returned " + std::to_string(outputs.size()) + " outputs, expected " +
                     std::to_string(expected.size());
    return false;
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const engine::TensorInfo declared = i < session.outputs().size() ? session.outputs()[i] : engine::TensorInfo{};
    Comparison c = CompareTensors(FixBFloat16(expected[i], declared.dtype), outputs[i], tolerance);
    if (c.ok) continue;
    result.message = where + ": output " + std::to_string(i) + " '" + declared.name + "': " + c.message;
    return false;
  }
  return true;
}

// Runs one data set `runs` times; returns false (with the result filled in) on anything but a full
// match. Later runs reuse the cached plan and write into the previous run's output tensors, which is
// how a serving loop drives a session.
bool RunDataSet(engine::Session& session, const ModelInfo& info, const std::string& data_set, int runs,
                Tolerance tolerance, TestResult& result) {
  const std::string name = data_set.substr(data_set.find_last_of('/') + 1);
  absl::StatusOr<std::vector<Tensor>> files = LoadFiles(NumberedFiles(data_set, "input"));
  if (!files.ok()) return Classify(files.status(), name + ": reading inputs", result), false;
  absl::StatusOr<std::vector<Tensor>> inputs = ArrangeInputs(*std::move(files), info, session);
  if (!inputs.ok()) return Classify(inputs.status(), name, result), false;
  absl::StatusOr<std::vector<Tensor>> expected = LoadFiles(NumberedFiles(data_set, "output"));
  if (!expected.ok()) return Classify(expected.status(), name + ": reading expected outputs", result), false;

  std::vector<Tensor> outputs(session.outputs().size());
  for (int run = 1; run <= std::max(1, runs); ++run) {
    const std::string where = run == 1 ? name : name + " (run " + std::to_string(run) + ")";
    absl::Status status = session.Run(*inputs, outputs);
    if (!status.ok()) return Classify(status, run == 1 ? "run" : where, result), false;
    if (!CheckOutputs(session, *expected, outputs, tolerance, where, result)) return false;
  }
  return true;
}

void RunChecked(const TestCase& test, const RunOptions& options, TestResult& result) {
  absl::StatusOr<ModelInfo> info = ReadModelInfo(test.model_path);
  if (!info.ok()) return Classify(info.status(), "reading model", result);
  result.ops = info->op_types;
  if (!info->non_tensor_io.empty()) {
    result.outcome = Outcome::kUnsupported;
    result.message = info->non_tensor_io + "; Peregrine runs tensor inputs and outputs only";
    return;
  }
  engine::SessionOptions session_options;
  session_options.threads = options.threads;
  session_options.optimize = options.optimize;
  session_options.precision = options.precision;
  absl::StatusOr<std::unique_ptr<engine::Session>> session = engine::Session::Create(test.model_path, session_options);
  if (!session.ok()) return Classify(session.status(), "load", result, test.model_path);
  if (test.data_sets.empty()) {
    result.outcome = Outcome::kFail;
    result.message = "no test_data_set_* directory";
    return;
  }
  const bool bf16 = (*session)->options().precision == engine::Precision::kBfloat16;
  const double widen = options.precision == engine::Precision::kBfloat16 ? kBfloat16Tolerance : 0;
  const Tolerance tolerance{test.rtol + widen, test.atol + widen};
  for (const std::string& data_set : test.data_sets) {
    if (!RunDataSet(**session, *info, data_set, options.runs, tolerance, result)) return;
  }
  if (bf16 && (*session)->last_plan_stats().bf16_steps == 0) {
    result.outcome = Outcome::kFail;
    result.message = "asked for bf16, but no step computed in bfloat16";
    return;
  }
  result.outcome = Outcome::kPass;
  result.message.clear();
}

}  // namespace

std::string FindOpInMessage(const std::string& message, const std::vector<std::string>& ops) {
  std::string best;
  size_t best_pos = std::string::npos;
  for (const std::string& op : ops) {
    const std::string bare = op.substr(op.find(':') == std::string::npos ? 0 : op.find(':') + 1);
    std::smatch m;
    if (!std::regex_search(message, m, std::regex("\\b" + bare + "\\b"))) continue;
    const size_t pos = static_cast<size_t>(m.position(0));
    if (pos < best_pos) best_pos = pos, best = op;
  }
  return best;
}

TestResult RunTest(const TestCase& test, const RunOptions& options) {
  TestResult result;
  result.suite = test.suite;
  result.name = test.name;
  if (!test.skip_reason.empty()) {
    result.outcome = Outcome::kSkipped;
    result.message = test.skip_reason;
    return result;
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    RunChecked(test, options, result);
  } catch (const std::exception& e) {
    result.outcome = Outcome::kFail;
    result.message = std::string("exception: ") + e.what();
  } catch (...) {
    result.outcome = Outcome::kFail;
    result.message = "unknown exception";
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.outcome != Outcome::kPass) result.blocking_op = FindOpInMessage(result.message, result.ops);
  return result;
}

}  // namespace peregrine::conformance
