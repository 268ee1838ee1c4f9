// Checks a decoded inference request against a model before it is queued, so that instances only ever
// see inputs they can run.
#pragma once

#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "proto/model_config.pb.h"
#include "serving/inference.h"

namespace peregrine::serving {

// On success request.inputs holds exactly the session's inputs, in session order. Errors, each naming
// the tensor: unknown input (InvalidArgument), missing input, duplicate input, datatype differs from the
// model's, wrong rank or a fixed dimension that differs, batch dimension above max_batch_size (when
// max_batch_size > 0) or inputs that disagree on the batch size; requested output the model lacks or
// requested twice; a request parameter of a derived output that is not valid (derived_outputs.h).
absl::Status ValidateRequest(const config::ModelConfig& config, const std::vector<engine::TensorInfo>& session_inputs,
                             const std::vector<engine::TensorInfo>& session_outputs, InferenceRequest& request);

}  // namespace peregrine::serving
