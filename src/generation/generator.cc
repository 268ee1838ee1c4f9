#include "generation/generator.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace peregrine::generation {

absl::StatusOr<std::unique_ptr<Generator>> Generator::Create(engine::Session* session, StepModelSpec spec) {
  std::unique_ptr<Generator> g(new Generator(session, std::move(spec)));
  RETURN_IF_ERROR(g->Bind());
  return g;
}

absl::Status Generator::Bind() {
  ASSIGN_OR_RETURN(binding_, BindStepModel(session_->inputs(), session_->outputs(), spec_));
  inputs_.resize(binding_.num_inputs);
  outputs_.resize(binding_.num_outputs);
  for (const StepModelBinding::State& s : binding_.state) {
    inputs_[s.input] = Tensor::Zeros(s.dtype, s.row_shape);
    outputs_[s.output] = Tensor::Zeros(s.dtype, s.row_shape);
  }
  step_token_ = Tensor::Zeros(DataType::kInt64, {1, 1});
  return absl::OkStatus();
}

absl::Status Generator::Step(const Tensor& tokens) {
  inputs_[binding_.token_input] = tokens;
  RETURN_IF_ERROR(session_->Run(inputs_, outputs_));
  // The new state becomes the next input; the old input buffers receive the state after that.
  for (const StepModelBinding::State& s : binding_.state) std::swap(inputs_[s.input], outputs_[s.output]);
  return absl::OkStatus();
}

absl::StatusOr<GenerateResult> Generator::Generate(const GenerateRequest& request, const std::function<bool(int64_t)>& on_token) {
  if (request.prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  if (request.max_new_tokens <= 0) return absl::InvalidArgumentError("max_new_tokens must be positive");
  RETURN_IF_ERROR(request.sampling.Validate());
  for (const StepModelBinding::State& s : binding_.state) {
    std::memset(inputs_[s.input].data(), 0, inputs_[s.input].byte_size());
  }

  Sampler sampler(request.sampling);
  GenerateResult result;
  result.tokens.reserve(static_cast<size_t>(request.max_new_tokens));
  RETURN_IF_ERROR(Step(Tensor::FromVector<int64_t>({1, static_cast<int64_t>(request.prompt.size())}, request.prompt)));
  while (true) {
    const Tensor& logits = outputs_[binding_.logits_output];
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
