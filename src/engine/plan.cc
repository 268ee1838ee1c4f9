#include "engine/plan.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/profiler.h"

namespace peregrine::engine {

bool Plan::Matches(std::span<const Tensor> inputs) const {
  if (inputs.size() != input_signature_.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != input_signature_[i].dtype || inputs[i].shape() != input_signature_[i].shape) return false;
    const Tensor& value = specialized_values_[i];
    if (value.has_data() && value.byte_size() > 0 && std::memcmp(value.data(), inputs[i].data(), value.byte_size()) != 0) return false;
  }
  return true;
}

absl::Status Plan::Run(std::span<const Tensor> inputs, std::span<Tensor> outputs, Profiler* profiler) {
  // The kernels never write through input slots; the const_cast only lets inputs share the slot table.
  for (size_t i = 0; i < input_slots_.size(); ++i) {
    if (input_slots_[i] >= 0) slots_[input_slots_[i]] = const_cast<void*>(inputs[i].data());
  }
  for (size_t i = 0; i < output_slots_.size(); ++i) slots_[output_slots_[i]] = outputs[i].data();
  const int run = profiler ? profiler->runs++ : 0;

  for (Step& step : steps_) {
    for (size_t i = 0; i < step.input_slots.size(); ++i) {
      step.input_ptrs[i] = step.input_slots[i] < 0 ? nullptr : slots_[step.input_slots[i]];
    }
    for (size_t i = 0; i < step.output_slots.size(); ++i) {
      step.output_ptrs[i] = step.output_slots[i] < 0 ? nullptr : slots_[step.output_slots[i]];
    }
    if (step.preload_input >= 0 && step.input_ptrs[step.preload_input] != step.output_ptrs[0]) {
      std::memcpy(step.output_ptrs[0], step.input_ptrs[step.preload_input], step.preload_bytes);
    }
    RunContext ctx(step.input_ptrs.data(), step.input_ptrs.size(), step.output_ptrs.data(), step.output_ptrs.size(),
                   scratch_, &stream_);
    const int64_t start = profiler ? profiler->NowNanos() : 0;
    absl::Status status = step.kernel->Run(ctx);
    if (!status.ok()) return status;
    if (profiler && profiler->events.size() < Profiler::kMaxEvents) {
      profiler->events.push_back({&step.op_type, &step.name, &step.shapes, start, profiler->NowNanos() - start, run});
    }
  }
  return absl::OkStatus();
}

}  // namespace peregrine::engine
