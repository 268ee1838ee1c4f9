// Derived outputs (see derived_outputs.h): the threshold decision.
#include "serving/derived_outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace peregrine::serving {
namespace {

constexpr char kThreshold[] = "decision_threshold";
constexpr char kSource[] = "decision_source";
constexpr char kOutput[] = "decision_output";

const std::string* ConfigParameter(const config::ModelConfig& config, const char* key) {
  auto it = config.parameters().find(key);
  return it == config.parameters().end() ? nullptr : &it->second.string_value();
}

bool Numeric(DataType type) {
  switch (type) {
    case DataType::kBool:
    case DataType::kString:
    case DataType::kUndefined: return false;
    default: return true;
  }
}

// The request's threshold: nullopt when it gives none; InvalidArgument when it gives something else
// than a finite number.
absl::StatusOr<std::optional<double>> RequestThreshold(const InferenceRequest& request) {
  for (const auto& [key, p] : request.parameters) {
    if (key != kThreshold) continue;
    double value = 0;
    switch (p.kind) {
      case Parameter::Kind::kInt: value = static_cast<double>(p.int_value); break;
      case Parameter::Kind::kDouble: value = p.double_value; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("parameter '", kThreshold, "' must be a number"));
    }
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", kThreshold, "' must be a finite number"));
    }
    return std::optional<double>(value);
  }
  return std::optional<double>();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const DerivedOutputs>> DerivedOutputs::FromConfig(
    const config::ModelConfig& config, const std::vector<engine::TensorInfo>& model_outputs) {
  const std::string* threshold_text = ConfigParameter(config, kThreshold);
  if (threshold_text == nullptr) {
    for (const char* key : {kSource, kOutput}) {
      if (ConfigParameter(config, key) != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters[\"", key, "\"]: needs parameters[\"", kThreshold, "\"] too"));
      }
    }
    return std::shared_ptr<const DerivedOutputs>();
  }
  std::shared_ptr<DerivedOutputs> derived(new DerivedOutputs());
  if (!absl::SimpleAtod(*threshold_text, &derived->threshold_) || !std::isfinite(derived->threshold_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters[\"", kThreshold, "\"]: '", *threshold_text, "' is not a number"));
  }

  const std::string* source = ConfigParameter(config, kSource);
  if (source == nullptr && model_outputs.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("parameters[\"", kSource, "\"]: required, the model has ",
                                                   model_outputs.size(), " outputs"));
  }
  auto it = source == nullptr ? model_outputs.begin()
                              : std::find_if(model_outputs.begin(), model_outputs.end(),
                                             [&](const engine::TensorInfo& info) { return info.name == *source; });
  if (it == model_outputs.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters[\"", kSource, "\"]: the model has no output '", *source, "'"));
  }
  if (!Numeric(it->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("parameters[\"", kThreshold, "\"]: output '", it->name,
                                                   "' is not numeric (", DataTypeName(it->dtype), ")"));
  }
  derived->source_ = static_cast<size_t>(it - model_outputs.begin());

  const std::string* output = ConfigParameter(config, kOutput);
  engine::TensorInfo info = *it;
  info.name = output == nullptr ? "decision" : *output;
  info.dtype = DataType::kBool;
  if (info.name.empty()) return absl::InvalidArgumentError(absl::StrCat("parameters[\"", kOutput, "\"]: empty"));
  for (const engine::TensorInfo& existing : model_outputs) {
    if (existing.name == info.name) {
      return absl::InvalidArgumentError(absl::StrCat("parameters[\"", output == nullptr ? kThreshold : kOutput,
                                                     "\"]: the model already has an output '", info.name,
                                                     "'; name the decision with parameters[\"", kOutput, "\"]"));
    }
  }
  derived->infos_.push_back(std::move(info));
  return std::shared_ptr<const DerivedOutputs>(std::move(derived));
}

std::vector<engine::TensorInfo> DerivedOutputs::AllOutputs(const std::vector<engine::TensorInfo>& model_outputs,
                                                           const DerivedOutputs* derived) {
  std::vector<engine::TensorInfo> all = model_outputs;
  if (derived != nullptr) all.insert(all.end(), derived->infos().begin(), derived->infos().end());
  return all;
}

absl::Status DerivedOutputs::Append(const InferenceRequest& request, std::vector<Tensor>& outputs) const {
  if (source_ >= outputs.size()) {
    return absl::InternalError(absl::StrCat("model ", request.model, " returned no output for '", kThreshold, "'"));
  }
  ASSIGN_OR_RETURN(std::optional<double> override_threshold, RequestThreshold(request));
  const double threshold = override_threshold.value_or(threshold_);
  const Tensor& source = outputs[source_];
  Tensor decision = Tensor::Zeros(DataType::kBool, source.shape());
  uint8_t* out = decision.data_as<uint8_t>();
  for (int64_t i = 0, n = source.num_elements(); i < n; ++i) out[i] = source.GetAsDouble(i) >= threshold ? 1 : 0;
  outputs.push_back(std::move(decision));
  return absl::OkStatus();
}

absl::Status CheckDerivedOutputParameters(const config::ModelConfig& config, const InferenceRequest& request) {
  if (request.parameters.empty() || ConfigParameter(config, kThreshold) == nullptr) return absl::OkStatus();
  return RequestThreshold(request).status();
}

}  // namespace peregrine::serving
