// The oneDNN LSTM / GRU / RNN kernels against a scalar implementation of the ONNX equations.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/kernel_registry.h"
#include "engine/kernels/register_all.h"
#include "graph/ir.h"

namespace peregrine::engine {
namespace {

struct RnnCase {
  std::string op = "LSTM";
  std::string direction = "forward";
  int64_t seq = 3, batch = 2, input = 4, hidden = 5;
  bool batch_first = false;
  bool linear_before_reset = false;
  std::vector<std::string> activations;  // written to the node when non-empty
  bool bias = true, initial_h = false, initial_c = false, peephole = false;
  bool known_weights = true;  // W, R, B, P are constants (else graph inputs converted per run)
  bool want_y = true, want_yh = true, want_yc = true;

  int64_t dirs() const { return direction == "bidirectional" ? 2 : 1; }
  int64_t gates() const { return op == "LSTM" ? 4 : op == "GRU" ? 3 : 1; }
  bool lstm() const { return op == "LSTM"; }
};

// Inputs in time-major (layout 0) form; the kernel sees them transposed when batch_first.
struct Data {
  std::vector<float> x, w, r, b, h0, c0, p;
};

struct Outputs {
  std::vector<float> y, yh, yc;  // time-major: [T, D, N, H], [D, N, H]
};

std::vector<float> Random(std::mt19937& gen, int64_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

Data MakeData(const RnnCase& c, unsigned seed) {
  std::mt19937 gen(seed);
  const int64_t d = c.dirs(), g = c.gates(), h = c.hidden;
  Data data;
  data.x = Random(gen, c.seq * c.batch * c.input);
  data.w = Random(gen, d * g * h * c.input);
  data.r = Random(gen, d * g * h * h);
  if (c.bias) data.b = Random(gen, d * 2 * g * h);
  if (c.initial_h) data.h0 = Random(gen, d * c.batch * h);
  if (c.initial_c) data.c0 = Random(gen, d * c.batch * h);
  if (c.peephole) data.p = Random(gen, d * 3 * h);
  return data;
}

double Sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

double Activate(const std::string& name, double v) {
  if (name == "Relu") return v > 0 ? v : 0;
  if (name == "Sigmoid") return Sigmoid(v);
  return std::tanh(v);
}

// One direction's parameters, pointers into Data (bias and peephole may be absent).
struct DirectionParams {
  const float* w;
  const float* r;
  const float* wb;
  const float* rb;
  const float* p;
  std::string activation;  // RNN only
};

DirectionParams ParamsOf(const RnnCase& c, const Data& data, int64_t d) {
  const int64_t G = c.gates(), H = c.hidden;
  DirectionParams dp;
  dp.w = data.w.data() + d * G * H * c.input;
  dp.r = data.r.data() + d * G * H * H;
  dp.wb = c.bias ? data.b.data() + d * 2 * G * H : nullptr;
  dp.rb = c.bias ? dp.wb + G * H : nullptr;
  dp.p = c.peephole ? data.p.data() + d * 3 * H : nullptr;
  dp.activation = c.activations.empty() ? "Tanh" : c.activations[c.activations.size() == 1 ? 0 : d];
  return dp;
}

using Gates = std::vector<std::vector<double>>;  // [gate][hidden], ONNX gate order

// The ONNX cell update: reads h (and cell for LSTM) and overwrites them with the next state.
// xw = W x + Wb and hr = R h + Rb per gate.
void Cell(const RnnCase& c, const DirectionParams& dp, const Gates& xw, const Gates& hr, std::vector<double>& h,
          std::vector<double>& cell) {
  const int64_t H = c.hidden;
  std::vector<double> next(H);
  for (int64_t o = 0; o < H; ++o) {
    if (c.op == "LSTM") {  // gates i, o, f, c; peepholes i, o, f
      const double pi = dp.p ? dp.p[o] : 0, po = dp.p ? dp.p[H + o] : 0, pf = dp.p ? dp.p[2 * H + o] : 0;
      const double ig = Sigmoid(xw[0][o] + hr[0][o] + pi * cell[o]);
      const double fg = Sigmoid(xw[2][o] + hr[2][o] + pf * cell[o]);
      cell[o] = fg * cell[o] + ig * std::tanh(xw[3][o] + hr[3][o]);
      next[o] = Sigmoid(xw[1][o] + hr[1][o] + po * cell[o]) * std::tanh(cell[o]);
    } else if (c.op == "GRU") {  // gates z, r, h
      const double z = Sigmoid(xw[0][o] + hr[0][o]);
      double cand;
      if (c.linear_before_reset) {
        cand = std::tanh(xw[2][o] + Sigmoid(xw[1][o] + hr[1][o]) * hr[2][o]);
      } else {
        double rh = dp.rb ? dp.rb[2 * H + o] : 0.0;  // Rh (r . h) + Rbh
        for (int64_t j = 0; j < H; ++j) rh += dp.r[(2 * H + o) * H + j] * Sigmoid(xw[1][j] + hr[1][j]) * h[j];
        cand = std::tanh(xw[2][o] + rh);
      }
      next[o] = (1 - z) * cand + z * h[o];
    } else {
      next[o] = Activate(dp.activation, xw[0][o] + hr[0][o]);
    }
  }
  h = next;
}

// One direction of the ONNX equations for batch entry n; writes Y, Y_h, Y_c in time-major layout.
void ReferenceDirection(const RnnCase& c, const Data& data, int64_t d, int64_t n, Outputs& out) {
  const int64_t T = c.seq, N = c.batch, I = c.input, H = c.hidden, G = c.gates(), D = c.dirs();
  const DirectionParams dp = ParamsOf(c, data, d);
  std::vector<double> h(H, 0.0), cell(H, 0.0);
  for (int64_t o = 0; o < H; ++o) {
    if (c.initial_h) h[o] = data.h0[(d * N + n) * H + o];
    if (c.initial_c) cell[o] = data.c0[(d * N + n) * H + o];
  }
  const bool reversed = c.direction == "reverse" || (D == 2 && d == 1);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reversed ? T - 1 - s : s;
    const float* x = data.x.data() + (t * N + n) * I;
    Gates xw(G, std::vector<double>(H)), hr(G, std::vector<double>(H));
    for (int64_t k = 0; k < G; ++k) {
      for (int64_t o = 0; o < H; ++o) {
        xw[k][o] = dp.wb ? dp.wb[k * H + o] : 0.0;
        hr[k][o] = dp.rb ? dp.rb[k * H + o] : 0.0;
        for (int64_t i = 0; i < I; ++i) xw[k][o] += dp.w[(k * H + o) * I + i] * x[i];
        for (int64_t j = 0; j < H; ++j) hr[k][o] += dp.r[(k * H + o) * H + j] * h[j];
      }
    }
    Cell(c, dp, xw, hr, h, cell);
    for (int64_t o = 0; o < H; ++o) out.y[((t * D + d) * N + n) * H + o] = static_cast<float>(h[o]);
  }
  for (int64_t o = 0; o < H; ++o) {
    out.yh[(d * N + n) * H + o] = static_cast<float>(h[o]);
    out.yc[(d * N + n) * H + o] = static_cast<float>(cell[o]);
  }
}

Outputs Reference(const RnnCase& c, const Data& data) {
  Outputs out;
  out.y.assign(c.seq * c.dirs() * c.batch * c.hidden, 0.0f);
  out.yh.assign(c.dirs() * c.batch * c.hidden, 0.0f);
  out.yc = out.yh;
  for (int64_t d = 0; d < c.dirs(); ++d) {
    for (int64_t n = 0; n < c.batch; ++n) ReferenceDirection(c, data, d, n, out);
  }
  return out;
}

// Swaps the first two axes of a [a, b, rest] array.
std::vector<float> SwapAxes01(const std::vector<float>& v, int64_t a, int64_t b) {
  const int64_t rest = static_cast<int64_t>(v.size()) / (a * b);
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < a; ++i) {
    for (int64_t j = 0; j < b; ++j) {
      for (int64_t k = 0; k < rest; ++k) out[(j * a + i) * rest + k] = v[(i * b + j) * rest + k];
    }
  }
  return out;
}

Tensor FloatTensor(Shape shape, const std::vector<float>& values) { return Tensor::FromVector<float>(std::move(shape), values); }

// Builds the node, compiles it with the oneDNN RNN kernels and runs it (twice, to check that runs
// do not depend on each other). Outputs come back time-major like the reference.
class Harness {
 public:
  Harness(const RnnCase& c, const Data& data) : c_(c) {
    const int64_t T = c.seq, N = c.batch, D = c.dirs(), H = c.hidden, G = c.gates();
    const std::vector<float> x = c.batch_first ? SwapAxes01(data.x, T, N) : data.x;
    AddInput("X", c.batch_first ? Shape{N, T, c.input} : Shape{T, N, c.input}, x, false);
    AddInput("W", {D, G * H, c.input}, data.w, c.known_weights);
    AddInput("R", {D, G * H, H}, data.r, c.known_weights);
    AddOptional(c.bias, "B", {D, 2 * G * H}, data.b, c.known_weights);
    AddAbsent();  // sequence_lens
    const Shape state = c.batch_first ? Shape{N, D, H} : Shape{D, N, H};
    AddOptional(c.initial_h, "initial_h", state, c.batch_first && c.initial_h ? SwapAxes01(data.h0, D, N) : data.h0, false);
    if (c.lstm()) {
      AddOptional(c.initial_c, "initial_c", state, c.batch_first && c.initial_c ? SwapAxes01(data.c0, D, N) : data.c0, false);
      AddOptional(c.peephole, "P", {D, 3 * H}, data.p, c.known_weights);
    }
    node_ = graph_.AddNode(c.op, "rnn");
    node_->inputs = values_;
    node_->outputs.push_back(c.want_y ? graph_.AddValue("Y", DataType::kFloat32) : nullptr);
    node_->outputs.push_back(c.want_yh ? graph_.AddValue("Y_h", DataType::kFloat32) : nullptr);
    if (c.lstm()) node_->outputs.push_back(c.want_yc ? graph_.AddValue("Y_c", DataType::kFloat32) : nullptr);
    SetInt("hidden_size", H);
    SetString("direction", c.direction);
    if (c.batch_first) SetInt("layout", 1);
    if (c.op == "GRU") SetInt("linear_before_reset", c.linear_before_reset ? 1 : 0);
    if (!c.activations.empty()) SetStrings("activations", c.activations);
  }

  graph::Node& node() { return *node_; }
  // Replaces input i (e.g. sequence_lens) with `tensor`.
  void SetInput(size_t i, Tensor tensor, bool known) {
    tensors_[i] = std::move(tensor);
    known_[i] = known;
    values_[i] = graph_.AddValue("in" + std::to_string(i), tensors_[i].dtype());
    node_->inputs = values_;
  }
  void SetInt(const std::string& name, int64_t v) { node_->attributes[name] = Attr(graph::Attribute::Kind::kInt, v); }
  void SetFloat(const std::string& name, float v) {
    graph::Attribute a;
    a.kind = graph::Attribute::Kind::kFloat;
    a.f = v;
    node_->attributes[name] = a;
  }
  void SetString(const std::string& name, const std::string& v) {
    graph::Attribute a;
    a.kind = graph::Attribute::Kind::kString;
    a.s = v;
    node_->attributes[name] = a;
  }
  void SetStrings(const std::string& name, const std::vector<std::string>& v) {
    graph::Attribute a;
    a.kind = graph::Attribute::Kind::kStrings;
    a.strings = v;
    node_->attributes[name] = a;
  }
  Tensor& tensor(size_t i) { return tensors_[i]; }

  absl::Status Compile() {
    KernelRegistry registry;
    RegisterDnnlRnnKernels(registry);
    const auto& kernels = registry.Find(c_.op);
    if (kernels.empty()) return absl::NotFoundError(c_.op);
    CompileContext ctx{*node_, {}, engine_, 14, 1};
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (values_[i] == nullptr) {
        ctx.inputs.push_back(KernelInput{});
        continue;
      }
      ctx.inputs.push_back(KernelInput{TensorDesc{tensors_[i].dtype(), tensors_[i].shape(), {}},
                                       known_[i] ? &tensors_[i] : nullptr});
    }
    auto compiled = kernels[0].factory(ctx);
    if (!compiled.ok()) return compiled.status();
    compiled_ = std::move(compiled).value();
    return absl::OkStatus();
  }

  const CompiledKernel& compiled() const { return compiled_; }

  absl::StatusOr<Outputs> Run() {
    std::vector<void*> in, out;
    for (size_t i = 0; i < tensors_.size(); ++i) in.push_back(values_[i] ? tensors_[i].data() : nullptr);
    std::vector<Tensor> results;
    for (const TensorDesc& desc : compiled_.outputs) {
      results.push_back(desc.present() ? Tensor::Zeros(desc.dtype, desc.shape) : Tensor());
      if (desc.present()) std::fill_n(results.back().data_as<float>(), results.back().num_elements(), NAN);
      out.push_back(desc.present() ? results.back().data() : nullptr);
    }
    std::shared_ptr<void> scratch = AllocateAligned(std::max<size_t>(compiled_.scratch_bytes, 64));
    dnnl::stream stream(engine_);
    RunContext ctx(in.data(), in.size(), out.data(), out.size(), scratch.get(), &stream);
    for (int repeat = 0; repeat < 2; ++repeat) {
      absl::Status status = compiled_.kernel->Run(ctx);
      if (!status.ok()) return status;
      stream.wait();
    }
    return Collect(results);
  }

 private:
  static graph::Attribute Attr(graph::Attribute::Kind kind, int64_t v) {
    graph::Attribute a;
    a.kind = kind;
    a.i = v;
    return a;
  }
  void AddInput(const std::string& name, Shape shape, const std::vector<float>& values, bool known) {
    tensors_.push_back(FloatTensor(std::move(shape), values));
    known_.push_back(known);
    values_.push_back(graph_.AddValue(name, DataType::kFloat32));
  }
  void AddOptional(bool present, const std::string& name, Shape shape, const std::vector<float>& v, bool known) {
    if (present) return AddInput(name, std::move(shape), v, known);
    AddAbsent();
  }
  void AddAbsent() {
    tensors_.emplace_back();
    known_.push_back(false);
    values_.push_back(nullptr);
  }

  Outputs Collect(const std::vector<Tensor>& results) const {
    const int64_t N = c_.batch, D = c_.dirs();
    auto values = [&](size_t k) {
      if (k >= results.size() || !results[k].has_data()) return std::vector<float>();
      auto span = results[k].values<float>();
      return std::vector<float>(span.begin(), span.end());
    };
    Outputs out{values(0), values(1), values(2)};
    if (c_.batch_first) {
      if (!out.y.empty()) out.y = FromBatchFirstY(values(0));
      if (!out.yh.empty()) out.yh = SwapAxes01(out.yh, N, D);
      if (!out.yc.empty()) out.yc = SwapAxes01(out.yc, N, D);
    }
    return out;
  }
  // [N, T, D, H] -> [T, D, N, H].
  std::vector<float> FromBatchFirstY(const std::vector<float>& y) const {
    const int64_t T = c_.seq, N = c_.batch, D = c_.dirs(), H = c_.hidden;
    std::vector<float> out(y.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t h = 0; h < H; ++h) out[((t * D + d) * N + n) * H + h] = y[((n * T + t) * D + d) * H + h];
    return out;
  }

  RnnCase c_;
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  graph::Graph graph_;
  graph::Node* node_ = nullptr;
  std::vector<Tensor> tensors_;
  std::vector<bool> known_;
  std::vector<graph::Value*> values_;
  CompiledKernel compiled_;
};

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-4) << what << " element " << i;
  }
}

// Compiles and runs `c`, comparing every requested output with the reference.
void Check(const RnnCase& c, unsigned seed = 7) {
  const Data data = MakeData(c, seed);
  Harness harness(c, data);
  const absl::Status compiled = harness.Compile();
  ASSERT_TRUE(compiled.ok()) << compiled;
  absl::StatusOr<Outputs> got = harness.Run();
  ASSERT_TRUE(got.ok()) << got.status();
  const Outputs want = Reference(c, data);
  if (c.want_y) ExpectNear(got->y, want.y, "Y");
  if (c.want_yh) ExpectNear(got->yh, want.yh, "Y_h");
  if (c.lstm() && c.want_yc) ExpectNear(got->yc, want.yc, "Y_c");
}

std::string Describe(const RnnCase& c) {
  return c.op + " " + c.direction + (c.batch_first ? " batch_first" : "") + (c.initial_h ? " h0" : "") +
         (c.initial_c ? " c0" : "") + (c.peephole ? " peephole" : "") + (c.known_weights ? " const" : " runtime") +
         (c.linear_before_reset ? " lbr" : "");
}

const char* const kDirections[] = {"forward", "reverse", "bidirectional"};

TEST(RnnKernels, LstmMatchesReference) {
  for (const char* direction : kDirections) {
    for (bool state : {false, true}) {
      for (bool known : {true, false}) {
        for (bool batch_first : {false, true}) {
          RnnCase c;
          c.direction = direction;
          c.initial_h = c.initial_c = state;
          c.known_weights = known;
          c.batch_first = batch_first;
          SCOPED_TRACE(Describe(c));
          Check(c);
        }
      }
    }
  }
}

TEST(RnnKernels, LstmPeepholes) {
  for (const char* direction : kDirections) {
    for (bool known : {true, false}) {
      RnnCase c;
      c.direction = direction;
      c.peephole = c.initial_h = c.initial_c = true;
      c.known_weights = known;
      SCOPED_TRACE(Describe(c));
      Check(c);
    }
  }
}

TEST(RnnKernels, LstmPartialStateAndOutputs) {
  RnnCase c;
  c.direction = "bidirectional";
  c.initial_h = true;  // initial_c omitted: zeros
  c.want_y = false;
  c.want_yc = false;
  Check(c);
  c.initial_h = false;
  c.initial_c = true;
  c.want_yh = false;
  c.want_yc = true;
  Check(c);
  c.bias = false;
  c.want_y = true;
  c.want_yh = c.want_yc = false;
  Check(c);
}

TEST(RnnKernels, GruMatchesReference) {
  for (bool lbr : {false, true}) {
    for (const char* direction : kDirections) {
      for (bool state : {false, true}) {
        for (bool known : {true, false}) {
          RnnCase c;
          c.op = "GRU";
          c.linear_before_reset = lbr;
          c.direction = direction;
          c.initial_h = state;
          c.known_weights = known;
          c.batch_first = state && known;
          SCOPED_TRACE(Describe(c));
          Check(c);
        }
      }
    }
  }
}

TEST(RnnKernels, RnnActivations) {
  for (const char* act : {"Tanh", "Relu", "Sigmoid"}) {
    for (bool known : {true, false}) {
      RnnCase c;
      c.op = "RNN";
      c.activations = {act};
      c.initial_h = true;
      c.known_weights = known;
      SCOPED_TRACE(std::string(act) + " " + Describe(c));
      Check(c);
    }
  }
  RnnCase c;
  c.op = "RNN";
  c.direction = "bidirectional";
  c.activations = {"Relu", "Sigmoid"};
  c.batch_first = true;
  Check(c);
}

TEST(RnnKernels, TextGenerationStep) {
  RnnCase c;
  c.seq = 1;
  c.batch = 1;
  c.input = 64;
  c.hidden = 256;
  c.initial_h = c.initial_c = true;
  c.want_y = true;
  Check(c);
}

TEST(RnnKernels, SequenceLens) {
  RnnCase c;
  const Data data = MakeData(c, 3);
  {
    Harness full(c, data);
    full.SetInput(4, Tensor::FromVector<int32_t>({2}, {3, 3}), false);
    ASSERT_TRUE(full.Compile().ok());
    EXPECT_TRUE(full.Run().ok());
  }
  {
    Harness ragged(c, data);
    ragged.SetInput(4, Tensor::FromVector<int32_t>({2}, {3, 2}), false);
    ASSERT_TRUE(ragged.Compile().ok());
    EXPECT_EQ(ragged.Run().status().code(), absl::StatusCode::kUnimplemented);
  }
  {
    Harness known(c, data);
    known.SetInput(4, Tensor::FromVector<int32_t>({2}, {1, 3}), true);
    EXPECT_EQ(known.Compile().code(), absl::StatusCode::kUnimplemented);
  }
}

TEST(RnnKernels, UnsupportedFeatures) {
  RnnCase c;
  const Data data = MakeData(c, 5);
  {
    Harness h(c, data);
    h.SetFloat("clip", 1.0f);
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kUnimplemented);
  }
  {
    Harness h(c, data);
    h.SetInt("input_forget", 1);
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kUnimplemented);
  }
  {
    Harness h(c, data);
    h.SetStrings("activations", {"Sigmoid", "Relu", "Tanh"});
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kUnimplemented);
  }
  {
    Harness h(c, data);
    h.SetInput(0, Tensor::Zeros(DataType::kFloat64, {c.seq, c.batch, c.input}), false);
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kUnimplemented);
  }
}

TEST(RnnKernels, InvalidNodes) {
  RnnCase c;
  const Data data = MakeData(c, 5);
  {
    Harness h(c, data);
    h.SetString("direction", "sideways");
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    Harness h(c, data);
    h.SetInt("hidden_size", 6);  // R says 5
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    Harness h(c, data);
    h.SetInput(1, Tensor::Zeros(DataType::kFloat32, {1, 19, c.input}), false);
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    Harness h(c, data);
    h.SetInput(0, Tensor::Zeros(DataType::kFloat32, {c.seq, c.batch}), false);
    EXPECT_EQ(h.Compile().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace peregrine::engine
