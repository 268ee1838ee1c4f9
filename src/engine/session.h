// Session: a loaded, optimized model ready to run. The entry point of the engine.
//
// Create() loads and optimizes the graph once. The first Run() for a new combination of input shapes
// compiles a Plan for those shapes (oneDNN primitives, reordered weights, memory arena) and caches it;
// later runs with the same shapes execute the cached plan without allocating.
//
// Thread-safety: a Session runs one request at a time (Run is not reentrant); use one Session per
// worker thread. The intra-op thread count applies to the thread calling Run.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/precision.h"
#include "graph/ir.h"
#include "tensor/tensor.h"

namespace peregrine::engine {

class Plan;
class SharedConstants;
struct Profiler;

struct SessionOptions {
  int threads = 1;                  // intra-op threads; <= 0 means all cores
  bool optimize = true;             // run graph passes (folding, fusion); off for debugging
  size_t max_cached_plans = 16;     // least recently used plans beyond this are dropped (kept while profiling)
  bool profile = false;             // record per-step timings (see WriteProfile)
  // Arithmetic precision (see precision.h). Resolved at creation like `threads`: bf16 becomes fp32
  // where the CPU has no native bfloat16, and options() reports what the session runs with.
  Precision precision = Precision::kFloat32;
  // Where the plans keep their reordered weights (shared_constants.h). Sessions given one store hold
  // one copy of each weight between them. Null: the session makes a store of its own (Fork passes
  // the parent's).
  std::shared_ptr<SharedConstants> constants;
};

// Name, dtype and declared shape (-1 for symbolic/unknown dims) of a model input or output.
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;           // -1 for unknown
  std::vector<std::string> dim_names;   // symbolic names ("batch") or "" per dim
};

struct PlanStats {
  size_t steps = 0;
  size_t arena_bytes = 0;
  size_t scratch_bytes = 0;
  size_t reorders = 0;
  size_t bf16_steps = 0;  // steps computing in bfloat16 (Precision::kBfloat16)
};

class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(const std::string& model_path, const SessionOptions& options);
  static absl::StatusOr<std::unique_ptr<Session>> Create(std::unique_ptr<graph::Graph> graph, const SessionOptions& options);
  ~Session();

  // Another session over this one's graph - as loaded and optimised, never changed afterwards - with
  // plans of its own and `options` (options.optimize is ignored: the graph is already in its final
  // form; without options.constants it shares this session's store). A server's instances and a text
  // generator's step sessions fork from a model version's first session, so the model is parsed,
  // folded and held once. The sessions may then run on different threads.
  std::unique_ptr<Session> Fork(const SessionOptions& options) const;

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  const graph::Graph& graph() const { return *graph_; }
  const SessionOptions& options() const { return options_; }

  // Runs the model. `inputs` are in inputs() order. For each output: if the caller passes a tensor
  // with data of the right dtype and shape, the result is written into it (no allocation; a step
  // model can pass last step's state outputs back as inputs with no copy); otherwise it is replaced
  // by a newly allocated tensor. InvalidArgument naming the input for a wrong count, dtype or shape.
  absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs);

  // Convenience: inputs by name, fresh outputs.
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<std::pair<std::string, Tensor>>& named_inputs);

  // Compiles (or finds) the plan for these input shapes without running it; used for warm-up.
  absl::Status Prepare(std::span<const Tensor> inputs);

  // Statistics of the plan used by the last Run/Prepare (zeros before the first).
  PlanStats last_plan_stats() const;
  // Bytes of reordered weights and constants held for all the plans compiled so far, each distinct
  // block once (shared_constants.h).
  size_t constant_bytes() const;

  // With SessionOptions::profile: writes the recorded steps as Chrome trace-event JSON.
  absl::Status WriteProfile(const std::string& path) const;

 private:
  Session(std::shared_ptr<const graph::Graph> graph, SessionOptions options);
  absl::StatusOr<Plan*> PlanFor(std::span<const Tensor> inputs);
  absl::Status CheckInputs(std::span<const Tensor> inputs) const;

  std::shared_ptr<const graph::Graph> graph_;  // shared with forks
  SessionOptions options_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  std::shared_ptr<SharedConstants> constants_;  // shared by the plans
  struct PlanCache;
  std::unique_ptr<PlanCache> plans_;
  Plan* last_plan_ = nullptr;
  std::unique_ptr<Profiler> profiler_;
};

}  // namespace peregrine::engine
