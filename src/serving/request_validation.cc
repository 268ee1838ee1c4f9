// Checks a decoded request against the model's config and session signature, and puts its inputs in
// session order.
#include "serving/request_validation.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "serving/config_checks.h"
#include "serving/derived_outputs.h"
#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

// The KServe name of a type ("FP32", "BYTES"), as clients write it in requests.
std::string DatatypeName(DataType type) {
  const config::DataType config_type = ToConfigType(type);
  if (config_type == config::TYPE_STRING) return "BYTES";
  if (config_type == config::TYPE_INVALID) return std::string(peregrine::DataTypeName(type));
  return config::DataType_Name(config_type).substr(5);  // drop "TYPE_"
}

std::string Names(const std::vector<engine::TensorInfo>& infos) {
  std::vector<std::string> names;
  for (const auto& info : infos) names.push_back(info.name);
  return absl::StrJoin(names, ", ");
}

// The shape a request must have for one input, -1 where any size goes: the config's dims (after the
// batch, when batching) narrowed by the session's fixed dimensions. nullopt when neither knows the rank.
std::optional<std::vector<int64_t>> ExpectedShape(const config::ModelConfig& config, const engine::TensorInfo& info) {
  const bool batching = config.max_batch_size() > 0;
  std::optional<std::vector<int64_t>> shape;
  for (const auto& input : config.input()) {
    if (input.name() != info.name) continue;
    shape.emplace(input.dims().begin(), input.dims().end());
    if (batching) shape->insert(shape->begin(), -1);
  }
  if (internal::RankUnknown(info)) return shape;
  if (!shape || shape->size() != info.shape.size()) {
    // A config that disagrees in rank has been refused by CompleteModelConfig; the session's word is final.
    shape = info.shape;
    for (int64_t& d : *shape) d = std::max<int64_t>(d, -1);
  }
  for (size_t d = 0; d < shape->size(); ++d) {
    if ((*shape)[d] < 0 && info.shape[d] >= 0) (*shape)[d] = info.shape[d];
  }
  return shape;
}

absl::Status CheckShape(const config::ModelConfig& config, const engine::TensorInfo& info, const Tensor& tensor) {
  const std::optional<std::vector<int64_t>> expected = ExpectedShape(config, info);
  if (!expected) return absl::OkStatus();
  bool ok = tensor.rank() == static_cast<int64_t>(expected->size());
  for (size_t d = 0; ok && d < expected->size(); ++d) ok = (*expected)[d] < 0 || (*expected)[d] == tensor.shape()[d];
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "': shape ", ShapeToString(tensor.shape()),
                                                 " does not match the model's ", internal::DimsToString(*expected),
                                                 " (-1: any size)"));
}

// With batching, every input's first dimension is the batch: within 1..max_batch_size and the same for all.
absl::Status CheckBatch(const config::ModelConfig& config, const std::vector<InferenceInput>& inputs) {
  if (config.max_batch_size() <= 0) return absl::OkStatus();
  const InferenceInput* first = nullptr;
  for (const InferenceInput& input : inputs) {
    if (input.tensor.rank() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': needs a batch dimension first"));
    }
    const int64_t batch = input.tensor.shape()[0];
    if (batch < 1 || batch > config.max_batch_size()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': batch size ", batch,
                                                     " is not within 1..max_batch_size (", config.max_batch_size(),
                                                     ")"));
    }
    if (first == nullptr) {
      first = &input;
    } else if (first->tensor.shape()[0] != batch) {
      return absl::InvalidArgumentError(absl::StrCat("inputs disagree on the batch size: '", first->name, "' has ",
                                                     first->tensor.shape()[0], ", '", input.name, "' has ", batch));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOutputs(const std::vector<engine::TensorInfo>& session_outputs,
                          const std::vector<RequestedOutput>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = outputs[i].name;
    if (std::none_of(session_outputs.begin(), session_outputs.end(),
                     [&](const auto& info) { return info.name == name; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown requested output '", name, "' (model outputs: ", Names(session_outputs), ")"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (outputs[j].name == name)
        return absl::InvalidArgumentError(absl::StrCat("output '", name, "' is requested twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const config::ModelConfig& config, const std::vector<engine::TensorInfo>& session_inputs,
                             const std::vector<engine::TensorInfo>& session_outputs, InferenceRequest& request) {
  std::vector<InferenceInput*> by_session(session_inputs.size(), nullptr);
  for (InferenceInput& input : request.inputs) {
    auto it = std::find_if(session_inputs.begin(), session_inputs.end(),
                           [&](const auto& info) { return info.name == input.name; });
    if (it == session_inputs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown input '", input.name, "' (model inputs: ", Names(session_inputs), ")"));
    }
    InferenceInput*& slot = by_session[it - session_inputs.begin()];
    if (slot != nullptr) return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' is given twice"));
    slot = &input;
    if (it->dtype != DataType::kUndefined && input.tensor.dtype() != it->dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': datatype ",
                                                     DatatypeName(input.tensor.dtype()), ", the model expects ",
                                                     DatatypeName(it->dtype)));
    }
    RETURN_IF_ERROR(CheckShape(config, *it, input.tensor));
  }
  for (size_t i = 0; i < session_inputs.size(); ++i) {
    if (by_session[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", session_inputs[i].name, "'"));
    }
  }
  RETURN_IF_ERROR(CheckBatch(config, request.inputs));
  RETURN_IF_ERROR(CheckOutputs(session_outputs, request.outputs));
  RETURN_IF_ERROR(CheckDerivedOutputParameters(config, request));
  std::vector<InferenceInput> ordered;
  ordered.reserve(by_session.size());
  for (InferenceInput* input : by_session) ordered.push_back(std::move(*input));
  request.inputs = std::move(ordered);
  return absl::OkStatus();
}

}  // namespace peregrine::serving
