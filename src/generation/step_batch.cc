#include "generation/step_batch.h"

#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace peregrine::generation {

absl::Status RunStep(engine::Session& session, std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
  try {
    return session.Run(inputs, outputs);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while running the step model");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("the step model failed: ", std::string(e.what())));
  } catch (...) {
    return absl::InternalError("the step model failed with an unknown exception");
  }
}

// ---- StepBatch ----

StepBatch::StepBatch(engine::Session* session, StepModelBinding binding, int capacity)
    : session_(session), binding_(std::move(binding)), capacity_(capacity) {}

absl::StatusOr<std::unique_ptr<StepBatch>> StepBatch::Create(engine::Session* session, StepModelBinding binding,
                                                             int capacity) {
  if (capacity < 1) return absl::InvalidArgumentError("a step batch needs a capacity of at least 1");
  if (binding.vocab_size <= 0)
    return absl::InvalidArgumentError("the logits output must have a fixed vocabulary width");
  std::unique_ptr<StepBatch> batch(new StepBatch(session, std::move(binding), capacity));
  const StepModelBinding& b = batch->binding_;
  batch->vocab_ = b.vocab_size;
  for (const StepModelBinding::State& s : b.state) {
    const Shape full = WithRows(s.row_shape, s.batch_axis, capacity);
    batch->state_storage_.push_back({Tensor::Zeros(s.dtype, full), Tensor::Zeros(s.dtype, full)});
  }
  batch->token_storage_ = Tensor::Zeros(DataType::kInt64, {capacity, 1});
  batch->logits_storage_ = Tensor::Zeros(DataType::kFloat32, {capacity, b.vocab_size});
  batch->inputs_.resize(b.num_inputs);
  batch->outputs_.resize(b.num_outputs);
  return batch;
}

// Views of the storage shaped for `rows` rows. Outputs other than the logits and the state (if a model
// has them) are left to the session to allocate.
void StepBatch::MakeViews(int rows) {
  rows_ = rows;
  inputs_[binding_.token_input] = Tensor::Borrow(DataType::kInt64, {rows, 1}, token_storage_.data());
  outputs_[binding_.logits_output] = Tensor::Borrow(DataType::kFloat32, {rows, vocab_}, logits_storage_.data());
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    const StepModelBinding::State& s = binding_.state[i];
    const Shape shape = WithRows(s.row_shape, s.batch_axis, rows);
    inputs_[s.input] = Tensor::Borrow(s.dtype, shape, state_storage_[i][0].data());
    outputs_[s.output] = Tensor::Borrow(s.dtype, shape, state_storage_[i][1].data());
  }
}

absl::Status StepBatch::SetRows(std::span<const RowSource> rows) {
  const int n = static_cast<int>(rows.size());
  if (n > capacity_) return absl::InvalidArgumentError(absl::StrCat(n, " rows exceed the batch capacity ", capacity_));
  // Gather into the spare buffers, then make them the current ones.
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    const StepModelBinding::State& s = binding_.state[i];
    const size_t element = ElementSize(s.dtype);
    for (int r = 0; r < n; ++r) {
      const RowSource& from = rows[static_cast<size_t>(r)];
      if (from.state != nullptr) {
        CopyRow((*from.state)[i].data(), 1, 0, state_storage_[i][1].data(), n, r, s.row_shape, s.batch_axis, element);
      } else if (from.batch_row >= 0 && from.batch_row < rows_) {
        CopyRow(state_storage_[i][0].data(), rows_, from.batch_row, state_storage_[i][1].data(), n, r, s.row_shape,
                s.batch_axis, element);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("row ", r, " has no source"));
      }
    }
    std::swap(state_storage_[i][0], state_storage_[i][1]);
  }
  MakeViews(n);
  return absl::OkStatus();
}

absl::Status StepBatch::Step(std::span<const int64_t> tokens) {
  if (static_cast<int>(tokens.size()) != rows_ || rows_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(tokens.size(), " tokens for a batch of ", rows_, " rows"));
  }
  std::memcpy(token_storage_.data(), tokens.data(), tokens.size_bytes());
  RETURN_IF_ERROR(RunStep(*session_, inputs_, outputs_));
  // The session writes into our views unless the model's outputs are not shaped as the binding says.
  if (outputs_[binding_.logits_output].data() != logits_storage_.data()) {
    return absl::InternalError(absl::StrCat("the step model's logits are ",
                                            ShapeToString(outputs_[binding_.logits_output].shape()), ", expected [",
                                            rows_, ", ", vocab_, "]"));
  }
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    if (outputs_[binding_.state[i].output].data() != state_storage_[i][1].data()) {
      return absl::InternalError(absl::StrCat("the step model's state output ",
                                              ShapeToString(outputs_[binding_.state[i].output].shape()),
                                              " is not shaped like its input"));
    }
  }
  // The new state becomes the current one; the old buffers receive the next.
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    std::swap(state_storage_[i][0], state_storage_[i][1]);
    const StepModelBinding::State& s = binding_.state[i];
    std::swap(inputs_[s.input], outputs_[s.output]);
  }
  return absl::OkStatus();
}

std::span<const float> StepBatch::logits(int row) const {
  return {logits_storage_.data_as<float>() + static_cast<size_t>(row) * static_cast<size_t>(vocab_),
          static_cast<size_t>(vocab_)};
}

absl::Status StepBatch::WarmUp() {
  std::vector<int64_t> tokens(static_cast<size_t>(capacity_), 0);
  for (auto& pair : state_storage_) std::memset(pair[0].data(), 0, pair[0].byte_size());
  for (int n = 1; n <= capacity_; ++n) {
    MakeViews(n);
    RETURN_IF_ERROR(Step(std::span<const int64_t>(tokens.data(), static_cast<size_t>(n))));
  }
  MakeViews(0);
  return absl::OkStatus();
}

// ---- Prefiller ----

absl::StatusOr<std::unique_ptr<Prefiller>> Prefiller::Create(engine::Session* session, StepModelBinding binding) {
  std::unique_ptr<Prefiller> p(new Prefiller(session, std::move(binding)));
  p->inputs_.resize(p->binding_.num_inputs);
  for (const StepModelBinding::State& s : p->binding_.state) p->inputs_[s.input] = Tensor::Zeros(s.dtype, s.row_shape);
  return p;
}

absl::StatusOr<Prefilled> Prefiller::Run(std::span<const int64_t> prompt) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  Tensor tokens = Tensor::Zeros(DataType::kInt64, {1, static_cast<int64_t>(prompt.size())});
  std::memcpy(tokens.data(), prompt.data(), prompt.size_bytes());
  inputs_[binding_.token_input] = tokens;
  std::vector<Tensor> outputs(binding_.num_outputs);  // fresh: the state moves on with the sequence
  RETURN_IF_ERROR(RunStep(*session_, inputs_, outputs));
  Prefilled result;
  result.logits = std::move(outputs[binding_.logits_output]);
  if (binding_.vocab_size > 0 && result.logits.shape() != Shape{1, binding_.vocab_size}) {
    return absl::InternalError(absl::StrCat("the step model's logits are ", ShapeToString(result.logits.shape()),
                                            ", expected [1, ", binding_.vocab_size, "]"));
  }
  for (const StepModelBinding::State& s : binding_.state) {
    if (outputs[s.output].shape() != s.row_shape) {
      return absl::InternalError(absl::StrCat("the step model's state output ",
                                              ShapeToString(outputs[s.output].shape()),
                                              " is not shaped like its input ", ShapeToString(s.row_shape)));
    }
    result.state.push_back(std::move(outputs[s.output]));
  }
  return result;
}

}  // namespace peregrine::generation
