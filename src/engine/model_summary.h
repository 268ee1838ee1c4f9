// What a model is and what the engine makes of it: the data behind `peregrine inspect`.
//
// SummarizeModel() looks at a loaded graph three times: as loaded from the ONNX file (inputs,
// outputs, op counts, parameters, a FLOPs estimate), after engine::Optimize (op counts, folds and
// fusions), and as a compiled plan for one set of input shapes (arena, scratch, steps, reorders).
// A model the engine cannot run still gets a summary: unsupported ops and the compile error are part
// of it, not a failure of the call.
//
// FLOPs are estimated from the value shapes ONNX shape inference gave the loaded graph, with every
// symbolic dimension that names an input dimension replaced by its size (ModelSummaryOptions::dims,
// default_dim otherwise). Nodes whose shapes stay unknown (data-dependent shapes) are counted in
// FlopsEstimate::nodes_unknown rather than guessed. One multiply-add counts as two FLOPs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/optimize.h"
#include "engine/session.h"
#include "graph/ir.h"

namespace peregrine::engine {

struct ModelSummaryOptions {
  std::map<std::string, int64_t> dims;  // sizes of symbolic dimensions, e.g. {"batch", 8}
  int64_t default_dim = 1;              // size of every symbolic or unknown input dimension not in `dims`
  int threads = 1;                      // intra-op threads of the plan that is compiled
  Precision precision = Precision::kFloat32;  // asked for; plan.bf16_steps shows what it got
  bool compile = true;                  // compile a plan (off: only what the graph itself says)
  // Inputs larger than this are not allocated: the plan is not compiled and compile_error says why.
  int64_t max_input_elements = int64_t{1} << 28;
};

// A model input or output as declared; `shape` is nullopt when even the rank is unknown.
struct TensorSummary {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::optional<std::vector<graph::Dim>> shape;
};

struct FlopsEstimate {
  double total = 0;
  std::map<std::string, double> by_op;  // op type -> FLOPs of all its nodes
  int nodes_estimated = 0;              // nodes with a FLOPs rule and known shapes
  int nodes_unknown = 0;                // nodes with a FLOPs rule whose shapes are not known
};

struct UnsupportedOp {
  std::string op_type;
  std::string node_name;
};

struct ModelSummary {
  std::string name;
  int64_t opset = 0;
  std::vector<TensorSummary> inputs;
  std::vector<TensorSummary> outputs;
  std::map<std::string, int64_t> dims_used;  // every symbolic input dimension -> size used for FLOPs and the plan

  std::map<std::string, int> ops_in_file;    // op type -> node count as loaded
  std::map<std::string, int> ops_optimized;  // op type -> node count after Optimize
  int nodes_in_file = 0;
  int nodes_optimized = 0;
  OptimizeStats optimize;
  std::string optimize_error;  // set when Optimize failed (the counts then describe the loaded graph)

  int64_t initializers = 0;
  int64_t parameters = 0;  // elements of all initializers
  int64_t parameter_bytes = 0;
  FlopsEstimate flops;

  std::vector<UnsupportedOp> unsupported;  // nodes of the optimised graph with no registered kernel
  bool compiled = false;
  std::string compile_error;  // why no plan was compiled, when compiled is false
  PlanStats plan;
  size_t constant_bytes = 0;  // weights and constants the plan keeps in oneDNN layouts (shared_constants.h)
};

// Summarises `graph` (consumed: it is optimised and compiled). Errors only for a null graph.
absl::StatusOr<ModelSummary> SummarizeModel(std::unique_ptr<graph::Graph> graph, const ModelSummaryOptions& options);

// Loads the ONNX file, then SummarizeModel. Load errors (not a model, unsupported opset) are returned.
absl::StatusOr<ModelSummary> SummarizeModelFile(const std::string& path, const ModelSummaryOptions& options);

// The FLOPs estimate alone, for a graph as loaded (before optimisation); see the header comment.
FlopsEstimate EstimateFlops(const graph::Graph& graph, const std::map<std::string, int64_t>& dims, int64_t default_dim);

// The summary as one JSON object (keys as the struct's fields; shapes as arrays of ints and symbol strings).
std::string ModelSummaryToJson(const ModelSummary& summary);

// "[batch, 3, 224, 224]"; "?" for an unknown dimension (anonymous, or named "unk__<n>" by ONNX shape
// inference); "unknown" for an unknown rank. JSON shapes follow the same rules.
std::string DimsToString(const std::optional<std::vector<graph::Dim>>& shape);

}  // namespace peregrine::engine
