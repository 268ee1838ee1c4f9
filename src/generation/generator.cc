#include "generation/generator.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace peregrine::generation {
namespace {

absl::StatusOr<size_t> IndexOf(const std::vector<engine::TensorInfo>& infos, const std::string& name, const char* what) {
  for (size_t i = 0; i < infos.size(); ++i) {
    if (infos[i].name == name) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat("step model has no ", what, " named '", name, "'"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Generator>> Generator::Create(engine::Session* session, StepModelSpec spec) {
  std::unique_ptr<Generator> g(new Generator(session, std::move(spec)));
  RETURN_IF_ERROR(g->Bind());
  return g;
}

absl::Status Generator::Bind() {
  const auto& ins = session_->inputs();
  const auto& outs = session_->outputs();
  ASSIGN_OR_RETURN(token_index_, IndexOf(ins, spec_.token_input, "input"));
  ASSIGN_OR_RETURN(logits_index_, IndexOf(outs, spec_.logits_output, "output"));
  if (ins[token_index_].dtype != DataType::kInt64) return absl::InvalidArgumentError("the token input must be int64");
  if (outs[logits_index_].dtype != DataType::kFloat32) return absl::InvalidArgumentError("the logits output must be float32");
  if (ins.size() != spec_.state.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat("step model has ", ins.size(), " inputs; expected the token input and ",
                                                   spec_.state.size(), " state inputs"));
  }
  inputs_.resize(ins.size());
  outputs_.resize(outs.size());
  for (const auto& [in_name, out_name] : spec_.state) {
    ASSIGN_OR_RETURN(size_t in, IndexOf(ins, in_name, "input"));
    ASSIGN_OR_RETURN(size_t out, IndexOf(outs, out_name, "output"));
    // State for one sequence: the batch axis is 1, every other dimension must be fixed.
    Shape shape;
    for (size_t d = 0; d < ins[in].shape.size(); ++d) {
      const int64_t size = static_cast<int>(d) == spec_.state_batch_axis ? 1 : ins[in].shape[d];
      if (size < 0) return absl::InvalidArgumentError(absl::StrCat("state input '", in_name, "' has an unknown dimension ", d));
      shape.push_back(size);
    }
    inputs_[in] = Tensor::Zeros(ins[in].dtype, shape);
    outputs_[out] = Tensor::Zeros(ins[in].dtype, shape);
    state_index_.push_back({in, out});
  }
  step_token_ = Tensor::Zeros(DataType::kInt64, {1, 1});
  return absl::OkStatus();
}

absl::Status Generator::Step(const Tensor& tokens) {
  inputs_[token_index_] = tokens;
  RETURN_IF_ERROR(session_->Run(inputs_, outputs_));
  // The new state becomes the next input; the old input buffers receive the state after that.
  for (const auto& [in, out] : state_index_) std::swap(inputs_[in], outputs_[out]);
  return absl::OkStatus();
}

absl::StatusOr<GenerateResult> Generator::Generate(const GenerateRequest& request, const std::function<bool(int64_t)>& on_token) {
  if (request.prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  if (request.max_new_tokens <= 0) return absl::InvalidArgumentError("max_new_tokens must be positive");
  RETURN_IF_ERROR(request.sampling.Validate());
  for (const auto& [in, out] : state_index_) std::memset(inputs_[in].data(), 0, inputs_[in].byte_size());

  Sampler sampler(request.sampling);
  GenerateResult result;
  result.tokens.reserve(static_cast<size_t>(request.max_new_tokens));
  RETURN_IF_ERROR(Step(Tensor::FromVector<int64_t>({1, static_cast<int64_t>(request.prompt.size())}, request.prompt)));
  while (true) {
    const Tensor& logits = outputs_[logits_index_];
    const int64_t token = sampler.Next(logits.values<float>());
    if (std::find(request.stop_ids.begin(), request.stop_ids.end(), token) != request.stop_ids.end()) {
      result.finish = GenerateResult::Finish::kStop;
      break;
    }
    result.tokens.push_back(token);
    if (on_token && !on_token(token)) {
      result.finish = GenerateResult::Finish::kCancelled;
      break;
    }
    if (static_cast<int>(result.tokens.size()) >= request.max_new_tokens) break;
    step_token_.data_as<int64_t>()[0] = token;
    RETURN_IF_ERROR(Step(step_token_));
  }
  return result;
}

}  // namespace peregrine::generation
