// Internal to the serving library: the shape checks that model_config.cc, warmup.cc and
// request_validation.cc share, so a config, its warm-up samples and requests agree on what the batch
// dimension and a variable dimension (-1) mean.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "proto/model_config.pb.h"
#include "tensor/shape.h"

namespace peregrine::serving::internal {

// The engine reports an input or output whose rank is unknown with an empty shape (as it does a scalar;
// like the engine, we then check nothing about its shape).
bool RankUnknown(const engine::TensorInfo& info);

// "[1, -1, 16]".
std::string DimsToString(const std::vector<int64_t>& dims);

// The model tensor's dims as a config states them: without the first (batch) dimension when
// max_batch_size > 0; -1 for symbolic dimensions.
std::vector<int64_t> ConfigDimsOf(const engine::TensorInfo& info, int max_batch_size);

// Checks config `dims` (a field path such as "input[1].dims") against the model tensor described by
// `what` ("model input 'x'"): same rank, each dim -1 or >= 0, and equal to the model's where the model's is fixed
// (-1 in the config is allowed there; the model's own check still applies to requests).
absl::Status CheckConfigDims(const std::string& field, const std::string& what, const engine::TensorInfo& info,
                             int max_batch_size, const std::vector<int64_t>& dims);

// One input of one warm-up entry, resolved against the model.
struct WarmupInputPlan {
  size_t input_index = 0;  // in the session's input order
  const config::ModelWarmup::Input* input = nullptr;
  std::string field;  // 'model_warmup[0].inputs["x"]', for messages
  DataType dtype = DataType::kUndefined;
  Shape sample_shape;  // one sample, without the batch dimension
  Shape full_shape;    // with the batch dimension when max_batch_size > 0
  int64_t batch = 0;   // rows when max_batch_size > 0, else 0
};

// Checks model_warmup[index] against the model (every model input given once, nothing else; type; dims
// concrete and matching; batch_size within max_batch_size; a data source set; file names that stay in
// warmup/) and returns its inputs in session order. Does not touch files.
absl::StatusOr<std::vector<WarmupInputPlan>> PlanWarmupEntry(const config::ModelConfig& config, int index,
                                                             const std::vector<engine::TensorInfo>& inputs);

}  // namespace peregrine::serving::internal
