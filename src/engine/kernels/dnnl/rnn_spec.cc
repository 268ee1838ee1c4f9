#include "engine/kernels/dnnl/rnn_spec.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace peregrine::engine::rnn {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

absl::Status ParseDirection(const CompileContext& ctx, Spec& spec) {
  const std::string direction = ctx.node.GetString("direction", "forward");
  if (direction == "forward" || direction == "reverse") {
    spec.dirs = 1;
    spec.reverse = direction == "reverse";
    return absl::OkStatus();
  }
  if (direction == "bidirectional") {
    spec.dirs = 2;
    return absl::OkStatus();
  }
  return ctx.Invalid("direction must be forward, reverse or bidirectional, got '" + direction + "'");
}

// The activations attribute lists the cell's functions once per direction. oneDNN's LSTM and GRU
// cells hard-wire the ONNX defaults; the vanilla RNN cell takes one of Tanh, Relu, Sigmoid.
absl::Status ParseActivations(const CompileContext& ctx, Spec& spec) {
  const std::vector<std::string> given = ctx.node.GetStrings("activations");
  std::vector<std::string> defaults;
  if (spec.cell == Cell::kLstm) defaults = {"sigmoid", "tanh", "tanh"};
  if (spec.cell == Cell::kGru) defaults = {"sigmoid", "tanh"};
  if (spec.cell == Cell::kRnn) defaults = {"tanh"};
  const size_t per_dir = defaults.size();
  if (!given.empty() && given.size() != per_dir * spec.dirs && given.size() != per_dir) {
    return ctx.Invalid("activations must list " + std::to_string(per_dir * spec.dirs) + " functions");
  }
  spec.activations.clear();
  for (int64_t d = 0; d < spec.dirs; ++d) {
    for (size_t k = 0; k < per_dir; ++k) {
      const size_t at = given.size() == per_dir ? k : d * per_dir + k;
      const std::string name = given.empty() ? defaults[k] : Lower(given[at]);
      if (spec.cell != Cell::kRnn) {
        if (name != defaults[k]) return ctx.Unsupported("activation '" + given[at] + "' (only the defaults)");
        continue;
      }
      if (name == "tanh") spec.activations.push_back(dnnl::algorithm::eltwise_tanh);
      else if (name == "relu") spec.activations.push_back(dnnl::algorithm::eltwise_relu);
      else if (name == "sigmoid") spec.activations.push_back(dnnl::algorithm::eltwise_logistic);
      else return ctx.Unsupported("activation '" + given[at] + "' (only Tanh, Relu, Sigmoid)");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAttributes(const CompileContext& ctx, Spec& spec) {
  RETURN_IF_ERROR(ParseDirection(ctx, spec));
  RETURN_IF_ERROR(ParseActivations(ctx, spec));
  const int64_t layout = ctx.node.GetInt("layout", 0);
  if (layout != 0 && layout != 1) return ctx.Invalid("layout must be 0 or 1");
  spec.batch_first = layout == 1;
  if (ctx.node.has("clip")) return ctx.Unsupported("clip");
  if (spec.cell == Cell::kLstm && ctx.node.GetInt("input_forget", 0) != 0) return ctx.Unsupported("input_forget");
  if (spec.cell == Cell::kGru) spec.linear_before_reset = ctx.node.GetInt("linear_before_reset", 0) != 0;
  return absl::OkStatus();
}

// Every floating-point input must be float32 (oneDNN's RNN cells have no other plain variant).
absl::Status CheckTypes(const CompileContext& ctx, const Spec& spec) {
  if (!ctx.has_input(kInputX) || !ctx.has_input(kInputW) || !ctx.has_input(kInputR)) {
    return ctx.Invalid("X, W and R are required");
  }
  const int last = spec.cell == Cell::kLstm ? kInputP : kInputInitialH;
  for (int i = 0; i <= last; ++i) {
    if (i == kInputSeqLens || !ctx.has_input(i)) continue;
    const DataType type = ctx.desc(i).dtype;
    if (type == DataType::kFloat32) continue;
    if (IsFloatingPoint(type)) return ctx.Unsupported(std::string(DataTypeName(type)) + " data");
    return ctx.Invalid("input " + std::to_string(i) + " must be floating point");
  }
  if (ctx.has_input(kInputSeqLens)) {
    const DataType type = ctx.desc(kInputSeqLens).dtype;
    if (type != DataType::kInt32 && type != DataType::kInt64) return ctx.Invalid("sequence_lens must be int32");
  }
  return absl::OkStatus();
}

bool ShapeIs(const CompileContext& ctx, int input, const Shape& expected) {
  return !ctx.has_input(input) || ctx.desc(input).shape == expected;
}

absl::Status CheckShapes(const CompileContext& ctx, Spec& spec) {
  const Shape& x = ctx.desc(kInputX).shape;
  const Shape& r = ctx.desc(kInputR).shape;
  if (x.size() != 3) return ctx.Invalid("X must have rank 3");
  if (r.size() != 3) return ctx.Invalid("R must have rank 3");
  spec.seq = spec.batch_first ? x[1] : x[0];
  spec.batch = spec.batch_first ? x[0] : x[1];
  spec.input = x[2];
  spec.hidden = ctx.node.GetInt("hidden_size", r[2]);
  const int64_t d = spec.dirs, g = spec.gates(), h = spec.hidden;
  if (h <= 0) return ctx.Invalid("hidden_size must be positive");
  if (!ShapeIs(ctx, kInputW, {d, g * h, spec.input})) return ctx.Invalid("W must be [num_directions, gates*hidden, input]");
  if (!ShapeIs(ctx, kInputR, {d, g * h, h})) return ctx.Invalid("R must be [num_directions, gates*hidden, hidden]");
  if (!ShapeIs(ctx, kInputB, {d, 2 * g * h})) return ctx.Invalid("B must be [num_directions, 2*gates*hidden]");
  if (!ShapeIs(ctx, kInputSeqLens, {spec.batch})) return ctx.Invalid("sequence_lens must be [batch]");
  const Shape state = StateShape(spec);
  if (!ShapeIs(ctx, kInputInitialH, state)) return ctx.Invalid("initial_h must be " + ShapeToString(state));
  if (spec.cell == Cell::kLstm) {
    if (!ShapeIs(ctx, kInputInitialC, state)) return ctx.Invalid("initial_c must be " + ShapeToString(state));
    if (!ShapeIs(ctx, kInputP, {d, 3 * h})) return ctx.Invalid("P must be [num_directions, 3*hidden]");
  }
  if (spec.seq == 0 || spec.batch == 0 || spec.input == 0) return ctx.Unsupported("empty X");
  return absl::OkStatus();
}

// Ragged batches (a sequence shorter than T) need per-sequence masking oneDNN does not offer.
absl::Status CheckKnownSeqLens(const CompileContext& ctx, const Spec& spec) {
  if (!ctx.has_input(kInputSeqLens) || !ctx.inputs[kInputSeqLens].is_known()) return absl::OkStatus();
  for (int64_t len : ctx.inputs[kInputSeqLens].value->ToInt64Vector()) {
    if (len == spec.seq) continue;
    if (len < 0 || len > spec.seq) return ctx.Invalid("sequence_lens values must lie in [0, seq_length]");
    return ctx.Unsupported("sequence_lens shorter than seq_length");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Spec> ParseSpec(const CompileContext& ctx, Cell cell) {
  Spec spec;
  spec.cell = cell;
  RETURN_IF_ERROR(ParseAttributes(ctx, spec));
  RETURN_IF_ERROR(CheckTypes(ctx, spec));
  RETURN_IF_ERROR(CheckShapes(ctx, spec));
  RETURN_IF_ERROR(CheckKnownSeqLens(ctx, spec));
  return spec;
}

Shape OutputYShape(const Spec& spec) {
  if (spec.batch_first) return {spec.batch, spec.seq, spec.dirs, spec.hidden};
  return {spec.seq, spec.dirs, spec.batch, spec.hidden};
}

Shape StateShape(const Spec& spec) {
  if (spec.batch_first) return {spec.batch, spec.dirs, spec.hidden};
  return {spec.dirs, spec.batch, spec.hidden};
}

}  // namespace peregrine::engine::rnn
