// libFuzzer target: arbitrary bytes as an ONNX model file. Whatever the bytes, loading, optimising
// and compiling a plan must fail with a Status, never crash, leak or touch memory it does not own.
//
// When a model loads, the fuzzer creates a Session and compiles a plan for small zero-filled inputs
// (symbolic dimensions 1). Models whose inputs would be large are only loaded: the point is the
// loader and the compiler's validation, not allocating what a fuzzed dimension asks for.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "engine/session.h"
#include "onnx/loader.h"

namespace {

using peregrine::DataType;
using peregrine::Shape;
using peregrine::Tensor;

constexpr int64_t kMaxDim = 1024;
constexpr int64_t kMaxInputElements = 1 << 14;
constexpr int64_t kMaxTotalElements = 1 << 16;
constexpr size_t kMaxInputs = 16;

// Zero inputs of the declared shapes, or false when a model's inputs are unknown or too large.
bool SmallInputs(const peregrine::graph::Graph& graph, std::vector<Tensor>& inputs) {
  if (graph.inputs.size() > kMaxInputs) return false;
  int64_t total = 0;
  for (const peregrine::graph::Value* v : graph.inputs) {
    if (!v->shape || v->dtype == DataType::kUndefined || v->dtype == DataType::kString || v->shape->size() > 8) return false;
    Shape shape;
    int64_t elements = 1;
    for (const peregrine::graph::Dim& d : *v->shape) {
      const int64_t size = d.known() ? d.size : 1;
      if (size > kMaxDim) return false;
      shape.push_back(size);
      elements *= size;  // cannot overflow: at most kMaxInputElements * kMaxDim
      if (elements > kMaxInputElements) return false;
    }
    total += elements;
    if (total > kMaxTotalElements) return false;
    inputs.push_back(Tensor::Zeros(v->dtype, shape));
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every failed parse to stderr; the fuzzer tries millions.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // External tensor data is looked up in a directory that does not exist: no file is ever read.
  auto graph = peregrine::onnx_import::LoadModelFromBytes(bytes, "/nonexistent/peregrine-fuzz");
  if (!graph.ok()) return 0;
  std::vector<Tensor> inputs;
  const bool small = SmallInputs(**graph, inputs);
  peregrine::engine::SessionOptions options;
  options.threads = 1;
  auto session = peregrine::engine::Session::Create(std::move(*graph), options);
  if (!session.ok() || !small) return 0;
  (void)(*session)->Prepare(inputs);
  return 0;
}
