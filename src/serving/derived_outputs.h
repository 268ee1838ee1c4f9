// Derived outputs: outputs the serving layer computes from a model's own outputs, per request, after
// the request's rows have been split back from a batch. They are configured by model parameters in
// config.pbtxt, so a model gains them without a new ONNX file, and they appear in the model's metadata
// and config like any other output (the loader lists them after the model's outputs).
//
// One kind so far, a threshold decision:
//   parameters { key: "decision_threshold" value: { string_value: "0.5" } }      enables it
//   parameters { key: "decision_source"    value: { string_value: "score" } }    optional: default is the
//                                                                                 model's only output
//   parameters { key: "decision_output"    value: { string_value: "decision" } } optional: its name
// adds a BOOL output shaped like the source: element-wise source >= threshold. A request overrides the
// threshold with its own parameter "decision_threshold" (a number), e.g. {"parameters":
// {"decision_threshold": 0.8}, "inputs": [...]}.
//
// Immutable after FromConfig; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "proto/model_config.pb.h"
#include "serving/inference.h"
#include "tensor/tensor.h"

namespace peregrine::serving {

class DerivedOutputs {
 public:
  // nullptr when the config asks for no derived output. InvalidArgument naming the parameter for a
  // threshold that is not a finite number, a source that is not a numeric model output (or several
  // outputs and no decision_source), or an output name the model already uses.
  static absl::StatusOr<std::shared_ptr<const DerivedOutputs>> FromConfig(
      const config::ModelConfig& config, const std::vector<engine::TensorInfo>& model_outputs);

  // The outputs this adds, in the order Append appends them.
  const std::vector<engine::TensorInfo>& infos() const { return infos_; }

  // `model_outputs` followed by the derived outputs of `derived` (which may be null).
  static std::vector<engine::TensorInfo> AllOutputs(const std::vector<engine::TensorInfo>& model_outputs,
                                                    const DerivedOutputs* derived);

  // Appends the derived outputs of one request to `outputs`, which holds that request's model outputs
  // in model order. Uses the request's "decision_threshold" parameter when it has one.
  absl::Status Append(const InferenceRequest& request, std::vector<Tensor>& outputs) const;

 private:
  DerivedOutputs() = default;

  size_t source_ = 0;  // index of the source among the model's outputs
  double threshold_ = 0;
  std::vector<engine::TensorInfo> infos_;
};

// Checks the request parameters that derived outputs read (InvalidArgument, naming the parameter, when
// "decision_threshold" is not a number for a model that has a decision output). For request validation.
absl::Status CheckDerivedOutputParameters(const config::ModelConfig& config, const InferenceRequest& request);

}  // namespace peregrine::serving
