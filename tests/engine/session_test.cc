#include "engine/session.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "onnx/loader.h"

namespace peregrine::engine {
namespace {

using graph::Dim;
using graph::Graph;
using graph::Node;
using graph::Value;

// Small graph-building helpers so tests read as the model they build.
struct GraphBuilder {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  GraphBuilder() { g->opset = 13; }

  Value* Input(const std::string& name, DataType dtype, std::vector<Dim> shape) {
    Value* v = g->AddValue(name, dtype);
    v->shape = std::move(shape);
    g->inputs.push_back(v);
    return v;
  }
  Value* Op(const std::string& op, std::vector<Value*> inputs, const std::string& out_name = "") {
    Node* n = g->AddNode(op, op + std::to_string(g->nodes().size()));
    n->inputs = std::move(inputs);
    Value* out = g->AddValue(out_name.empty() ? n->name + "_out" : out_name);
    out->producer = n;
    n->outputs = {out};
    return out;
  }
  std::unique_ptr<Graph> Finish(std::vector<Value*> outputs) {
    g->outputs = std::move(outputs);
    return std::move(g);
  }
};

std::unique_ptr<Session> MustCreate(std::unique_ptr<Graph> g, SessionOptions options = {}) {
  auto session = Session::Create(std::move(g), options);
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? std::move(*session) : nullptr;
}

// y = Relu(a + b) with a symbolic batch dimension.
std::unique_ptr<Session> AddRelu() {
  GraphBuilder b;
  Value* x = b.Input("a", DataType::kFloat32, {{-1, "batch"}, {3, ""}});
  Value* y = b.Input("b", DataType::kFloat32, {{-1, "batch"}, {3, ""}});
  return MustCreate(b.Finish({b.Op("Relu", {b.Op("Add", {x, y})}, "y")}));
}

TEST(SessionTest, RunsAGraphAndReusesThePlanAndOutputBuffers) {
  auto session = AddRelu();
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::FromVector<float>({2, 3}, {1, -2, 3, -4, 5, -6}),
                                Tensor::FromVector<float>({2, 3}, {1, 1, 1, 1, 1, 1})};
  std::vector<Tensor> outputs;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].shape(), (Shape{2, 3}));
  const std::vector<float> expected = {2, 0, 4, 0, 6, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(outputs[0].data_as<float>()[i], expected[i]);

  const void* buffer = outputs[0].data();
  inputs[0].mutable_values<float>()[1] = 10;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  EXPECT_EQ(outputs[0].data(), buffer) << "a matching output tensor is written in place";
  EXPECT_EQ(outputs[0].data_as<float>()[1], 11);

  // A new batch size compiles a new plan; the old one stays cached.
  std::vector<Tensor> batch1 = {Tensor::FromVector<float>({1, 3}, {1, 2, 3}), Tensor::FromVector<float>({1, 3}, {0, 0, -9})};
  ASSERT_TRUE(session->Run(batch1, outputs).ok());
  EXPECT_EQ(outputs[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(outputs[0].data_as<float>()[2], 0);
}

TEST(SessionTest, RejectsBadInputsNamingThem) {
  auto session = AddRelu();
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> outputs;
  Tensor good = Tensor::Zeros(DataType::kFloat32, {2, 3});
  std::vector<Tensor> one = {good};
  EXPECT_TRUE(absl::IsInvalidArgument(session->Run(one, outputs)));
  std::vector<Tensor> wrong_dtype = {good, Tensor::Zeros(DataType::kInt64, {2, 3})};
  absl::Status s = session->Run(wrong_dtype, outputs);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'b'"), std::string::npos) << s;
  std::vector<Tensor> wrong_dim = {good, Tensor::Zeros(DataType::kFloat32, {2, 4})};
  s = session->Run(wrong_dim, outputs);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("[batch, 3]"), std::string::npos) << s;
  std::vector<Tensor> wrong_rank = {good, Tensor::Zeros(DataType::kFloat32, {6})};
  EXPECT_TRUE(absl::IsInvalidArgument(session->Run(wrong_rank, outputs)));
  auto named = session->Run({{"a", good}, {"nope", good}});
  EXPECT_TRUE(absl::IsInvalidArgument(named.status()));
  named = session->Run({{"a", good}});
  EXPECT_NE(named.status().message().find("missing input 'b'"), std::string::npos) << named.status();
}

TEST(SessionTest, UnsupportedOperatorIsUnimplementedAndNamesTheNode) {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{2, ""}});
  auto session = MustCreate(b.Finish({b.Op("FancyNewOp", {x})}));
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::Zeros(DataType::kFloat32, {2})}, outputs;
  absl::Status s = session->Run(inputs, outputs);
  EXPECT_TRUE(absl::IsUnimplemented(s)) << s;
  EXPECT_NE(s.message().find("FancyNewOp"), std::string::npos) << s;
}

TEST(SessionTest, ShapeComputationsFoldAndValueInputsSpecialise) {
  // y = Reshape(x, shape) where `shape` is a runtime input: the plan is specialised on its value.
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{6, ""}});
  Value* shape = b.Input("shape", DataType::kInt64, {{2, ""}});
  auto session = MustCreate(b.Finish({b.Op("Reshape", {x, shape})}));
  ASSERT_NE(session, nullptr);
  Tensor data = Tensor::FromVector<float>({6}, {0, 1, 2, 3, 4, 5});
  std::vector<Tensor> outputs;
  std::vector<Tensor> as_2x3 = {data, Tensor::FromVector<int64_t>({2}, {2, 3})};
  ASSERT_TRUE(session->Run(as_2x3, outputs).ok());
  EXPECT_EQ(outputs[0].shape(), (Shape{2, 3}));
  std::vector<Tensor> as_3x2 = {data, Tensor::FromVector<int64_t>({2}, {3, -1})};
  ASSERT_TRUE(session->Run(as_3x2, outputs).ok());
  EXPECT_EQ(outputs[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(outputs[0].data_as<float>()[5], 5);
}

TEST(SessionTest, ShapeOfARuntimeTensorIsKnownAtCompileTime) {
  // y = Reshape(x, Shape(z)): Shape folds at compile time, so Reshape needs no specialisation.
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{6, ""}});
  Value* z = b.Input("z", DataType::kFloat32, {{-1, "n"}, {-1, "m"}});
  auto session = MustCreate(b.Finish({b.Op("Reshape", {x, b.Op("Shape", {z})})}));
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::FromVector<float>({6}, {0, 1, 2, 3, 4, 5}), Tensor::Zeros(DataType::kFloat32, {3, 2})};
  std::vector<Tensor> outputs;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  EXPECT_EQ(outputs[0].shape(), (Shape{3, 2}));
}

TEST(SessionTest, ChainsOfInPlaceOpsShareOneBuffer) {
  GraphBuilder b;
  Value* v = b.Input("x", DataType::kFloat32, {{1024, ""}});
  v = b.Op("Add", {v, v});  // not in place: reads its input twice
  for (int i = 0; i < 8; ++i) v = b.Op(i % 2 ? "Relu" : "Neg", {v});
  auto session = MustCreate(b.Finish({b.Op("Abs", {v})}));
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::Zeros(DataType::kFloat32, {1024})}, outputs;
  inputs[0].mutable_values<float>()[3] = -2;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  // -2 + -2 = -4, Neg 4, Relu 4, Neg -4, Relu 0, then zeros.
  EXPECT_EQ(outputs[0].data_as<float>()[3], 0);
  EXPECT_LE(session->last_plan_stats().arena_bytes, 4096u) << "intermediates should share one buffer";
}

TEST(SessionTest, GraphOutputThatIsAnInputOrConstantIsCopied) {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{2, ""}});
  Value* c = b.g->AddConstant("c", Tensor::FromVector<float>({2}, {7, 8}));
  auto session = MustCreate(b.Finish({x, c, b.Op("Relu", {x})}));
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::FromVector<float>({2}, {-1, 1})}, outputs;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].data_as<float>()[0], -1);
  EXPECT_EQ(outputs[1].data_as<float>()[1], 8);
  EXPECT_EQ(outputs[2].data_as<float>()[0], 0);
}

// Deterministic values in [-1, 1).
Tensor Ramp(const Shape& shape, int seed) {
  Tensor t = Tensor::Zeros(DataType::kFloat32, shape);
  uint32_t state = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (float& v : t.mutable_values<float>()) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return t;
}

void SetInts(Value* v, const std::string& name, std::vector<int64_t> ints) {
  graph::Attribute a;
  a.kind = graph::Attribute::Kind::kInts;
  a.ints = std::move(ints);
  v->producer->attributes[name] = a;
}

// Each output of `got` equals `want`'s within bfloat16's rounding (1e-2 of the output's largest
// magnitude), and the reference is not trivially zero.
void ExpectWithinBfloat16Rounding(const std::vector<Tensor>& want, const std::vector<Tensor>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].shape(), want[o].shape()) << o;
    const auto w = want[o].values<float>();
    const auto g = got[o].values<float>();
    double worst = 0, scale = 1;
    for (size_t i = 0; i < w.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(g[i] - w[i])));
      scale = std::max(scale, static_cast<double>(std::abs(w[i])));
    }
    EXPECT_LE(worst / scale, 1e-2) << "output " << o;
    EXPECT_GT(std::abs(w[0]) + std::abs(w[w.size() - 1]), 0) << "output " << o << " should not be trivially zero";
  }
}

// Runs the graph `build` makes in a float32 and a bf16 session on `inputs`: the float32 plan has no
// bf16 step, the bf16 plan has `bf16_steps` where the CPU has native bfloat16, both give `outputs`
// outputs, and the bf16 ones are within bfloat16's rounding of float32's.
void ExpectBfloat16WithinRounding(const std::function<std::unique_ptr<Graph>()>& build,
                                  const std::vector<Tensor>& inputs, size_t bf16_steps, size_t outputs) {
  SessionOptions bf16;
  bf16.precision = Precision::kBfloat16;
  auto exact = MustCreate(build());
  auto rounded = MustCreate(build(), bf16);
  ASSERT_NE(exact, nullptr);
  ASSERT_NE(rounded, nullptr);
  EXPECT_EQ(rounded->options().precision, EffectivePrecision(Precision::kBfloat16));
  std::vector<Tensor> want, got;
  ASSERT_TRUE(exact->Run(inputs, want).ok());
  ASSERT_TRUE(rounded->Run(inputs, got).ok());
  EXPECT_EQ(exact->last_plan_stats().bf16_steps, 0u);
  if (HasNativeBfloat16()) {
    EXPECT_EQ(rounded->last_plan_stats().bf16_steps, bf16_steps);
  }
  ASSERT_EQ(got.size(), outputs);
  ExpectWithinBfloat16Rounding(want, got);
}

// Conv -> MaxPool -> Conv, with the first convolution's output also read by Flatten (a kernel that
// only reads plain float32) and the last one a graph output: in bf16 every edge between a bfloat16
// step and a float32 reader converts, and the answers stay within bfloat16's rounding of float32's.
TEST(SessionTest, Bfloat16ConvolutionsConvertAtTheirEdges) {
  auto build = [] {
    GraphBuilder b;
    Value* x = b.Input("x", DataType::kFloat32, {{2, ""}, {4, ""}, {6, ""}, {6, ""}});
    Value* c1 = b.Op("Conv", {x, b.g->AddConstant("w1", Ramp({8, 4, 3, 3}, 1)), b.g->AddConstant("b1", Ramp({8}, 2))});
    SetInts(c1, "pads", {1, 1, 1, 1});
    Value* pooled = b.Op("MaxPool", {c1});
    SetInts(pooled, "kernel_shape", {2, 2});
    SetInts(pooled, "strides", {2, 2});
    Value* c2 = b.Op("Conv", {pooled, b.g->AddConstant("w2", Ramp({4, 8, 1, 1}, 3))});
    return b.Finish({c2, b.Op("Flatten", {c1}), pooled});
  };
  // bf16 steps: both Convs and the MaxPool.
  ExpectBfloat16WithinRounding(build, {Ramp({2, 4, 6, 6}, 4)}, 3, 3);
}

void SetHiddenSize(Node* n, int64_t hidden) {
  graph::Attribute size;
  size.kind = graph::Attribute::Kind::kInt;
  size.i = hidden;
  n->attributes["hidden_size"] = size;
}

Value* AddLstm(GraphBuilder& b, Value* x, Value* h0, Value* c0, int64_t input, int64_t hidden, int seed,
               std::vector<Value*>& outputs) {
  Node* n = b.g->AddNode("LSTM", "lstm" + std::to_string(seed));
  n->inputs = {x, b.g->AddConstant("W" + std::to_string(seed), Ramp({1, 4 * hidden, input}, seed)),
               b.g->AddConstant("R" + std::to_string(seed), Ramp({1, 4 * hidden, hidden}, seed + 1)),
               b.g->AddConstant("B" + std::to_string(seed), Ramp({1, 8 * hidden}, seed + 2)), nullptr, h0, c0};
  SetHiddenSize(n, hidden);
  for (const char* name : {"Y", "Y_h", "Y_c"}) {
    Value* out = b.g->AddValue(n->name + name);
    out->producer = n;
    n->outputs.push_back(out);
  }
  outputs = n->outputs;
  return n->outputs[0];
}

// Two stacked LSTM layers (constant weights) with a Squeeze between them, as a PyTorch export has:
// in bf16 both layers compute in bfloat16, their bf16 Y and Y_h convert for the Squeeze and the
// graph outputs, the float32 cell state passes as it is, and the answers stay within bfloat16's
// rounding of float32's.
TEST(SessionTest, Bfloat16RecurrentLayersConvertAtTheirEdges) {
  constexpr int64_t kSeq = 3, kBatch = 2, kInput = 5, kHidden = 16;
  auto build = [] {
    GraphBuilder b;
    Value* x = b.Input("x", DataType::kFloat32, {{kSeq, ""}, {kBatch, ""}, {kInput, ""}});
    Value* h0 = b.Input("h0", DataType::kFloat32, {{1, ""}, {kBatch, ""}, {kHidden, ""}});
    Value* c0 = b.Input("c0", DataType::kFloat32, {{1, ""}, {kBatch, ""}, {kHidden, ""}});
    std::vector<Value*> first, second;
    Value* y = AddLstm(b, x, h0, c0, kInput, kHidden, 1, first);
    Value* squeezed = b.Op("Squeeze", {y, b.g->AddConstant("axis", Tensor::FromVector<int64_t>({1}, {1}))});
    AddLstm(b, squeezed, first[1], first[2], kHidden, kHidden, 4, second);
    return b.Finish({second[0], second[1], second[2], b.Op("Abs", {first[2]})});
  };
  const std::vector<Tensor> inputs = {Ramp({kSeq, kBatch, kInput}, 7), Ramp({1, kBatch, kHidden}, 8),
                                      Ramp({1, kBatch, kHidden}, 9)};
  ExpectBfloat16WithinRounding(build, inputs, 2, 4);  // bf16 steps: both LSTMs
}

// Completes recurrent node `n` of `b` (hidden size 4, output Y of a 2-step sequence of batch 1), runs
// it in a bf16 session and expects it to have computed in float32.
void ExpectStaysFloat32InBfloat16(GraphBuilder& b, Node* n, const std::vector<Tensor>& inputs) {
  SetHiddenSize(n, 4);
  Value* y = b.g->AddValue("y");
  y->producer = n;
  n->outputs = {y};
  SessionOptions bf16;
  bf16.precision = Precision::kBfloat16;
  auto session = MustCreate(b.Finish({y}), bf16);
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  EXPECT_EQ(session->last_plan_stats().bf16_steps, 0u);
  ASSERT_EQ(outputs[0].shape(), (Shape{2, 1, 1, 4}));
}

// An LSTM whose weights are graph inputs stays float32 in a bf16 session: converting them would cost
// a bf16 conversion of every weight on every run.
TEST(SessionTest, Bfloat16KeepsRecurrentLayersWithRuntimeWeightsInFloat32) {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{2, ""}, {1, ""}, {3, ""}});
  Value* w = b.Input("w", DataType::kFloat32, {{1, ""}, {16, ""}, {3, ""}});
  Value* r = b.Input("r", DataType::kFloat32, {{1, ""}, {16, ""}, {4, ""}});
  Node* n = b.g->AddNode("LSTM", "lstm");
  n->inputs = {x, w, r};
  ExpectStaysFloat32InBfloat16(b, n, {Ramp({2, 1, 3}, 1), Ramp({1, 16, 3}, 2), Ramp({1, 16, 4}, 3)});
}

// GRU and RNN stay float32 in a bf16 session even with constant weights: only the LSTM cell computes
// in bfloat16.
TEST(SessionTest, Bfloat16KeepsGruInFloat32) {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{2, ""}, {1, ""}, {3, ""}});
  Node* n = b.g->AddNode("GRU", "gru");
  n->inputs = {x, b.g->AddConstant("w", Ramp({1, 12, 3}, 2)), b.g->AddConstant("r", Ramp({1, 12, 4}, 3))};
  ExpectStaysFloat32InBfloat16(b, n, {Ramp({2, 1, 3}, 1)});
}

// An LSTM (constant weights) over a [2, batch, 5] sequence, its last hidden state projected by a
// constant MatMul: outputs the projection and Y.
constexpr int64_t kProjSeq = 2, kProjInput = 5, kProjHidden = 16, kProjOut = 7;
std::unique_ptr<Graph> LstmProjection() {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{kProjSeq, ""}, {-1, "batch"}, {kProjInput, ""}});
  std::vector<Value*> lstm;
  Value* y = AddLstm(b, x, nullptr, nullptr, kProjInput, kProjHidden, 1, lstm);
  Value* w = b.g->AddConstant("proj", Ramp({kProjHidden, kProjOut}, 5));
  return b.Finish({b.Op("MatMul", {lstm[1], w}), y});
}

std::vector<Tensor> LstmProjectionInput(int64_t batch) {
  return {Ramp({kProjSeq, batch, kProjInput}, static_cast<int>(batch))};
}

void ExpectSameBytes(const std::vector<Tensor>& got, const std::vector<Tensor>& want, const std::string& context) {
  ASSERT_EQ(got.size(), want.size()) << context;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << context;
    EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), got[i].byte_size()), 0) << context << ", output " << i;
  }
}

// A session compiles one plan per batch size; the plans share one copy of each reordered weight, and
// every plan still computes what a session with only that plan computes.
TEST(SessionTest, PlansOfOneSessionShareTheirWeights) {
  auto shared = MustCreate(LstmProjection());
  ASSERT_NE(shared, nullptr);
  size_t weight_bytes = 0;
  for (int64_t batch : {1, 3, 2, 8}) {
    const std::vector<Tensor> inputs = LstmProjectionInput(batch);
    std::vector<Tensor> got, want;
    ASSERT_TRUE(shared->Run(inputs, got).ok());
    if (weight_bytes == 0) weight_bytes = shared->constant_bytes();
    // The LSTM's weights and bias and the MatMul's weights, laid out once: no plan adds a copy.
    EXPECT_EQ(shared->constant_bytes(), weight_bytes) << "batch " << batch;
    auto alone = MustCreate(LstmProjection());
    ASSERT_NE(alone, nullptr);
    ASSERT_TRUE(alone->Run(inputs, want).ok());
    ExpectSameBytes(got, want, "batch " + std::to_string(batch));
  }
  const size_t floats = 4 * kProjHidden * (kProjInput + kProjHidden) + kProjHidden * kProjOut;
  EXPECT_GE(weight_bytes, floats * sizeof(float));
}

// A fork shares its parent's graph and weights, computes what the parent does, and the two run at
// once on different threads (a server's instances).
TEST(SessionTest, ForksShareTheGraphAndWeightsAndRunConcurrently) {
  auto parent = MustCreate(LstmProjection());
  ASSERT_NE(parent, nullptr);
  std::vector<Tensor> want;
  ASSERT_TRUE(parent->Run(LstmProjectionInput(3), want).ok());
  const size_t weight_bytes = parent->constant_bytes();
  SessionOptions options;
  options.threads = 1;
  std::unique_ptr<Session> fork = parent->Fork(options);
  EXPECT_EQ(&fork->graph(), &parent->graph());
  EXPECT_EQ(fork->options().threads, 1);

  constexpr int kRuns = 20;
  auto run_many = [&](Session* session, std::vector<Tensor>* last, bool* ok) {
    for (int i = 0; i < kRuns && *ok; ++i) {
      *ok = session->Run(LstmProjectionInput(1 + i % 4), *last).ok();  // new plans on both threads
    }
    *ok = *ok && session->Run(LstmProjectionInput(3), *last).ok();
  };
  std::vector<Tensor> from_parent, from_fork;
  bool parent_ok = true, fork_ok = true;
  std::thread other(run_many, fork.get(), &from_fork, &fork_ok);
  run_many(parent.get(), &from_parent, &parent_ok);
  other.join();
  ASSERT_TRUE(parent_ok && fork_ok);
  ExpectSameBytes(from_parent, want, "parent");
  ExpectSameBytes(from_fork, want, "fork");
  EXPECT_EQ(fork->constant_bytes(), weight_bytes);  // one store: the fork's plans added no copies
}

TEST(SessionTest, PrecisionNames) {
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFloat32);
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBfloat16);
  EXPECT_EQ(ParsePrecision("fp16").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrecisionName(Precision::kBfloat16), "bf16");
  EXPECT_EQ(EffectivePrecision(Precision::kFloat32), Precision::kFloat32);
}

TEST(SessionTest, ProfileIsChromeTraceJson) {
  GraphBuilder b;
  Value* x = b.Input("x", DataType::kFloat32, {{4, ""}});
  SessionOptions options;
  options.profile = true;
  auto session = MustCreate(b.Finish({b.Op("Neg", {b.Op("Exp", {x})})}), options);
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> inputs = {Tensor::Zeros(DataType::kFloat32, {4})}, outputs;
  ASSERT_TRUE(session->Run(inputs, outputs).ok());
  const std::string path = ::testing::TempDir() + "/profile.json";
  ASSERT_TRUE(session->WriteProfile(path).ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"traceEvents\""), std::string::npos);
  EXPECT_NE(text.find("\"cat\":\"Exp\""), std::string::npos);
  EXPECT_NE(text.find("\"ph\":\"X\""), std::string::npos);
}

// The trace names the steps of every plan that ran, also of plans the cache has dropped since (it points
// into their steps: under ASan a dropped plan freed too early fails here).
TEST(SessionTest, ProfileOutlivesPlansDroppedFromTheCache) {
  GraphBuilder b;
  Value* a = b.Input("a", DataType::kFloat32, {{-1, "batch"}, {3, ""}});
  SessionOptions options;
  options.profile = true;
  options.max_cached_plans = 1;
  auto session = MustCreate(b.Finish({b.Op("Exp", {a})}), options);
  ASSERT_NE(session, nullptr);
  std::vector<Tensor> outputs;
  for (int64_t batch : {2, 1, 5}) {  // each batch size evicts the previous plan
    std::vector<Tensor> inputs = {Tensor::Zeros(DataType::kFloat32, {batch, 3})};
    ASSERT_TRUE(session->Run(inputs, outputs).ok());
  }
  const std::string path = ::testing::TempDir() + "/profile_evicted.json";
  ASSERT_TRUE(session->WriteProfile(path).ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t exp_events = 0;
  for (size_t at = text.find("\"cat\":\"Exp\""); at != std::string::npos; at = text.find("\"cat\":\"Exp\"", at + 1)) {
    ++exp_events;
  }
  EXPECT_EQ(exp_events, 3u) << text;
}

TEST(LoaderTest, BadFilesGiveClearErrors) {
  auto missing = onnx_import::LoadModel("/nonexistent/model.onnx");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  auto garbage = onnx_import::LoadModelFromBytes("this is not a protobuf", ".");
  EXPECT_TRUE(absl::IsInvalidArgument(garbage.status()));
  EXPECT_NE(garbage.status().message().find("not an ONNX model"), std::string::npos) << garbage.status();

  // A real model cut in half.
  const std::string real = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  std::ifstream in(real, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 20u);
  EXPECT_TRUE(onnx_import::LoadModelFromBytes(bytes, ".").ok());
  auto truncated = onnx_import::LoadModelFromBytes(std::string_view(bytes).substr(0, bytes.size() / 2), ".");
  EXPECT_TRUE(absl::IsInvalidArgument(truncated.status())) << truncated.status();
}

}  // namespace
}  // namespace peregrine::engine
