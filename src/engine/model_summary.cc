#include "engine/model_summary.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/kernel_registry.h"
#include "onnx/loader.h"

namespace peregrine::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Shapes for the FLOPs estimate.

using DimSizes = std::map<std::string, int64_t>;

// Concrete shape of a value as inferred by ONNX, symbols replaced by their sizes; nullopt when any
// dimension (or the rank) is unknown.
std::optional<Shape> Resolve(const graph::Value* v, const DimSizes& dims) {
  if (v == nullptr) return std::nullopt;
  if (v->is_constant()) return v->constant->shape();
  if (!v->shape) return std::nullopt;
  Shape shape;
  for (const graph::Dim& d : *v->shape) {
    if (d.known()) {
      shape.push_back(d.size);
      continue;
    }
    auto it = dims.find(d.symbol);
    if (d.symbol.empty() || it == dims.end()) return std::nullopt;
    shape.push_back(it->second);
  }
  return shape;
}

// Element count as a double: estimates must not overflow on absurd shapes.
double Elements(const Shape& shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(d);
  return n;
}

struct FlopsInputs {
  const graph::Node& node;
  const DimSizes& dims;
  std::optional<Shape> in(size_t i) const { return Resolve(node.input(i), dims); }
  std::optional<Shape> out(size_t i) const { return Resolve(node.output(i), dims); }
  bool has_input(size_t i) const { return node.input(i) != nullptr; }
};

using FlopsRule = std::optional<double> (*)(const FlopsInputs& n);

// Conv: 2 * |Y| * Cin/group * prod(kernel), i.e. every output element is a dot product over one
// weight filter (|W| / Cout elements); plus one add per output element for the bias.
std::optional<double> ConvFlops(const FlopsInputs& n) {
  auto y = n.out(0);
  auto w = n.in(1);
  if (!y || !w || w->empty() || (*w)[0] == 0) return std::nullopt;
  const double per_output = Elements(*w) / static_cast<double>((*w)[0]);
  return 2 * Elements(*y) * per_output + (n.has_input(2) ? Elements(*y) : 0);
}

// ConvTranspose: every input element is scattered through one weight slice of |W| / Cin elements.
std::optional<double> ConvTransposeFlops(const FlopsInputs& n) {
  auto x = n.in(0);
  auto w = n.in(1);
  if (!x || !w || w->empty() || (*w)[0] == 0) return std::nullopt;
  double flops = 2 * Elements(*x) * Elements(*w) / static_cast<double>((*w)[0]);
  if (n.has_input(2)) {
    auto y = n.out(0);
    if (!y) return std::nullopt;
    flops += Elements(*y);
  }
  return flops;
}

// Gemm: Y[M, N] = A[M, K] * B[K, N] (+ C): 2*M*N*K, plus M*N for C.
std::optional<double> GemmFlops(const FlopsInputs& n) {
  auto a = n.in(0);
  auto y = n.out(0);
  if (!a || !y || a->size() != 2) return std::nullopt;
  const int64_t k = n.node.GetInt("transA", 0) ? (*a)[0] : (*a)[1];
  return 2 * Elements(*y) * static_cast<double>(k) + (n.has_input(2) ? Elements(*y) : 0);
}

// MatMul (with broadcasting batch dims): 2 * |Y| * K, K the last dimension of A.
std::optional<double> MatMulFlops(const FlopsInputs& n) {
  auto a = n.in(0);
  auto y = n.out(0);
  if (!a || !y || a->empty()) return std::nullopt;
  return 2 * Elements(*y) * static_cast<double>(a->back());
}

// LSTM/GRU/RNN: per time step and direction, the gate pre-activations X*W^T + H*R^T (2*B*G*H*(I+H)),
// both biases (2*B*G*H), and the elementwise gate and state updates (about `pointwise`*B*H).
std::optional<double> RecurrentFlops(const FlopsInputs& n, int gates, int pointwise) {
  auto x = n.in(0);
  auto w = n.in(1);
  if (!x || !w || x->size() != 3 || w->size() != 3 || gates <= 0) return std::nullopt;
  const bool batch_first = n.node.GetInt("layout", 0) == 1;
  const double seq = static_cast<double>(batch_first ? (*x)[1] : (*x)[0]);
  const double batch = static_cast<double>(batch_first ? (*x)[0] : (*x)[1]);
  const double dirs = static_cast<double>((*w)[0]);
  const double input = static_cast<double>((*w)[2]);
  const double hidden = static_cast<double>((*w)[1]) / gates;
  const double per_step = 2 * batch * gates * hidden * (input + hidden) +
                          (n.has_input(3) ? 2 * batch * gates * hidden : 0) + pointwise * batch * hidden;
  return seq * dirs * per_step;
}
std::optional<double> LstmFlops(const FlopsInputs& n) { return RecurrentFlops(n, 4, 8); }
std::optional<double> GruFlops(const FlopsInputs& n) { return RecurrentFlops(n, 3, 7); }
std::optional<double> RnnFlops(const FlopsInputs& n) { return RecurrentFlops(n, 1, 1); }

// Windowed pooling: one operation per window element per output element.
std::optional<double> PoolFlops(const FlopsInputs& n) {
  auto y = n.out(0);
  if (!y) return std::nullopt;
  double window = 1;
  for (int64_t k : n.node.GetInts("kernel_shape")) window *= static_cast<double>(k);
  return Elements(*y) * window;
}

// Global pooling and reductions: one operation per input element.
std::optional<double> InputElementsFlops(const FlopsInputs& n) {
  auto x = n.in(0);
  if (!x) return std::nullopt;
  return Elements(*x);
}

// Elementwise ops, activations, normalisation and softmax: one operation per output element.
std::optional<double> OutputElementsFlops(const FlopsInputs& n) {
  auto y = n.out(0);
  if (!y) return std::nullopt;
  return Elements(*y);
}

// Ops without a rule (data movement: Reshape, Transpose, Concat, Gather, Slice, Cast, ...) count zero.
FlopsRule RuleFor(const std::string& op) {
  static const std::map<std::string, FlopsRule> kRules = [] {
    std::map<std::string, FlopsRule> rules = {
        {"Conv", ConvFlops},         {"ConvTranspose", ConvTransposeFlops}, {"Gemm", GemmFlops},
        {"MatMul", MatMulFlops},     {"MatMulInteger", MatMulFlops},         {"LSTM", LstmFlops},
        {"GRU", GruFlops},           {"RNN", RnnFlops},                      {"MaxPool", PoolFlops},
        {"AveragePool", PoolFlops},  {"LpPool", PoolFlops},
    };
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ReduceMean", "ReduceSum", "ReduceMax",
                           "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                           "ReduceSumSquare", "ArgMax", "ArgMin"}) {
      rules[op] = InputElementsFlops;
    }
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "Relu", "LeakyRelu",
                           "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal",
                           "Neg", "Abs", "Erf", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Clip", "Gelu", "Mish",
                           "ThresholdedRelu", "Sin", "Cos", "Tan", "Floor", "Ceil", "Round", "Sign", "Equal", "Less",
                           "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Where", "CumSum",
                           "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LpNormalization",
                           "LRN", "Softmax", "LogSoftmax", "Hardmax"}) {
      rules[op] = OutputElementsFlops;
    }
    return rules;
  }();
  auto it = kRules.find(op);
  return it == kRules.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------------------------
// The parts of the summary.

TensorSummary SummaryOf(const graph::Value& v) { return TensorSummary{v.name, v.dtype, v.shape}; }

std::map<std::string, int> CountOps(const graph::Graph& graph) {
  std::map<std::string, int> counts;
  for (const auto& node : graph.nodes()) ++counts[node->op_type];
  return counts;
}

// Every symbolic input dimension gets the size the caller asked for, or the default.
DimSizes InputDims(const graph::Graph& graph, const ModelSummaryOptions& options) {
  DimSizes used;
  for (const graph::Value* v : graph.inputs) {
    if (!v->shape) continue;
    for (const graph::Dim& d : *v->shape) {
      if (d.known() || d.symbol.empty()) continue;
      auto it = options.dims.find(d.symbol);
      used[d.symbol] = it != options.dims.end() ? it->second : options.default_dim;
    }
  }
  return used;
}

void CountParameters(const graph::Graph& graph, ModelSummary& summary) {
  for (const auto& value : graph.values()) {
    if (!value->is_constant() || value->producer != nullptr) continue;
    ++summary.initializers;
    summary.parameters += value->constant->num_elements();
    summary.parameter_bytes += static_cast<int64_t>(value->constant->byte_size());
  }
}

// Zero-filled inputs with the sizes of `dims` (anonymous unknown dims get the default size).
absl::StatusOr<std::vector<Tensor>> ZeroInputs(const graph::Graph& graph, const DimSizes& dims,
                                               const ModelSummaryOptions& options) {
  std::vector<Tensor> inputs;
  for (const graph::Value* v : graph.inputs) {
    if (!v->shape) return absl::InvalidArgumentError(absl::StrCat("input '", v->name, "' has an unknown rank"));
    if (v->dtype == DataType::kUndefined) return absl::InvalidArgumentError(absl::StrCat("input '", v->name, "' has no element type"));
    Shape shape;
    for (const graph::Dim& d : *v->shape) {
      auto it = dims.find(d.symbol);
      shape.push_back(d.known() ? d.size : (it != dims.end() ? it->second : options.default_dim));
    }
    if (Elements(shape) > static_cast<double>(options.max_input_elements)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", v->name, "' would have shape ", ShapeToString(shape),
                                                     ", more than ", options.max_input_elements, " elements"));
    }
    inputs.push_back(Tensor::Zeros(v->dtype, shape));
  }
  return inputs;
}

void FindUnsupported(const graph::Graph& graph, ModelSummary& summary) {
  const KernelRegistry& registry = KernelRegistry::Global();
  for (const auto& node : graph.nodes()) {
    if (!registry.Supports(node->op_type)) summary.unsupported.push_back(UnsupportedOp{node->op_type, node->name});
  }
}

void CompilePlan(std::unique_ptr<graph::Graph> graph, const ModelSummaryOptions& options, ModelSummary& summary) {
  auto inputs = ZeroInputs(*graph, summary.dims_used, options);
  if (!inputs.ok()) {
    summary.compile_error = std::string(inputs.status().message());
    return;
  }
  SessionOptions session_options;
  session_options.threads = options.threads;
  session_options.precision = options.precision;
  session_options.optimize = false;  // already optimised, so the counts above describe what runs
  auto session = Session::Create(std::move(graph), session_options);
  absl::Status status = session.ok() ? (*session)->Prepare(*inputs) : session.status();
  if (!status.ok()) {
    summary.compile_error = std::string(status.message());
    return;
  }
  summary.compiled = true;
  summary.plan = (*session)->last_plan_stats();
  summary.constant_bytes = (*session)->constant_bytes();
}

}  // namespace

FlopsEstimate EstimateFlops(const graph::Graph& graph, const std::map<std::string, int64_t>& dims, int64_t default_dim) {
  // Symbols of the inputs not given explicitly take the default; symbols ONNX invented for
  // intermediate values (e.g. "unk__3") stay unknown.
  DimSizes sizes = dims;
  ModelSummaryOptions options;
  options.dims = dims;
  options.default_dim = default_dim;
  for (const auto& [symbol, size] : InputDims(graph, options)) sizes.emplace(symbol, size);

  FlopsEstimate estimate;
  for (const auto& node : graph.nodes()) {
    FlopsRule rule = RuleFor(node->op_type);
    if (rule == nullptr) continue;
    std::optional<double> flops = rule(FlopsInputs{*node, sizes});
    if (!flops) {
      ++estimate.nodes_unknown;
      continue;
    }
    ++estimate.nodes_estimated;
    estimate.total += *flops;
    estimate.by_op[node->op_type] += *flops;
  }
  return estimate;
}

absl::StatusOr<ModelSummary> SummarizeModel(std::unique_ptr<graph::Graph> graph, const ModelSummaryOptions& options) {
  if (graph == nullptr) return absl::InvalidArgumentError("no graph");
  ModelSummary summary;
  summary.name = graph->name;
  summary.opset = graph->opset;
  for (const graph::Value* v : graph->inputs) summary.inputs.push_back(SummaryOf(*v));
  for (const graph::Value* v : graph->outputs) summary.outputs.push_back(SummaryOf(*v));
  summary.dims_used = InputDims(*graph, options);
  summary.ops_in_file = CountOps(*graph);
  summary.nodes_in_file = static_cast<int>(graph->nodes().size());
  CountParameters(*graph, summary);
  summary.flops = EstimateFlops(*graph, options.dims, options.default_dim);

  auto optimized = Optimize(*graph);
  if (optimized.ok()) {
    summary.optimize = *optimized;
  } else {
    summary.optimize_error = std::string(optimized.status().message());
  }
  summary.ops_optimized = CountOps(*graph);
  summary.nodes_optimized = static_cast<int>(graph->nodes().size());
  FindUnsupported(*graph, summary);
  if (options.compile) {
    CompilePlan(std::move(graph), options, summary);
  } else {
    summary.compile_error = "not compiled";
  }
  return summary;
}

absl::StatusOr<ModelSummary> SummarizeModelFile(const std::string& path, const ModelSummaryOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<graph::Graph> graph, onnx_import::LoadModel(path));
  return SummarizeModel(std::move(graph), options);
}

namespace {
// ---------------------------------------------------------------------------------------------
// JSON output. Names come from model files, so every string is escaped.

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Integral doubles print without a fraction; FLOPs of real models stay far below 2^53.
std::string Number(double v) { return absl::StrFormat("%.0f", v); }

// ONNX shape inference names the dimensions it cannot compute "unk__<n>"; they mean "unknown".
std::string SymbolName(const graph::Dim& d) { return d.symbol.empty() || d.symbol.rfind("unk__", 0) == 0 ? "?" : d.symbol; }

std::string ShapeJson(const std::optional<std::vector<graph::Dim>>& shape) {
  if (!shape) return "null";
  std::vector<std::string> parts;
  for (const graph::Dim& d : *shape) parts.push_back(d.known() ? std::to_string(d.size) : Quote(SymbolName(d)));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string TensorsJson(const std::vector<TensorSummary>& tensors) {
  std::vector<std::string> parts;
  for (const TensorSummary& t : tensors) {
    parts.push_back(absl::StrCat("{\"name\":", Quote(t.name), ",\"dtype\":", Quote(std::string(DataTypeName(t.dtype))),
                                 ",\"shape\":", ShapeJson(t.shape), "}"));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

template <typename Map, typename Format>
std::string MapJson(const Map& map, Format format) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : map) parts.push_back(absl::StrCat(Quote(key), ":", format(value)));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string IntJson(int64_t v) { return std::to_string(v); }

std::string OptimizeJson(const ModelSummary& s) {
  const graph::PassStats& p = s.optimize.passes;
  return absl::StrCat("{\"constants_folded\":", s.optimize.constants_folded, ",\"identities_removed\":", p.identities_removed,
                      ",\"batchnorms_folded\":", p.batchnorms_folded, ",\"adds_fused\":", p.adds_fused,
                      ",\"activations_fused\":", p.activations_fused, ",\"error\":", Quote(s.optimize_error), "}");
}

std::string PlanJson(const ModelSummary& s) {
  return absl::StrCat("{\"compiled\":", s.compiled ? "true" : "false", ",\"error\":", Quote(s.compile_error),
                      ",\"steps\":", s.plan.steps, ",\"arena_bytes\":", s.plan.arena_bytes,
                      ",\"scratch_bytes\":", s.plan.scratch_bytes, ",\"reorders\":", s.plan.reorders,
                      ",\"bf16_steps\":", s.plan.bf16_steps,
                      ",\"constant_bytes\":", s.constant_bytes, "}");
}

}  // namespace

std::string ModelSummaryToJson(const ModelSummary& s) {
  std::vector<std::string> unsupported;
  for (const UnsupportedOp& op : s.unsupported) {
    unsupported.push_back(absl::StrCat("{\"op_type\":", Quote(op.op_type), ",\"node\":", Quote(op.node_name), "}"));
  }
  return absl::StrCat(
      "{\"name\":", Quote(s.name), ",\"opset\":", s.opset, ",\"inputs\":", TensorsJson(s.inputs),
      ",\"outputs\":", TensorsJson(s.outputs), ",\"dims\":", MapJson(s.dims_used, IntJson),
      ",\"nodes_in_file\":", s.nodes_in_file, ",\"ops_in_file\":", MapJson(s.ops_in_file, IntJson),
      ",\"nodes_optimized\":", s.nodes_optimized, ",\"ops_optimized\":", MapJson(s.ops_optimized, IntJson),
      ",\"optimize\":", OptimizeJson(s), ",\"initializers\":", s.initializers, ",\"parameters\":", s.parameters,
      ",\"parameter_bytes\":", s.parameter_bytes, ",\"flops\":{\"total\":", Number(s.flops.total),
      ",\"by_op\":", MapJson(s.flops.by_op, Number), ",\"nodes_estimated\":", s.flops.nodes_estimated,
      ",\"nodes_unknown\":", s.flops.nodes_unknown, "},\"unsupported\":[", absl::StrJoin(unsupported, ","),
      "],\"plan\":", PlanJson(s), "}");
}

std::string DimsToString(const std::optional<std::vector<graph::Dim>>& shape) {
  if (!shape) return "unknown";
  std::vector<std::string> parts;
  for (const graph::Dim& d : *shape) {
    parts.push_back(d.known() ? std::to_string(d.size) : SymbolName(d));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

}  // namespace peregrine::engine
