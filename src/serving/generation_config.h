// The `generation` block of a model's config (proto/model_config.proto, ModelGeneration): checking it
// against the model, and building the model's GenerationService from it.
//
// Errors are InvalidArgument and name the field, e.g. "generation.state[1].output: the model has no
// output 'cm' (outputs: logits, hn, cn)".
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "generation/step_model.h"
#include "metrics/metrics.h"
#include "proto/model_config.pb.h"
#include "serving/generation_service.h"

namespace peregrine::serving {

// Defaults of the limits that the config leaves at 0.
inline constexpr uint32_t kDefaultMaxTokens = 20;
inline constexpr uint32_t kDefaultMaxTokensLimit = 1024;
inline constexpr uint32_t kDefaultMaxPromptTokens = 1024;
inline constexpr uint32_t kDefaultMaxSequencesPerStep = 32;

// Part of CompleteModelConfig, for a config with `generation`: fills in the defaults (tokenizer, limits)
// and checks what needs no file - the tensor names against the model and the step-model rules of
// generation/step_model.h, the batch axes (variable in the model unless one sequence per step), the
// tokens (reserved, unknown and end), the vocabulary file name (inside the model folder), and the
// limits (default <= limit, each within a sane maximum).
absl::Status CompleteGenerationConfig(const std::vector<engine::TensorInfo>& inputs,
                                      const std::vector<engine::TensorInfo>& outputs,
                                      config::ModelGeneration& generation);

// The step model's interface as the (completed) config states it.
generation::StepModelSpec StepModelSpecOf(const config::ModelGeneration& generation);

struct GenerationBuildOptions {
  std::string model_name;
  int64_t version = 0;
  std::filesystem::path model_dir;   // the vocabulary's folder
  std::filesystem::path model_path;  // the .onnx file; the service opens its own sessions on it
  // When set, the service's sessions fork this session of the step model (Session::Fork: its graph and
  // weights are shared) instead of loading model_path again. Used only during the call.
  const engine::Session* model_session = nullptr;
  engine::SessionOptions session_options;
  size_t max_queued = 256;  // sequences waiting for a slot
  std::chrono::microseconds default_timeout{0};
  std::chrono::microseconds idle_spin{0};  // GenerationLimits::idle_spin
  metrics::Registry* metrics = nullptr;
};

// For a completed config with `generation`: loads the vocabulary (checking its size against the logits
// width and its first lines against reserved_tokens), creates the service with its sessions, and warms
// it up. Errors name the field (generation.vocabulary: ...).
absl::StatusOr<std::unique_ptr<GenerationService>> BuildGenerationService(const config::ModelConfig& config,
                                                                          const GenerationBuildOptions& options);

}  // namespace peregrine::serving
