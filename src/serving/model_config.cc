// Model configuration: parse (protobuf text format), complete and check against the model, render JSON.
#include "serving/model_config.h"

#include <algorithm>
#include <regex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "serving/config_checks.h"
#include "serving/execution_provider.h"
#include "serving/generation_config.h"

namespace peregrine::serving {
namespace {

using config::ModelConfig;

struct TypePair {
  DataType type;
  config::DataType config_type;
};

constexpr TypePair kTypes[] = {
    {DataType::kBool, config::TYPE_BOOL},     {DataType::kUint8, config::TYPE_UINT8},
    {DataType::kUint16, config::TYPE_UINT16}, {DataType::kUint32, config::TYPE_UINT32},
    {DataType::kUint64, config::TYPE_UINT64}, {DataType::kInt8, config::TYPE_INT8},
    {DataType::kInt16, config::TYPE_INT16},   {DataType::kInt32, config::TYPE_INT32},
    {DataType::kInt64, config::TYPE_INT64},   {DataType::kFloat16, config::TYPE_FP16},
    {DataType::kFloat32, config::TYPE_FP32},  {DataType::kFloat64, config::TYPE_FP64},
    {DataType::kString, config::TYPE_STRING}, {DataType::kBFloat16, config::TYPE_BF16},
};

// The field whose value starts at `column` of `line` ("max_batch_size" for `max_batch_size: "eight"`), or
// "" when the line does not show it. The parser's own messages about values ("Expected integer") do not
// name the field.
std::string FieldAt(const std::string& text, int line, int column) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (line < 0 || line >= static_cast<int>(lines.size())) return "";
  const std::string before(lines[line].substr(0, std::max(0, column)));
  static const std::regex kFieldThenValue(R"(([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\[[^:\[\]]*)?$)");
  std::smatch match;
  return std::regex_search(before, match, kFieldThenValue) ? match[1].str() : "";
}

// Collects the parser's messages; the parser reports lines and columns from 0.
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  CollectErrors(const std::string& text, std::string source) : text_(text), source_(std::move(source)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    std::string error = absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ");
    const std::string field = FieldAt(text_, line, column);
    if (!field.empty() && message.find(absl::StrCat("\"", field, "\"")) == std::string::npos) {
      absl::StrAppend(&error, field, ": ");
    }
    errors_.push_back(absl::StrCat(error, message));
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  const std::string& text_;
  std::string source_;
  std::vector<std::string> errors_;
};

std::string TypeName(config::DataType type) { return config::DataType_Name(type); }

// Names of a signature, for messages: "a, b".
std::string Names(const std::vector<engine::TensorInfo>& infos) {
  std::vector<std::string> names;
  for (const auto& info : infos) names.push_back(info.name);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

absl::Status CheckName(const std::string& model_name, ModelConfig& config) {
  if (config.name().empty()) {
    config.set_name(model_name);
  } else if (config.name() != model_name) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: config says '", config.name(), "' but the model folder is '", model_name, "'"));
  }
  return absl::OkStatus();
}

absl::Status CheckPlatform(ModelConfig& config) {
  if (!config.platform().empty() && config.platform() != "onnxruntime_onnx") {
    return absl::InvalidArgumentError(absl::StrCat(
        "platform: '", config.platform(), "' is not supported; Peregrine serves ONNX models (\"onnxruntime_onnx\")"));
  }
  if (!config.backend().empty() && config.backend() != "onnxruntime" && config.backend() != "peregrine") {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend: '", config.backend(), "' is not supported (use \"peregrine\", \"onnxruntime\" or leave it out)"));
  }
  // Clients (perf_analyzer, tritonclient) look at platform/backend; give them names they know.
  if (config.platform().empty()) config.set_platform("onnxruntime_onnx");
  if (config.backend().empty()) config.set_backend("peregrine");
  return absl::OkStatus();
}

bool HasBatchDim(const engine::TensorInfo& info) { return !info.shape.empty() && info.shape[0] < 0; }

// The batch dimension must be the model's first, and free, on every input and output whose rank is known.
absl::Status CheckMaxBatchSize(const std::vector<engine::TensorInfo>& inputs,
                               const std::vector<engine::TensorInfo>& outputs, bool from_file,
                               const CompletionOptions& options, ModelConfig& config) {
  if (!from_file) {
    bool batchable = !inputs.empty();
    for (const auto* list : {&inputs, &outputs}) {
      for (const auto& info : *list) batchable = batchable && HasBatchDim(info);
    }
    config.set_max_batch_size(batchable ? std::max(0, options.default_max_batch_size) : 0);
  }
  if (config.max_batch_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_size: must be >= 0, got ", config.max_batch_size()));
  }
  if (config.max_batch_size() == 0) return absl::OkStatus();
  for (const auto* list : {&inputs, &outputs}) {
    const char* kind = list == &inputs ? "input" : "output";
    for (const auto& info : *list) {
      if (internal::RankUnknown(info) || HasBatchDim(info)) continue;
      return absl::InvalidArgumentError(absl::StrCat("max_batch_size: ", config.max_batch_size(),
                                                     " needs a variable first (batch) dimension on every input and ",
                                                     "output, but model ", kind, " '", info.name, "' has shape ",
                                                     internal::DimsToString(info.shape), "; set max_batch_size: 0"));
    }
  }
  return absl::OkStatus();
}

// Checks one config input/output (`field`, e.g. "input[1]") against the model tensor `info`.
template <typename ConfigTensor>
absl::Status CheckTensor(const std::string& field, const char* kind, const engine::TensorInfo& info, int max_batch_size,
                         ConfigTensor& tensor) {
  if (info.dtype != DataType::kUndefined) {
    const config::DataType want = ToConfigType(info.dtype);
    if (tensor.data_type() == config::TYPE_INVALID) {
      tensor.set_data_type(want);
    } else if (tensor.data_type() != want) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".data_type: model ", kind, " '", info.name, "' is ",
                                                     TypeName(want), ", config says ", TypeName(tensor.data_type())));
    }
  } else if (tensor.data_type() == config::TYPE_INVALID) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".data_type: required (the model does not declare it)"));
  }
  if (tensor.has_reshape()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".reshape: not supported; give the model's dims"));
  }
  if (tensor.is_shape_tensor()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".is_shape_tensor: shape tensors are not supported"));
  }
  const std::vector<int64_t> dims(tensor.dims().begin(), tensor.dims().end());
  return internal::CheckConfigDims(absl::StrCat(field, ".dims"), absl::StrCat("model ", kind, " '", info.name, "'"),
                                   info, max_batch_size, dims);
}

// Completes and checks config.input (kind "input") or config.output against the model's list: every
// entry must name a model tensor once; model tensors the config leaves out are appended in model order.
template <typename Field>
absl::Status CompleteTensors(const char* kind, const std::vector<engine::TensorInfo>& infos, int max_batch_size,
                             Field& field) {
  std::set<std::string> seen;
  for (int i = 0; i < field.size(); ++i) {
    auto& tensor = *field.Mutable(i);
    const std::string path = absl::StrCat(kind, "[", i, "]");
    auto it = std::find_if(infos.begin(), infos.end(), [&](const auto& info) { return info.name == tensor.name(); });
    if (tensor.name().empty()) return absl::InvalidArgumentError(absl::StrCat(path, ".name: required"));
    if (it == infos.end()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".name: the model has no ", kind, " '", tensor.name(), "' (",
                                                     kind, "s: ", Names(infos), ")"));
    }
    if (!seen.insert(tensor.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".name: '", tensor.name(), "' is listed twice"));
    }
    RETURN_IF_ERROR(CheckTensor(path, kind, *it, max_batch_size, tensor));
  }
  for (const auto& info : infos) {
    if (seen.count(info.name)) continue;
    auto& tensor = *field.Add();
    tensor.set_name(info.name);
    tensor.set_data_type(ToConfigType(info.dtype));
    for (int64_t d : internal::ConfigDimsOf(info, max_batch_size)) tensor.add_dims(d);
  }
  return absl::OkStatus();
}

absl::Status CheckInputFlags(const ModelConfig& config) {
  for (int i = 0; i < config.input_size(); ++i) {
    const auto& input = config.input(i);
    if (input.allow_ragged_batch()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input[", i, "].allow_ragged_batch: ragged batches are not supported"));
    }
    if (input.optional()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input[", i, "].optional: optional inputs are not supported (every ONNX input is required)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CompleteInstanceGroups(ModelConfig& config) {
  if (config.instance_group_size() == 0) {
    auto* group = config.add_instance_group();
    group->set_count(1);
    group->set_kind(config::ModelInstanceGroup::KIND_CPU);
  }
  for (int i = 0; i < config.instance_group_size(); ++i) {
    auto& group = *config.mutable_instance_group(i);
    if (group.count() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("instance_group[", i, "].count: must be >= 0, got ", group.count()));
    }
    if (group.name().empty()) group.set_name(absl::StrCat(config.name(), "_", i));  // as Triton names them
    if (group.count() == 0) group.set_count(1);
    if (group.kind() == config::ModelInstanceGroup::KIND_AUTO) group.set_kind(config::ModelInstanceGroup::KIND_CPU);
    if (group.gpus_size() > 0 && group.kind() != config::ModelInstanceGroup::KIND_GPU) {
      return absl::InvalidArgumentError(absl::StrCat("instance_group[", i, "].gpus: only for kind KIND_GPU"));
    }
  }
  return absl::OkStatus();
}

absl::Status CompleteVersionPolicy(ModelConfig& config) {
  auto& policy = *config.mutable_version_policy();
  switch (policy.policy_choice_case()) {
    case config::ModelVersionPolicy::POLICY_CHOICE_NOT_SET:
      policy.mutable_latest()->set_num_versions(1);
      break;
    case config::ModelVersionPolicy::kLatest:
      if (policy.latest().num_versions() == 0) {
        return absl::InvalidArgumentError("version_policy.latest.num_versions: must be >= 1");
      }
      break;
    case config::ModelVersionPolicy::kAll:
      break;
    case config::ModelVersionPolicy::kSpecific:
      if (policy.specific().versions_size() == 0) {
        return absl::InvalidArgumentError("version_policy.specific.versions: list at least one version");
      }
      for (int i = 0; i < policy.specific().versions_size(); ++i) {
        if (policy.specific().versions(i) <= 0) {
          return absl::InvalidArgumentError(absl::StrCat("version_policy.specific.versions[", i,
                                                         "]: versions are positive integers, got ",
                                                         policy.specific().versions(i)));
        }
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status CheckQueuePolicy(const std::string& field, const config::ModelQueuePolicy& policy) {
  if (policy.timeout_action() != config::ModelQueuePolicy::REJECT) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".timeout_action: only REJECT is supported"));
  }
  // Beyond a day a timeout is a mistake, and far beyond it the deadline arithmetic would overflow.
  constexpr uint64_t kMaxTimeoutUs = 24ull * 3600 * 1000 * 1000;
  if (policy.default_timeout_microseconds() > kMaxTimeoutUs) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".default_timeout_microseconds: ", policy.default_timeout_microseconds(), " is over a day"));
  }
  return absl::OkStatus();
}

absl::Status CheckScheduling(const ModelConfig& config) {
  if (config.has_dynamic_batching()) {
    const auto& batching = config.dynamic_batching();
    if (config.max_batch_size() == 0) {
      return absl::InvalidArgumentError("dynamic_batching: needs max_batch_size > 0");
    }
    for (int i = 0; i < batching.preferred_batch_size_size(); ++i) {
      const int size = batching.preferred_batch_size(i);
      if (size < 1 || size > config.max_batch_size()) {
        return absl::InvalidArgumentError(absl::StrCat("dynamic_batching.preferred_batch_size[", i, "]: ", size,
                                                       " is not within 1..max_batch_size (", config.max_batch_size(),
                                                       ")"));
      }
    }
    RETURN_IF_ERROR(CheckQueuePolicy("dynamic_batching.default_queue_policy", batching.default_queue_policy()));
    if (config.has_queue_policy()) {
      return absl::InvalidArgumentError(
          "queue_policy: with dynamic_batching present, set dynamic_batching.default_queue_policy instead");
    }
  }
  if (config.has_queue_policy()) RETURN_IF_ERROR(CheckQueuePolicy("queue_policy", config.queue_policy()));
  if (config.model_transaction_policy().decoupled()) {
    return absl::InvalidArgumentError("model_transaction_policy.decoupled: decoupled models are not supported");
  }
  return absl::OkStatus();
}

absl::Status CheckModelFilename(const ModelConfig& config) {
  const std::string& file = config.default_model_filename();
  if (file.empty()) return absl::OkStatus();
  if (file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == "." || file == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("default_model_filename: '", file, "' must be a file name inside the version folder"));
  }
  return absl::OkStatus();
}

}  // namespace

config::DataType ToConfigType(DataType type) {
  for (const TypePair& pair : kTypes) {
    if (pair.type == type) return pair.config_type;
  }
  return config::TYPE_INVALID;
}

absl::StatusOr<DataType> FromConfigType(config::DataType type) {
  for (const TypePair& pair : kTypes) {
    if (pair.config_type == type) return pair.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("data type ", TypeName(type), " is not supported"));
}

absl::StatusOr<config::ModelConfig> ParseModelConfig(const std::string& text, const std::string& source) {
  CollectErrors errors(text, source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(false);
  config::ModelConfig config;
  if (!parser.ParseFromString(text, &config)) {
    if (errors.errors().empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a valid model config"));
    return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "; "));
  }
  return config;
}

absl::Status CompleteModelConfig(const std::string& model_name, const std::vector<engine::TensorInfo>& inputs,
                                 const std::vector<engine::TensorInfo>& outputs, bool from_file,
                                 const CompletionOptions& options, config::ModelConfig& config) {
  RETURN_IF_ERROR(CheckName(model_name, config));
  RETURN_IF_ERROR(CheckPlatform(config));
  RETURN_IF_ERROR(CheckMaxBatchSize(inputs, outputs, from_file, options, config));
  const int max_batch_size = config.max_batch_size();
  RETURN_IF_ERROR(CompleteTensors("input", inputs, max_batch_size, *config.mutable_input()));
  RETURN_IF_ERROR(CompleteTensors("output", outputs, max_batch_size, *config.mutable_output()));
  RETURN_IF_ERROR(CheckInputFlags(config));
  RETURN_IF_ERROR(CompleteInstanceGroups(config));
  RETURN_IF_ERROR(CompleteVersionPolicy(config));
  RETURN_IF_ERROR(CheckModelFilename(config));
  RETURN_IF_ERROR(CheckScheduling(config));
  if (config.has_generation()) RETURN_IF_ERROR(CompleteGenerationConfig(inputs, outputs, *config.mutable_generation()));
  for (int i = 0; i < config.model_warmup_size(); ++i) {
    RETURN_IF_ERROR(internal::PlanWarmupEntry(config, i, inputs).status());
    auto& entry = *config.mutable_model_warmup(i);
    if (entry.batch_size() == 0) entry.set_batch_size(1);  // 0 means 1: say so to clients
    if (entry.count() == 0) entry.set_count(1);
  }
  // Provider names are checked here so that a typo fails the load with the field named; which provider
  // runs the model (and the environment override) is decided by the loader.
  RETURN_IF_ERROR(ProviderPreference(config, nullptr).status());
  return absl::OkStatus();
}

}  // namespace peregrine::serving
