#include "generation/step_model.h"

#include "absl/strings/str_cat.h"

namespace peregrine::generation {
namespace {

absl::StatusOr<size_t> IndexOf(const std::vector<engine::TensorInfo>& infos, const std::string& name,
                               const char* what) {
  for (size_t i = 0; i < infos.size(); ++i) {
    if (infos[i].name == name) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat("step model has no ", what, " named '", name, "'"));
}

}  // namespace

absl::StatusOr<StepModelBinding> BindStepModel(const std::vector<engine::TensorInfo>& ins,
                                               const std::vector<engine::TensorInfo>& outs, const StepModelSpec& spec) {
  StepModelBinding b;
  b.num_inputs = ins.size();
  b.num_outputs = outs.size();
  ASSIGN_OR_RETURN(b.token_input, IndexOf(ins, spec.token_input, "input"));
  ASSIGN_OR_RETURN(b.logits_output, IndexOf(outs, spec.logits_output, "output"));
  const engine::TensorInfo& tokens = ins[b.token_input];
  const engine::TensorInfo& logits = outs[b.logits_output];
  if (tokens.dtype != DataType::kInt64 || (!tokens.shape.empty() && tokens.shape.size() != 2)) {
    return absl::InvalidArgumentError(absl::StrCat("token input '", tokens.name, "' must be int64 [batch, seq]"));
  }
  if (logits.dtype != DataType::kFloat32 || (!logits.shape.empty() && logits.shape.size() != 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("logits output '", logits.name, "' must be float32 [batch, vocabulary]"));
  }
  if (logits.shape.size() == 2 && logits.shape[1] > 0) b.vocab_size = logits.shape[1];

  std::vector<bool> covered(ins.size(), false);
  covered[b.token_input] = true;
  for (const StatePair& pair : spec.state) {
    StepModelBinding::State s;
    ASSIGN_OR_RETURN(s.input, IndexOf(ins, pair.input, "input"));
    ASSIGN_OR_RETURN(s.output, IndexOf(outs, pair.output, "output"));
    if (covered[s.input]) return absl::InvalidArgumentError(absl::StrCat("input '", pair.input, "' is used twice"));
    covered[s.input] = true;
    const engine::TensorInfo& in = ins[s.input];
    const engine::TensorInfo& out = outs[s.output];
    if (in.dtype != out.dtype || in.shape.size() != out.shape.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("state output '", out.name, "' must have the type and rank of input '", in.name, "'"));
    }
    if (pair.batch_axis < 0 || pair.batch_axis >= static_cast<int>(in.shape.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("state input '", in.name, "' has no axis ", pair.batch_axis, " (rank ", in.shape.size(), ")"));
    }
    s.batch_axis = pair.batch_axis;
    s.dtype = in.dtype;
    for (size_t d = 0; d < in.shape.size(); ++d) {
      const bool batch = static_cast<int>(d) == pair.batch_axis;
      if (!batch && in.shape[d] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("state input '", in.name, "' has an unknown dimension ", d, "; only the batch axis may vary"));
      }
      if (!batch && out.shape[d] >= 0 && out.shape[d] != in.shape[d]) {
        return absl::InvalidArgumentError(
            absl::StrCat("state output '", out.name, "' dimension ", d, " differs from input '", in.name, "'"));
      }
      s.row_shape.push_back(batch ? 1 : in.shape[d]);
    }
    b.state.push_back(std::move(s));
  }
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!covered[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("model input '", ins[i].name, "' is neither the token input nor a state input"));
    }
  }
  return b;
}

Shape WithRows(const Shape& row_shape, int axis, int64_t rows) {
  Shape shape = row_shape;
  shape[static_cast<size_t>(axis)] = rows;
  return shape;
}

}  // namespace peregrine::generation
