// Model configuration (proto/model_config.proto): parsing config.pbtxt, completing it from the ONNX
// model, checking it, and rendering it as JSON for GET /v2/models/{m}/config.
//
// Every error is InvalidArgument and names the field, e.g. "config.pbtxt: input[1].dims: model input
// 'mfcc' has 4 dimensions, config says 3".
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "proto/model_config.pb.h"
#include "tensor/data_type.h"

namespace peregrine::serving {

// Element type mapping. TYPE_STRING <-> kString. FromConfigType fails for TYPE_INVALID.
config::DataType ToConfigType(DataType type);
absl::StatusOr<DataType> FromConfigType(config::DataType type);

// Parses protobuf text format; unknown fields and malformed text fail, naming line and column.
// `source` names the file in messages.
absl::StatusOr<config::ModelConfig> ParseModelConfig(const std::string& text, const std::string& source);

struct CompletionOptions {
  // max_batch_size given to a model without config.pbtxt whose inputs and outputs all have a
  // symbolic first dimension; others get 0 (no batching).
  int default_max_batch_size = 8;
};

// Fills what the config leaves out from the model's signature (name from `model_name`, platform,
// inputs/outputs with types and dims, max_batch_size when there is no config at all: `from_file` false)
// and checks what it gives: name equals the directory's, platform/backend is ONNX, every config
// input/output exists in the model with the same type and compatible dims (the batch dimension
// excluded when max_batch_size > 0, where the model's first dimension must be symbolic or -1),
// instance_group count >= 0, warm-up inputs name model inputs, queue policy sane, and the generation
// block (serving/generation_config.h) against the model.
absl::Status CompleteModelConfig(const std::string& model_name, const std::vector<engine::TensorInfo>& inputs,
                                 const std::vector<engine::TensorInfo>& outputs, bool from_file,
                                 const CompletionOptions& options, config::ModelConfig& config);

// JSON as Triton's model-configuration extension returns it: proto field names, enums by name
// ("TYPE_FP32", "KIND_CPU"), 64-bit integers as JSON numbers, and the fields clients read always present
// (name, platform, backend, max_batch_size, input, output, instance_group, version_policy).
std::string ModelConfigToJson(const config::ModelConfig& config);

}  // namespace peregrine::serving
