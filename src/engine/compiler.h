// Compiles a graph into a Plan for concrete input shapes, and evaluates single nodes at compile time
// (constant folding). See plan.h for what a plan is.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

#include "engine/plan.h"
#include "engine/precision.h"
#include "graph/ir.h"

namespace peregrine::engine {

struct CompileOptions {
  int threads = 1;
  // Evaluate at compile time every node whose inputs are all known (constants, shapes, specialised
  // inputs) instead of emitting a step for it.
  bool fold = true;
  Precision precision = Precision::kFloat32;  // already resolved for this CPU (EffectivePrecision)
};

struct CompileRequest {
  const graph::Graph* graph = nullptr;
  std::span<const Tensor> inputs;  // one per graph input: shapes always used, values only when specialised
  std::vector<bool> specialized;   // per graph input: its value is part of the plan (known at compile time)
  CompileOptions options;
  // Where the plan's reordered constants go: a session's store, shared by its plans. Null: the plan
  // keeps a store of its own.
  std::shared_ptr<SharedConstants> constants;
};

// Builds the plan. When a kernel needs the value of a tensor that depends on graph inputs that are
// not yet specialised, marks them in `*needs_specialization` and returns FailedPrecondition; the
// caller then compiles again with those inputs specialised.
absl::StatusOr<std::unique_ptr<Plan>> Compile(const CompileRequest& request, const dnnl::engine& engine,
                                             std::vector<bool>* needs_specialization);

// Runs one node on known inputs (nullptr entries for omitted inputs) and returns its outputs (empty
// tensors for omitted outputs). Used for constant folding.
absl::StatusOr<std::vector<Tensor>> EvaluateNode(const graph::Node& node, const std::vector<const Tensor*>& inputs,
                                                 int64_t opset, const dnnl::engine& engine);

// The process-wide CPU engine all sessions share.
const dnnl::engine& CpuEngine();

}  // namespace peregrine::engine
