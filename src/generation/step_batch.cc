#include "generation/step_batch.h"

#include <algorithm>
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

StepBatch::StepBatch(engine::Session* session, StepModelBinding binding, int capacity, engine::Session* chunk_session,
                     int max_chunk)
    : session_(session),
      chunk_session_(chunk_session),
      binding_(std::move(binding)),
      capacity_(capacity),
      max_chunk_(chunk_session == nullptr ? 1 : max_chunk) {}

absl::StatusOr<std::unique_ptr<StepBatch>> StepBatch::Create(engine::Session* session, StepModelBinding binding,
                                                             int capacity, engine::Session* chunk_session,
                                                             int max_chunk) {
  if (capacity < 1) return absl::InvalidArgumentError("a step batch needs a capacity of at least 1");
  if (max_chunk < 1) return absl::InvalidArgumentError("a step batch needs a chunk of at least 1 token");
  if (binding.vocab_size <= 0)
    return absl::InvalidArgumentError("the logits output must have a fixed vocabulary width");
  std::unique_ptr<StepBatch> batch(new StepBatch(session, std::move(binding), capacity, chunk_session, max_chunk));
  const StepModelBinding& b = batch->binding_;
  batch->vocab_ = b.vocab_size;
  for (const StepModelBinding::State& s : b.state) {
    const Shape full = WithRows(s.row_shape, s.batch_axis, capacity);
    batch->state_storage_.push_back({Tensor::Zeros(s.dtype, full), Tensor::Zeros(s.dtype, full)});
  }
  batch->token_storage_ = Tensor::Zeros(DataType::kInt64, {std::max(capacity, batch->max_chunk_), 1});
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

absl::Status StepBatch::SetRows(std::span<const int> sources) {
  const int n = static_cast<int>(sources.size());
  if (n > capacity_) return absl::InvalidArgumentError(absl::StrCat(n, " rows exceed the batch capacity ", capacity_));
  bool unchanged = n == rows_;
  for (int r = 0; r < n; ++r) {
    const int from = sources[static_cast<size_t>(r)];
    if (from != kNewRow && (from < 0 || from >= rows_)) {
      return absl::InvalidArgumentError(absl::StrCat("row ", r, " has no source"));
    }
    unchanged = unchanged && from == r;
  }
  if (unchanged) return absl::OkStatus();
  // Lay the rows out in the spare buffers, then make them the current ones. A state with its batch axis
  // inside (e.g. [layers, batch, hidden]) is `outer` blocks of rows, each block laid out anew for n.
  // Rows that stay keep their order, so most of them move in a few long runs.
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    const StepModelBinding::State& s = binding_.state[i];
    size_t outer = 1;
    size_t row_bytes = ElementSize(s.dtype);
    for (int d = 0; d < static_cast<int>(s.row_shape.size()); ++d) {
      if (d < s.batch_axis) outer *= static_cast<size_t>(s.row_shape[d]);
      if (d > s.batch_axis) row_bytes *= static_cast<size_t>(s.row_shape[d]);
    }
    const auto* from = static_cast<const char*>(state_storage_[i][0].data());
    auto* to = static_cast<char*>(state_storage_[i][1].data());
    for (size_t o = 0; o < outer; ++o) {
      const char* from_block = from + o * static_cast<size_t>(rows_) * row_bytes;
      char* to_block = to + o * static_cast<size_t>(n) * row_bytes;
      for (int r = 0; r < n;) {
        const int first = sources[static_cast<size_t>(r)];
        int run = 1;
        if (first == kNewRow) {
          while (r + run < n && sources[static_cast<size_t>(r + run)] == kNewRow) ++run;
          std::memset(to_block + static_cast<size_t>(r) * row_bytes, 0, static_cast<size_t>(run) * row_bytes);
        } else {
          while (r + run < n && sources[static_cast<size_t>(r + run)] == first + run) ++run;
          std::memcpy(to_block + static_cast<size_t>(r) * row_bytes, from_block + static_cast<size_t>(first) * row_bytes,
                      static_cast<size_t>(run) * row_bytes);
        }
        r += run;
      }
    }
    std::swap(state_storage_[i][0], state_storage_[i][1]);
  }
  MakeViews(n);
  return absl::OkStatus();
}

absl::Status StepBatch::CheckOutputsInPlace() const {
  // The session writes into our views unless the model's outputs are not shaped as the binding says.
  const Tensor& logits = outputs_[binding_.logits_output];
  if (logits.data() != logits_storage_.data()) {
    return absl::InternalError(absl::StrCat("the step model's logits are ", ShapeToString(logits.shape()),
                                            ", expected [", rows_, ", ", vocab_, "]"));
  }
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    const Tensor& out = outputs_[binding_.state[i].output];
    if (out.data() != state_storage_[i][1].data()) {
      return absl::InternalError(
          absl::StrCat("the step model's state output ", ShapeToString(out.shape()), " is not shaped like its input"));
    }
  }
  return absl::OkStatus();
}

void StepBatch::SwapState() {
  for (size_t i = 0; i < binding_.state.size(); ++i) {
    std::swap(state_storage_[i][0], state_storage_[i][1]);
    const StepModelBinding::State& s = binding_.state[i];
    std::swap(inputs_[s.input], outputs_[s.output]);
  }
}

absl::Status StepBatch::Step(std::span<const int64_t> tokens) {
  if (static_cast<int>(tokens.size()) != rows_ || rows_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(tokens.size(), " tokens for a batch of ", rows_, " rows"));
  }
  std::memcpy(token_storage_.data(), tokens.data(), tokens.size_bytes());
  RETURN_IF_ERROR(RunStep(*session_, inputs_, outputs_));
  RETURN_IF_ERROR(CheckOutputsInPlace());
  SwapState();
  return absl::OkStatus();
}

absl::Status StepBatch::StepAlone(std::span<const int64_t> tokens) {
  const int k = static_cast<int>(tokens.size());
  if (rows_ != 1 || k < 1 || k > max_chunk_) {
    return absl::InvalidArgumentError(
        absl::StrCat(k, " tokens for one call of a batch of ", rows_, " rows (at most ", max_chunk_, " tokens)"));
  }
  if (k == 1) return Step(tokens);
  std::memcpy(token_storage_.data(), tokens.data(), tokens.size_bytes());
  Tensor& token_view = inputs_[binding_.token_input];
  token_view = Tensor::Borrow(DataType::kInt64, {1, k}, token_storage_.data());
  absl::Status status = RunStep(*chunk_session_, inputs_, outputs_);
  token_view = Tensor::Borrow(DataType::kInt64, {1, 1}, token_storage_.data());
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(CheckOutputsInPlace());
  SwapState();
  return absl::OkStatus();
}

std::span<const float> StepBatch::logits(int row) const {
  return {logits_storage_.data_as<float>() + static_cast<size_t>(row) * static_cast<size_t>(vocab_),
          static_cast<size_t>(vocab_)};
}

absl::Status StepBatch::WarmUp() {
  std::vector<int64_t> tokens(static_cast<size_t>(capacity_), 0);
  for (int n = 1; n <= capacity_; ++n) {
    for (auto& pair : state_storage_) std::memset(pair[0].data(), 0, pair[0].byte_size());
    MakeViews(n);
    RETURN_IF_ERROR(Step(std::span<const int64_t>(tokens.data(), static_cast<size_t>(n))));
  }
  MakeViews(0);
  return absl::OkStatus();
}

absl::Status StepBatch::WarmUpChunks() {
  std::vector<Tensor> inputs(binding_.num_inputs);
  for (const StepModelBinding::State& s : binding_.state) inputs[s.input] = Tensor::Zeros(s.dtype, s.row_shape);
  for (int k = 2; k <= max_chunk_; ++k) {
    inputs[binding_.token_input] = Tensor::Zeros(DataType::kInt64, {1, k});
    std::vector<Tensor> outputs(binding_.num_outputs);
    RETURN_IF_ERROR(RunStep(*chunk_session_, inputs, outputs));
  }
  return absl::OkStatus();
}

}  // namespace peregrine::generation
