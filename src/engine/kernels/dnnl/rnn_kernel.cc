#include "engine/kernels/dnnl/rnn_kernel.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/dnnl/dnnl_util.h"
#include "engine/kernels/dnnl/rnn_weights.h"

namespace peregrine::engine::rnn {
namespace {

using dnnl::memory;
using Dims = memory::dims;
constexpr size_t kMaxArgs = 12;
constexpr size_t kF = sizeof(float);

// Where a per-run primitive argument lives: byte `offset` into an input (constant inputs too: the
// plan hands their buffers to Run like any other), an output, or the step's scratch.
struct ArgRef {
  enum class Source { kInput, kOutput, kScratch };
  Source source = Source::kScratch;
  int index = 0;
  size_t offset = 0;
};

// Weights fed as graph inputs, converted into scratch before the direction's primitive runs.
struct Conversion {
  enum class Kind { kLayerWeights, kIterWeights, kBias, kPeephole };
  Kind kind;
  int input;
  size_t src_offset;  // bytes: this direction's slice of the input
  size_t scratch_offset;
};

// PrimitiveRunner::Run takes an initializer list, while the number of per-run arguments varies by
// node: kRunWith[n] passes the first n pointers of an array.
using RunFn = absl::Status (*)(dnnl_util::PrimitiveRunner&, dnnl::stream&, const void* const*);

template <size_t... I>
absl::Status RunIndexed(dnnl_util::PrimitiveRunner& r, dnnl::stream& s, const void* const* p, std::index_sequence<I...>) {
  return r.Run(s, {p[I]...});
}
template <size_t N>
absl::Status RunN(dnnl_util::PrimitiveRunner& r, dnnl::stream& s, const void* const* p) {
  return RunIndexed(r, s, p, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<RunFn, sizeof...(N)> MakeRunTable(std::index_sequence<N...>) {
  return {&RunN<N>...};
}
constexpr auto kRunWith = MakeRunTable(std::make_index_sequence<kMaxArgs + 1>{});

struct DirectionStep {
  dnnl_util::PrimitiveRunner runner;
  std::vector<ArgRef> args;  // one per Bind(), in order
  std::vector<Conversion> conversions;
};

class RnnKernel final : public Kernel {
 public:
  RnnKernel(Spec spec, std::string name) : spec_(std::move(spec)), name_(std::move(name)) {}

  absl::Status Run(const RunContext& ctx) override {
    RETURN_IF_ERROR(CheckSeqLens(ctx));
    for (DirectionStep& step : steps_) {
      for (const Conversion& c : step.conversions) Convert(c, ctx);
      std::array<const void*, kMaxArgs> ptrs{};
      for (size_t k = 0; k < step.args.size(); ++k) {
        ptrs[k] = Resolve(step.args[k], ctx);
        if (ptrs[k] == nullptr) return absl::InternalError(name_ + ": missing buffer");
      }
      RETURN_IF_ERROR(kRunWith[step.args.size()](step.runner, ctx.stream(), ptrs.data()));
    }
    return absl::OkStatus();
  }

  void AddStep(DirectionStep step) { steps_.push_back(std::move(step)); }
  // sequence_lens is a runtime input (int64 when `int64`, else int32) to check on every run.
  void CheckSeqLensAtRun(bool int64) {
    check_seq_lens_ = true;
    seq_lens_int64_ = int64;
  }

 private:
  const void* Resolve(const ArgRef& ref, const RunContext& ctx) const {
    const void* base = nullptr;
    switch (ref.source) {
      case ArgRef::Source::kInput: base = ctx.input(ref.index); break;
      case ArgRef::Source::kOutput: base = ctx.output(ref.index); break;
      case ArgRef::Source::kScratch: base = ctx.scratch(); break;
    }
    return base == nullptr ? nullptr : static_cast<const char*>(base) + ref.offset;
  }

  void Convert(const Conversion& c, const RunContext& ctx) const {
    const float* src = reinterpret_cast<const float*>(ctx.input_as<char>(c.input) + c.src_offset);
    float* dst = reinterpret_cast<float*>(static_cast<char*>(ctx.scratch()) + c.scratch_offset);
    switch (c.kind) {
      case Conversion::Kind::kLayerWeights: ConvertWeights(spec_, src, spec_.input, dst); break;
      case Conversion::Kind::kIterWeights: ConvertWeights(spec_, src, spec_.hidden, dst); break;
      case Conversion::Kind::kBias: ConvertBias(spec_, src, dst); break;
      case Conversion::Kind::kPeephole: ConvertPeephole(spec_, src, dst); break;
    }
  }

  // Ragged batches are not supported; sequence_lens known at compile time were checked then.
  absl::Status CheckSeqLens(const RunContext& ctx) const {
    if (!check_seq_lens_) return absl::OkStatus();
    const void* lens = ctx.input(kInputSeqLens);
    if (lens == nullptr) return absl::InternalError(name_ + ": missing sequence_lens buffer");
    for (int64_t n = 0; n < spec_.batch; ++n) {
      const int64_t len = seq_lens_int64_ ? static_cast<const int64_t*>(lens)[n] : static_cast<const int32_t*>(lens)[n];
      if (len != spec_.seq) return absl::UnimplementedError(name_ + ": sequence_lens differing from seq_length");
    }
    return absl::OkStatus();
  }

  Spec spec_;
  std::string name_;
  std::vector<DirectionStep> steps_;
  bool check_seq_lens_ = false;
  bool seq_lens_int64_ = false;
};

// One primitive argument as planned: its descriptor (format any for weights the primitive may lay
// out) and either a compile-time value (bound fixed) or where its buffer lives at run time.
struct Slot {
  int arg = 0;
  memory::desc md;
  Tensor constant;
  ArgRef ref;
};

class Builder {
 public:
  // `act` is the type of X, Y and the hidden state (f32, or bf16 with constant weights: then the
  // weights are bf16 too, while the cell state and the bias stay f32).
  Builder(const CompileContext& ctx, const Spec& spec, RnnKernel& kernel, memory::data_type act)
      : ctx_(ctx), spec_(spec), kernel_(kernel), act_(act) {}

  // Lays out scratch, then builds one primitive per direction. Returns the scratch bytes needed.
  absl::StatusOr<size_t> Build() {
    ReserveScratch();
    size_t scratchpad = 0;
    for (int64_t d = 0; d < spec_.dirs; ++d) {
      ASSIGN_OR_RETURN(size_t bytes, BuildDirection(d));
      scratchpad = std::max(scratchpad, bytes);
    }
    return scratchpad_offset_ + scratchpad;
  }

 private:
  static constexpr size_t kNone = ~size_t{0};

  bool Known(int input) const { return ctx_.has_input(input) && ctx_.inputs[input].is_known(); }
  bool HasOutput(int output) const { return ctx_.node.output(output) != nullptr; }
  bool Lstm() const { return spec_.cell == Cell::kLstm; }
  bool HasH0() const { return ctx_.has_input(kInputInitialH); }
  bool HasC0() const { return Lstm() && ctx_.has_input(kInputInitialC); }
  bool HasYH() const { return HasOutput(kOutputYH); }
  bool HasYC() const { return Lstm() && HasOutput(kOutputYC); }

  size_t Reserve(int64_t floats) {
    const size_t at = scratch_end_;
    scratch_end_ = (scratch_end_ + static_cast<size_t>(floats) * kF + 63) / 64 * 64;
    return at;
  }

  // Scratch: converted runtime weights, stand-ins for omitted outputs, then oneDNN's scratchpad
  // (shared by the directions, which run one after the other).
  void ReserveScratch() {
    if (!Known(kInputW)) layer_weights_ = Reserve(LayerWeightsSize(spec_));
    if (!Known(kInputR)) iter_weights_ = Reserve(IterWeightsSize(spec_));
    if (ctx_.has_input(kInputB) && !Known(kInputB)) bias_ = Reserve(BiasSize(spec_));
    if (Lstm() && ctx_.has_input(kInputP) && !Known(kInputP)) peephole_ = Reserve(PeepholeSize(spec_));
    if (!HasOutput(kOutputY)) y_tmp_ = Reserve(spec_.seq * spec_.batch * spec_.hidden);
    if (HasYC() && !HasYH()) h_tmp_ = Reserve(spec_.batch * spec_.hidden);
    if (HasYH() && Lstm() && !HasYC()) c_tmp_ = Reserve(spec_.batch * spec_.hidden);
    scratchpad_offset_ = scratch_end_;
  }

  static size_t Bytes(memory::data_type type) { return type == memory::data_type::bf16 ? 2 : kF; }
  // The hidden state's type (act_), or the LSTM cell state's (always f32).
  memory::data_type StateType(int arg) const {
    return arg == DNNL_ARG_SRC_ITER_C || arg == DNNL_ARG_DST_ITER_C ? memory::data_type::f32 : act_;
  }

  // X as oneDNN's [T, N, I] (tnc), whichever ONNX layout it has.
  memory::desc XDesc() const {
    const int64_t t = spec_.seq, n = spec_.batch, i = spec_.input;
    const Dims strides = spec_.batch_first ? Dims{i, t * i, 1} : Dims{n * i, i, 1};
    return memory::desc({t, n, i}, act_, strides);
  }
  // One direction of an ONNX state tensor ([D, N, H] or [N, D, H]) as oneDNN's [1, 1, N, H].
  memory::desc StateView(memory::data_type type) const {
    const int64_t d = spec_.dirs, n = spec_.batch, h = spec_.hidden;
    const Dims strides = spec_.batch_first ? Dims{d * n * h, h, d * h, 1} : Dims{d * n * h, n * h, h, 1};
    return memory::desc({1, 1, n, h}, type, strides);
  }
  size_t StateOffset(int64_t dir, memory::data_type type) const {
    return static_cast<size_t>(spec_.batch_first ? dir * spec_.hidden : dir * spec_.batch * spec_.hidden) * Bytes(type);
  }
  // One direction of ONNX Y ([T, D, N, H] or [N, T, D, H]) as oneDNN's [T, N, H].
  memory::desc YView() const {
    const int64_t t = spec_.seq, d = spec_.dirs, n = spec_.batch, h = spec_.hidden;
    const Dims strides = spec_.batch_first ? Dims{d * h, t * d * h, 1} : Dims{d * n * h, h, 1};
    return memory::desc({t, n, h}, act_, strides);
  }
  size_t YOffset(int64_t dir) const { return StateOffset(dir, act_); }
  memory::desc DenseState(memory::data_type type) const {
    return memory::desc({1, 1, spec_.batch, spec_.hidden}, type, memory::format_tag::ldnc);
  }
  memory::desc Ldigo(int64_t channels, memory::data_type type, memory::format_tag tag) const {
    return memory::desc({1, 1, channels, spec_.gates(), spec_.hidden}, type, tag);
  }
  memory::desc Ldgo(int64_t gates) const {
    return memory::desc({1, 1, gates, spec_.hidden}, memory::data_type::f32, memory::format_tag::ldgo);
  }

  static ArgRef InputRef(int input, size_t offset) { return {ArgRef::Source::kInput, input, offset}; }
  static ArgRef OutputRef(int output, size_t offset) { return {ArgRef::Source::kOutput, output, offset}; }
  static ArgRef ScratchRef(size_t offset) { return {ArgRef::Source::kScratch, 0, offset}; }

  Slot StateSlot(int arg, int64_t dir, bool present, int input, bool zeros_needed) {
    const memory::data_type type = StateType(arg);
    if (present) return {arg, StateView(type), {}, InputRef(input, StateOffset(dir, type))};
    if (!zeros_needed) return {arg, {}, {}, {}};
    return {arg, DenseState(type), Tensor::Zeros(DataType::kFloat32, {1, 1, spec_.batch, spec_.hidden}), {}};
  }
  Slot DstStateSlot(int arg, int64_t dir, bool present, int output, size_t tmp) {
    const memory::data_type type = StateType(arg);
    if (present) return {arg, StateView(type), {}, OutputRef(output, StateOffset(dir, type))};
    if (tmp == kNone) return {arg, {}, {}, {}};
    return {arg, DenseState(type), {}, ScratchRef(tmp)};
  }

  // W or R of direction `dir`: converted now when known, else converted into scratch per run.
  Slot WeightsSlot(int arg, int64_t dir, int input, int64_t channels, size_t scratch, std::vector<Conversion>& conv) {
    const int64_t size = channels * spec_.gates() * spec_.hidden;
    if (!Known(input)) {
      const auto kind = input == kInputW ? Conversion::Kind::kLayerWeights : Conversion::Kind::kIterWeights;
      conv.push_back({kind, input, static_cast<size_t>(dir * size) * kF, scratch});
      return {arg, Ldigo(channels, memory::data_type::f32, memory::format_tag::ldigo), {}, ScratchRef(scratch)};
    }
    Tensor t = Tensor::Zeros(DataType::kFloat32, {1, 1, channels, spec_.gates(), spec_.hidden});
    ConvertWeights(spec_, ctx_.inputs[input].value->data_as<float>() + dir * size, channels, t.data_as<float>());
    return {arg, Ldigo(channels, act_, memory::format_tag::any), std::move(t), {}};
  }

  Slot BiasSlot(int64_t dir, std::vector<Conversion>& conv) {
    const int64_t onnx_size = 2 * spec_.gates() * spec_.hidden;
    if (bias_ != kNone) {
      conv.push_back({Conversion::Kind::kBias, kInputB, static_cast<size_t>(dir * onnx_size) * kF, bias_});
      return {DNNL_ARG_BIAS, Ldgo(spec_.bias_gates()), {}, ScratchRef(bias_)};
    }
    Tensor t = Tensor::Zeros(DataType::kFloat32, {1, 1, spec_.bias_gates(), spec_.hidden});
    const float* b = Known(kInputB) ? ctx_.inputs[kInputB].value->data_as<float>() + dir * onnx_size : nullptr;
    ConvertBias(spec_, b, t.data_as<float>());
    return {DNNL_ARG_BIAS, Ldgo(spec_.bias_gates()), std::move(t), {}};
  }

  Slot PeepholeSlot(int64_t dir, std::vector<Conversion>& conv) {
    if (!Lstm() || !ctx_.has_input(kInputP)) return {DNNL_ARG_WEIGHTS_PEEPHOLE, {}, {}, {}};
    const int64_t size = PeepholeSize(spec_);
    if (peephole_ != kNone) {
      conv.push_back({Conversion::Kind::kPeephole, kInputP, static_cast<size_t>(dir * size) * kF, peephole_});
      return {DNNL_ARG_WEIGHTS_PEEPHOLE, Ldgo(3), {}, ScratchRef(peephole_)};
    }
    Tensor t = Tensor::Zeros(DataType::kFloat32, {1, 1, 3, spec_.hidden});
    ConvertPeephole(spec_, ctx_.inputs[kInputP].value->data_as<float>() + dir * size, t.data_as<float>());
    return {DNNL_ARG_WEIGHTS_PEEPHOLE, Ldgo(3), std::move(t), {}};
  }

  std::vector<Slot> PlanSlots(int64_t dir, std::vector<Conversion>& conv) {
    std::vector<Slot> slots;
    slots.push_back({DNNL_ARG_SRC_LAYER, XDesc(), {}, InputRef(kInputX, 0)});
    slots.push_back(StateSlot(DNNL_ARG_SRC_ITER, dir, HasH0(), kInputInitialH, HasC0()));
    if (Lstm()) slots.push_back(StateSlot(DNNL_ARG_SRC_ITER_C, dir, HasC0(), kInputInitialC, HasH0()));
    slots.push_back(WeightsSlot(DNNL_ARG_WEIGHTS_LAYER, dir, kInputW, spec_.input, layer_weights_, conv));
    slots.push_back(WeightsSlot(DNNL_ARG_WEIGHTS_ITER, dir, kInputR, spec_.hidden, iter_weights_, conv));
    if (Lstm()) slots.push_back(PeepholeSlot(dir, conv));
    slots.push_back(BiasSlot(dir, conv));
    if (HasOutput(kOutputY)) {
      slots.push_back({DNNL_ARG_DST_LAYER, YView(), {}, OutputRef(kOutputY, YOffset(dir))});
    } else {
      const memory::desc dense({spec_.seq, spec_.batch, spec_.hidden}, act_, memory::format_tag::tnc);
      slots.push_back({DNNL_ARG_DST_LAYER, dense, {}, ScratchRef(y_tmp_)});
    }
    slots.push_back(DstStateSlot(DNNL_ARG_DST_ITER, dir, HasYH(), kOutputYH, h_tmp_));
    if (Lstm()) slots.push_back(DstStateSlot(DNNL_ARG_DST_ITER_C, dir, HasYC(), kOutputYC, c_tmp_));
    return slots;
  }

  static const memory::desc& Md(const std::vector<Slot>& slots, int arg) {
    static const memory::desc kZero;
    for (const Slot& s : slots) {
      if (s.arg == arg) return s.md;
    }
    return kZero;
  }

  dnnl::primitive_desc CreatePd(const std::vector<Slot>& s, int64_t dir) const {
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto direction = spec_.is_reversed(dir) ? dnnl::rnn_direction::unidirectional_right2left
                                                  : dnnl::rnn_direction::unidirectional_left2right;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto& e = ctx_.engine;
    const auto& src = Md(s, DNNL_ARG_SRC_LAYER), &h0 = Md(s, DNNL_ARG_SRC_ITER);
    const auto& wl = Md(s, DNNL_ARG_WEIGHTS_LAYER), &wi = Md(s, DNNL_ARG_WEIGHTS_ITER), &b = Md(s, DNNL_ARG_BIAS);
    const auto& dst = Md(s, DNNL_ARG_DST_LAYER), &hn = Md(s, DNNL_ARG_DST_ITER);
    switch (spec_.cell) {
      case Cell::kLstm:
        return dnnl::lstm_forward::primitive_desc(
            dnnl::lstm_forward::desc(prop, direction, src, h0, Md(s, DNNL_ARG_SRC_ITER_C), wl, wi,
                                     Md(s, DNNL_ARG_WEIGHTS_PEEPHOLE), b, dst, hn, Md(s, DNNL_ARG_DST_ITER_C)),
            attr, e);
      case Cell::kGru:
        if (spec_.linear_before_reset) {
          return dnnl::lbr_gru_forward::primitive_desc(
              dnnl::lbr_gru_forward::desc(prop, direction, src, h0, wl, wi, b, dst, hn), attr, e);
        }
        return dnnl::gru_forward::primitive_desc(dnnl::gru_forward::desc(prop, direction, src, h0, wl, wi, b, dst, hn),
                                                 attr, e);
      case Cell::kRnn:
        break;
    }
    return dnnl::vanilla_rnn_forward::primitive_desc(
        dnnl::vanilla_rnn_forward::desc(prop, spec_.activations[dir], direction, src, h0, wl, wi, b, dst, hn), attr, e);
  }

  // Builds direction `dir`'s primitive and binds its arguments; returns its scratchpad bytes.
  absl::StatusOr<size_t> BuildDirection(int64_t dir) {
    DirectionStep step;
    const std::vector<Slot> slots = PlanSlots(dir, step.conversions);
    const dnnl::primitive_desc pd = CreatePd(slots, dir);
    step.runner = dnnl_util::PrimitiveRunner(dnnl::primitive(pd));
    for (const Slot& slot : slots) {
      if (slot.md.is_zero()) continue;
      const memory::desc md = pd.query_md(dnnl::query::exec_arg_md, slot.arg);
      if (slot.constant.has_data()) {
        step.runner.BindFixed(slot.arg, dnnl_util::ReorderToLayout(ctx_.engine, slot.constant, md, ctx_.constants));
        continue;
      }
      step.runner.Bind(slot.arg, md, ctx_.engine);
      step.args.push_back(slot.ref);
    }
    const memory::desc scratchpad = pd.scratchpad_desc();
    if (scratchpad.get_size() > 0) {
      step.runner.Bind(DNNL_ARG_SCRATCHPAD, scratchpad, ctx_.engine);
      step.args.push_back(ScratchRef(scratchpad_offset_));
    }
    kernel_.AddStep(std::move(step));
    return scratchpad.get_size();
  }

  const CompileContext& ctx_;
  const Spec& spec_;
  RnnKernel& kernel_;
  memory::data_type act_;
  size_t scratch_end_ = 0;
  size_t layer_weights_ = kNone, iter_weights_ = kNone, bias_ = kNone, peephole_ = kNone;
  size_t y_tmp_ = kNone, h_tmp_ = kNone, c_tmp_ = kNone;
  size_t scratchpad_offset_ = 0;
};

// Y, Y_h and Y_c; Y and Y_h are held as `act` (the compiler converts bf16 for float32 readers).
std::vector<TensorDesc> OutputDescs(const CompileContext& ctx, const Spec& spec, memory::data_type act) {
  std::vector<TensorDesc> outputs(ctx.node.outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (ctx.node.output(k) == nullptr) continue;
    if (k > static_cast<size_t>(spec.cell == Cell::kLstm ? kOutputYC : kOutputYH)) continue;
    const Shape shape = k == kOutputY ? OutputYShape(spec) : StateShape(spec);
    const memory::data_type type = k == kOutputYC ? memory::data_type::f32 : act;
    outputs[k] = dnnl_util::FromDnnl(DataType::kFloat32, shape, dnnl_util::PlainDesc(type, shape));
  }
  return outputs;
}

// bf16 for an LSTM (the cell tested in bf16) when the session asks for it, every weight is a constant
// converted at compile time (a runtime weight would need a bf16 conversion per run) and there are no
// peepholes. GRU and RNN stay float32.
bool UsesBfloat16(const CompileContext& ctx, const Spec& spec) {
  auto constant_or_absent = [&](int i) { return !ctx.has_input(i) || ctx.inputs[i].is_known(); };
  return ctx.precision == Precision::kBfloat16 && spec.cell == Cell::kLstm && constant_or_absent(kInputW) &&
         constant_or_absent(kInputR) && constant_or_absent(kInputB) && !ctx.has_input(kInputP);
}

absl::StatusOr<CompiledKernel> Build(const CompileContext& ctx, const Spec& spec, memory::data_type act) {
  auto kernel = std::make_unique<RnnKernel>(spec, ctx.node.Describe());
  if (ctx.has_input(kInputSeqLens) && !ctx.inputs[kInputSeqLens].is_known()) {
    kernel->CheckSeqLensAtRun(ctx.desc(kInputSeqLens).dtype == DataType::kInt64);
  }
  CompiledKernel out;
  Builder builder(ctx, spec, *kernel, act);
  ASSIGN_OR_RETURN(out.scratch_bytes, builder.Build());
  out.kernel = std::move(kernel);
  out.outputs = OutputDescs(ctx, spec, act);
  if (act == memory::data_type::bf16) {
    out.computes_bfloat16 = true;
    out.input_layouts.resize(ctx.inputs.size());
    out.input_layouts[kInputX] = dnnl_util::PlainDesc(act, ctx.desc(kInputX).shape);
    if (ctx.has_input(kInputInitialH)) {
      out.input_layouts[kInputInitialH] = dnnl_util::PlainDesc(act, ctx.desc(kInputInitialH).shape);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<CompiledKernel> BuildKernel(const CompileContext& ctx, const Spec& spec) {
  const size_t max_outputs = spec.cell == Cell::kLstm ? 3 : 2;
  if (ctx.node.outputs.size() > max_outputs) return ctx.Invalid("too many outputs");
  if (UsesBfloat16(ctx, spec)) {
    try {
      return Build(ctx, spec, memory::data_type::bf16);
    } catch (const dnnl::error&) {
      // This cell configuration has no bf16 implementation here: compute it in float32.
    }
  }
  try {
    return Build(ctx, spec, memory::data_type::f32);
  } catch (const dnnl::error& e) {
    return ctx.Unsupported(std::string("oneDNN RNN primitive: ") + e.what());
  }
}

}  // namespace peregrine::engine::rnn
