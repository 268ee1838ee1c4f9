// Warm-up samples: the inputs a model instance runs before the model reports ready, from the config's
// model_warmup entries (zeros, random, or files in <model dir>/warmup/), or one default zero sample
// when the config has none.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "proto/model_config.pb.h"
#include "tensor/tensor.h"

namespace peregrine::serving {

struct WarmupSample {
  std::string name;
  std::vector<Tensor> inputs;  // in session input order, with the batch dimension when batching
  uint32_t count = 1;
};

// InvalidArgument naming the warm-up entry and input for: an input the model lacks, a model input
// the sample does not give, wrong type or dims, a file that is missing, outside warmup/, or of the
// wrong size. Random data is seeded, so warm-up is reproducible. Without model_warmup entries: one
// zero sample of batch 1 (symbolic dimensions set to 1), count 1.
absl::StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const config::ModelConfig& config,
                                                             const std::filesystem::path& model_dir,
                                                             const std::vector<engine::TensorInfo>& session_inputs);

}  // namespace peregrine::serving
