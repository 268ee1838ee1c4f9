// Plan: the compiled form of a graph for one set of input shapes - a flat list of steps over a slot
// table of buffer pointers. Built by Compile() (compiler.h), executed by Run().
//
// Slots hold the buffer of every runtime tensor: arena slots are fixed when the plan is built, input
// and output slots are pointed at the caller's tensors at the start of each run. Running a plan does
// not allocate. A plan is not reentrant: one run at a time.
#pragma once

#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "engine/kernel.h"
#include "engine/session.h"
#include "engine/shared_constants.h"

namespace peregrine::engine {

struct Profiler;

struct Step {
  std::unique_ptr<Kernel> kernel;
  std::vector<int> input_slots;   // -1 for omitted inputs
  std::vector<int> output_slots;  // -1 for omitted outputs
  // Before the kernel runs, copy `preload_bytes` from input `preload_input`'s buffer into output 0's
  // (a oneDNN sum post-op reads its addend from the destination). Skipped when the two are one buffer.
  int preload_input = -1;
  size_t preload_bytes = 0;
  // For errors and profiles.
  std::string op_type;
  std::string name;
  std::string shapes;
  // Pointer arrays handed to the kernel, refreshed from the slot table each run.
  std::vector<void*> input_ptrs;
  std::vector<void*> output_ptrs;
};

class Plan {
 public:
  Plan(const dnnl::engine& engine) : stream_(engine) {}

  // Runs every step. `inputs` follow the graph's input order; `outputs` must already hold buffers of
  // the planned dtypes and shapes (see output_descs()).
  absl::Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs, Profiler* profiler);

  const std::vector<TensorDesc>& output_descs() const { return output_descs_; }

  // True when this plan was compiled for inputs of these dtypes and shapes (and, for inputs the plan
  // is specialised on, these values). Allocation-free: called on every run.
  bool Matches(std::span<const Tensor> inputs) const;
  const PlanStats& stats() const { return stats_; }

 private:
  friend class PlanBuilder;

  // Reordered weights and constants, usually the session's store shared with its other plans. First
  // member, so released last: kernels and owned_memory_ point into it.
  std::shared_ptr<SharedConstants> constants_;
  std::vector<Step> steps_;
  std::vector<void*> slots_;
  std::vector<int> input_slots_;   // per graph input (-1 when the input is unused)
  std::vector<int> output_slots_;  // per graph output
  std::vector<TensorDesc> output_descs_;
  std::vector<TensorDesc> input_signature_;
  std::vector<Tensor> specialized_values_;  // per graph input: a copy of its value, or empty
  std::shared_ptr<void> arena_;
  void* scratch_ = nullptr;
  std::deque<Tensor> owned_;                  // values folded at compile time (stable addresses)
  std::vector<dnnl::memory> owned_memory_;    // oneDNN-owned buffers of the same kind
  dnnl::stream stream_;
  PlanStats stats_;
};

}  // namespace peregrine::engine
