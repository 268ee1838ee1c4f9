// The interface of a stateful step model, and where its parts sit in an engine session's signature.
//
// A step model takes token ids [batch, seq] (int64) and state tensors, and returns next-token logits
// [batch, vocabulary] (float32, after the last position) and the new state. Each state input has an
// output that becomes its value on the next step (h0 <- hn), and an axis that indexes sequences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "tensor/shape.h"

namespace peregrine::generation {

struct StatePair {
  std::string input;
  std::string output;
  int batch_axis = 1;
};

struct StepModelSpec {
  std::string token_input = "token_ids";
  std::string logits_output = "logits";
  std::vector<StatePair> state = {{"h0", "hn", 1}, {"c0", "cn", 1}};
};

struct StepModelBinding {
  struct State {
    size_t input = 0;   // index in the session's inputs
    size_t output = 0;  // index in the session's outputs
    int batch_axis = 1;
    DataType dtype = DataType::kUndefined;
    Shape row_shape;  // the state of one sequence: the model's shape with 1 on the batch axis
  };
  size_t token_input = 0;
  size_t logits_output = 0;
  std::vector<State> state;
  size_t num_inputs = 0;
  size_t num_outputs = 0;
  int64_t vocab_size = -1;  // the logits' last dimension when the model fixes it, else -1
};

// Resolves `spec` against a session's signature. InvalidArgument naming the tensor when a name is
// missing, a type is wrong (token input int64, logits float32, a state output typed and shaped like its
// input), a model input is neither the token input nor a state input, a batch axis is out of range, or
// a state dimension other than the batch axis is not fixed.
absl::StatusOr<StepModelBinding> BindStepModel(const std::vector<engine::TensorInfo>& inputs,
                                               const std::vector<engine::TensorInfo>& outputs,
                                               const StepModelSpec& spec);

// Shape `row_shape` with `rows` on `axis`.
Shape WithRows(const Shape& row_shape, int axis, int64_t rows);

}  // namespace peregrine::generation
