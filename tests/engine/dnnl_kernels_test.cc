// The oneDNN CNN/MLP kernels (Conv, Gemm, MatMul, ...) against scalar implementations of the ONNX
// equations: fused post-ops, blocked layouts kept between convolutions, Gemm's transposes and scales.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/kernel_registry.h"
#include "engine/session.h"
#include "graph/ir.h"
#include "tensor/npy.h"

namespace peregrine::engine {
namespace {

// CPU time of the calling thread: with one intra-op thread the kernels run on it, so this ignores
// the time other processes take on a shared machine.
double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best wall and thread-CPU seconds of `runs` calls of `fn`.
template <typename F>
std::pair<double, double> BestTimes(int runs, F fn) {
  double wall = 1e9, cpu = 1e9;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadSeconds();
    fn();
    cpu = std::min(cpu, ThreadSeconds() - cpu_start);
    wall = std::min(wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return {wall, cpu};
}

using graph::Attribute;

std::vector<float> Random(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(gen);
  return v;
}

Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
Attribute Float(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

// Builds small float graphs whose values all carry their shapes (the fusion passes check them).
class GraphBuilder {
 public:
  GraphBuilder() : graph_(std::make_unique<graph::Graph>()) { graph_->opset = 17; }

  graph::Value* Input(const std::string& name, const Shape& shape) {
    graph::Value* v = Shaped(graph_->AddValue(name, DataType::kFloat32), shape);
    graph_->inputs.push_back(v);
    return v;
  }
  graph::Value* Constant(const std::string& name, const Shape& shape, const std::vector<float>& values) {
    return graph_->AddConstant(name, Tensor::FromVector<float>(shape, values));
  }
  graph::Node* Op(const std::string& op, std::vector<graph::Value*> inputs, const Shape& out_shape) {
    graph::Node* node = graph_->AddNode(op, op + std::to_string(graph_->nodes().size()));
    node->inputs = std::move(inputs);
    graph::Value* out = Shaped(graph_->AddValue(node->name + "_out", DataType::kFloat32), out_shape);
    out->producer = node;
    node->outputs = {out};
    return node;
  }
  void Output(graph::Value* v) { graph_->outputs.push_back(v); }
  std::unique_ptr<graph::Graph> Take() { return std::move(graph_); }

 private:
  static graph::Value* Shaped(graph::Value* v, const Shape& shape) {
    std::vector<graph::Dim> dims;
    for (int64_t d : shape) dims.push_back(graph::Dim{d, ""});
    v->shape = std::move(dims);
    return v;
  }
  std::unique_ptr<graph::Graph> graph_;
};

struct ConvGeom {
  int64_t n = 1, c = 8, h = 7, w = 9, m = 8, kh = 3, kw = 3, group = 1;
  int64_t stride = 1, pad = 1, dilation = 1;
  int64_t oh() const { return (h + 2 * pad - (kh - 1) * dilation - 1) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - (kw - 1) * dilation - 1) / stride + 1; }
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {m, c / group, kh, kw}; }
  Shape y_shape() const { return {n, m, oh(), ow()}; }
};

// Direct NCHW convolution, the ONNX definition.
std::vector<float> NaiveConv(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& b) {
  std::vector<float> y(static_cast<size_t>(NumElements(g.y_shape())));
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t m = 0; m < g.m; ++m)
      for (int64_t oy = 0; oy < g.oh(); ++oy)
        for (int64_t ox = 0; ox < g.ow(); ++ox) {
          double acc = b.empty() ? 0.0 : b[m];
          const int64_t grp = m / mg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < g.kh; ++ky)
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t iy = oy * g.stride - g.pad + ky * g.dilation;
                const int64_t ix = ox * g.stride - g.pad + kx * g.dilation;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const int64_t c = grp * cg + ci;
                acc += x[((n * g.c + c) * g.h + iy) * g.w + ix] * w[((m * cg + ci) * g.kh + ky) * g.kw + kx];
              }
          y[((n * g.m + m) * g.oh() + oy) * g.ow() + ox] = static_cast<float>(acc);
        }
  return y;
}

void SetConvAttrs(graph::Node* node, const ConvGeom& g) {
  node->attributes["kernel_shape"] = Ints({g.kh, g.kw});
  node->attributes["strides"] = Ints({g.stride, g.stride});
  node->attributes["pads"] = Ints({g.pad, g.pad, g.pad, g.pad});
  node->attributes["dilations"] = Ints({g.dilation, g.dilation});
  node->attributes["group"] = Int(g.group);
}

void ExpectNear(const Tensor& got, const std::vector<float>& want, float tol = 1e-4f) {
  ASSERT_EQ(got.num_elements(), static_cast<int64_t>(want.size()));
  const float* p = got.data_as<float>();
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(p[i], want[i], tol * (1.f + std::fabs(want[i]))) << "at " << i;
  }
}

absl::StatusOr<std::vector<Tensor>> RunGraph(std::unique_ptr<graph::Graph> g, std::vector<Tensor> inputs,
                                             std::unique_ptr<Session>* keep = nullptr) {
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Create(std::move(g), SessionOptions{}));
  std::vector<Tensor> outputs;
  RETURN_IF_ERROR(session->Run(inputs, outputs));
  if (keep) *keep = std::move(session);
  return outputs;
}

std::vector<float> Relu(std::vector<float> v) {
  for (float& f : v) f = std::max(f, 0.f);
  return v;
}

TEST(DnnlConvTest, ConvReluIsFusedAndCorrect) {
  ConvGeom g;
  g.c = 16;
  g.m = 32;
  g.h = 10;
  g.w = 12;
  const auto x = Random(NumElements(g.x_shape()), 1), w = Random(NumElements(g.w_shape()), 2), b = Random(g.m, 3);
  GraphBuilder gb;
  graph::Node* conv = gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Constant("w", g.w_shape(), w),
                                     gb.Constant("b", {g.m}, b)}, g.y_shape());
  SetConvAttrs(conv, g);
  graph::Node* relu = gb.Op("Relu", {conv->outputs[0]}, g.y_shape());
  gb.Output(relu->outputs[0]);
  std::unique_ptr<Session> session;
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)}, &session);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(session->graph().nodes().size(), 1u);
  ASSERT_EQ(session->graph().nodes()[0]->post_ops.size(), 1u);
  ExpectNear((*out)[0], Relu(NaiveConv(g, x, w, b)));
}

// Each fusable activation, fused into a Conv as an eltwise post-op, against its definition.
TEST(DnnlConvTest, FusedActivations) {
  ConvGeom g;
  g.c = 8;
  g.m = 16;
  const auto x = Random(NumElements(g.x_shape()), 80), w = Random(NumElements(g.w_shape()), 81);
  const std::vector<float> conv = NaiveConv(g, x, w, {});
  struct Case {
    const char* op;
    std::vector<std::pair<std::string, float>> attrs;
    float (*fn)(float);
  };
  const Case cases[] = {
      {"LeakyRelu", {{"alpha", 0.1f}}, [](float v) { return v > 0 ? v : 0.1f * v; }},
      {"Elu", {{"alpha", 0.5f}}, [](float v) { return v > 0 ? v : 0.5f * std::expm1(v); }},
      {"Sigmoid", {}, [](float v) { return 1.f / (1.f + std::exp(-v)); }},
      {"Tanh", {}, [](float v) { return std::tanh(v); }},
      {"HardSigmoid", {{"alpha", 0.3f}, {"beta", 0.4f}}, [](float v) { return std::clamp(0.3f * v + 0.4f, 0.f, 1.f); }},
      {"Clip", {}, [](float v) { return std::max(v, -0.25f); }},  // min input only, max +inf
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    GraphBuilder gb;
    graph::Node* node = gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Constant("w", g.w_shape(), w)}, g.y_shape());
    SetConvAttrs(node, g);
    std::vector<graph::Value*> act_in = {node->outputs[0]};
    if (std::string(c.op) == "Clip") act_in.push_back(gb.Constant("lo", {}, {-0.25f}));
    graph::Node* act = gb.Op(c.op, act_in, g.y_shape());
    for (const auto& [name, value] : c.attrs) act->attributes[name] = Float(value);
    gb.Output(act->outputs[0]);
    std::unique_ptr<Session> session;
    auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)}, &session);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(session->graph().nodes().size(), 1u);
    std::vector<float> want = conv;
    for (float& v : want) v = c.fn(v);
    ExpectNear((*out)[0], want);
  }
}

// x -> Conv -> Relu -> Conv -> Add(x) -> Relu: the second conv carries sum and eltwise post-ops.
void RunResidual(bool addend_first) {
  ConvGeom g;
  g.c = g.m = 32;
  g.h = 9;
  g.w = 11;
  ConvGeom g1 = g;
  g1.kh = g1.kw = 1;
  g1.pad = 0;
  const auto x = Random(NumElements(g.x_shape()), 4);
  const auto w0 = Random(NumElements(g.w_shape()), 5), b0 = Random(g.m, 6);
  const auto w1 = Random(NumElements(g1.w_shape()), 7), b1 = Random(g.m, 8);
  GraphBuilder gb;
  graph::Value* in = gb.Input("x", g.x_shape());
  graph::Node* c0 = gb.Op("Conv", {in, gb.Constant("w0", g.w_shape(), w0), gb.Constant("b0", {g.m}, b0)}, g.y_shape());
  SetConvAttrs(c0, g);
  graph::Node* r0 = gb.Op("Relu", {c0->outputs[0]}, g.y_shape());
  graph::Node* c1 = gb.Op("Conv", {r0->outputs[0], gb.Constant("w1", g1.w_shape(), w1), gb.Constant("b1", {g.m}, b1)},
                          g.y_shape());
  SetConvAttrs(c1, g1);
  graph::Node* add = addend_first ? gb.Op("Add", {in, c1->outputs[0]}, g.y_shape())
                                  : gb.Op("Add", {c1->outputs[0], in}, g.y_shape());
  graph::Node* r1 = gb.Op("Relu", {add->outputs[0]}, g.y_shape());
  gb.Output(r1->outputs[0]);
  std::unique_ptr<Session> session;
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)}, &session);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(session->graph().nodes().size(), 2u);
  EXPECT_EQ(session->graph().nodes()[1]->post_ops.size(), 2u);
  std::vector<float> want = NaiveConv(g1, Relu(NaiveConv(g, x, w0, b0)), w1, b1);
  for (size_t i = 0; i < want.size(); ++i) want[i] += x[i];
  ExpectNear((*out)[0], Relu(want));
}

TEST(DnnlConvTest, ResidualAddReluIsFusedAndCorrect) { RunResidual(false); }
TEST(DnnlConvTest, ResidualAddWithAddendFirst) { RunResidual(true); }

TEST(DnnlConvTest, RuntimeWeightsGroupedStridedDilated) {
  ConvGeom g;
  g.c = 6;
  g.m = 4;
  g.group = 2;
  g.stride = 2;
  g.dilation = 2;
  g.pad = 2;
  g.h = 11;
  g.w = 10;
  const auto x = Random(NumElements(g.x_shape()), 9), w = Random(NumElements(g.w_shape()), 10), b = Random(g.m, 11);
  GraphBuilder gb;
  graph::Node* conv =
      gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Input("w", g.w_shape()), gb.Input("b", {g.m})}, g.y_shape());
  SetConvAttrs(conv, g);
  gb.Output(conv->outputs[0]);
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x), Tensor::FromVector<float>(g.w_shape(), w),
                                  Tensor::FromVector<float>({g.m}, b)});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0], NaiveConv(g, x, w, b));
}

TEST(DnnlConvTest, DepthwiseConv) {
  ConvGeom g;
  g.c = g.m = g.group = 32;
  g.h = 14;
  g.w = 14;
  const auto x = Random(NumElements(g.x_shape()), 12), w = Random(NumElements(g.w_shape()), 13);
  GraphBuilder gb;
  graph::Node* conv = gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Constant("w", g.w_shape(), w)}, g.y_shape());
  SetConvAttrs(conv, g);
  gb.Output(conv->outputs[0]);
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0], NaiveConv(g, x, w, {}));
}

// ConvTranspose with groups, stride, dilation, pads and output_padding, weights known or not.
TEST(DnnlConvTest, ConvTransposeGrouped) {
  const int64_t n = 1, c = 4, h = 3, w = 4, group = 2, mg = 3, k = 3, s = 2, d = 1, pad = 1, adj = 1;
  const int64_t m = mg * group, cg = c / group;
  const int64_t oh = s * (h - 1) + adj + (k - 1) * d + 1 - 2 * pad, ow = s * (w - 1) + adj + (k - 1) * d + 1 - 2 * pad;
  const Shape x_shape = {n, c, h, w}, w_shape = {c, mg, k, k}, y_shape = {n, m, oh, ow};
  const auto x = Random(NumElements(x_shape), 70), wt = Random(NumElements(w_shape), 71), b = Random(m, 72);
  std::vector<float> want(static_cast<size_t>(NumElements(y_shape)));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t mo = 0; mo < mg; ++mo)
      for (int64_t iy = 0; iy < h; ++iy)
        for (int64_t ix = 0; ix < w; ++ix)
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t oy = iy * s - pad + ky * d, ox = ix * s - pad + kx * d;
              if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
              const int64_t out_c = (ci / cg) * mg + mo;
              want[(out_c * oh + oy) * ow + ox] += x[(ci * h + iy) * w + ix] * wt[((ci * mg + mo) * k + ky) * k + kx];
            }
  for (int64_t oc = 0; oc < m; ++oc)
    for (int64_t i = 0; i < oh * ow; ++i) want[oc * oh * ow + i] += b[oc];
  for (bool known : {true, false}) {
    SCOPED_TRACE(known ? "known weights" : "runtime weights");
    GraphBuilder gb;
    std::vector<Tensor> inputs = {Tensor::FromVector<float>(x_shape, x)};
    graph::Value* xv = gb.Input("x", x_shape);
    graph::Value* wv = known ? gb.Constant("w", w_shape, wt) : gb.Input("w", w_shape);
    if (!known) inputs.push_back(Tensor::FromVector<float>(w_shape, wt));
    graph::Node* node = gb.Op("ConvTranspose", {xv, wv, gb.Constant("b", {m}, b)}, y_shape);
    node->attributes["group"] = Int(group);
    node->attributes["strides"] = Ints({s, s});
    node->attributes["pads"] = Ints({pad, pad, pad, pad});
    node->attributes["output_padding"] = Ints({adj, adj});
    gb.Output(node->outputs[0]);
    auto out = RunGraph(gb.Take(), inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectNear((*out)[0], want);
  }
}

// Compiles a Conv node directly with the highest-priority kernel.
absl::StatusOr<CompiledKernel> CompileConvNode(const graph::Node& node, const TensorDesc& x, const Tensor& w) {
  CompileContext ctx{node, {}, dnnl::engine(dnnl::engine::kind::cpu, 0), 17, 1};
  ctx.inputs.push_back(KernelInput{x, nullptr});
  ctx.inputs.push_back(KernelInput{TensorDesc{DataType::kFloat32, w.shape(), {}}, &w});
  return KernelRegistry::Global().Find("Conv").front().factory(ctx);
}

TEST(DnnlConvTest, BlockedLayoutFlowsBetweenConvs) {
  ConvGeom g;
  g.c = g.m = 64;
  g.h = 20;
  g.w = 61;
  GraphBuilder gb;
  graph::Node* conv = gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Input("w", g.w_shape())}, g.y_shape());
  SetConvAttrs(conv, g);
  const Tensor w = Tensor::FromVector<float>(g.w_shape(), Random(NumElements(g.w_shape()), 14));
  auto first = CompileConvNode(*conv, TensorDesc{DataType::kFloat32, g.x_shape(), {}}, w);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->outputs[0].is_plain()) << "oneDNN should pick a blocked layout for 64 channels";
  auto second = CompileConvNode(*conv, first->outputs[0], w);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_FALSE(second->input_layouts.empty());
  EXPECT_TRUE(second->input_layouts[0] == first->outputs[0].layout) << "a reorder would be needed between convs";
  EXPECT_TRUE(second->outputs[0].layout == first->outputs[0].layout);
}

TEST(DnnlConvTest, ChainOfConvsNeedsOnlyBoundaryReorders) {
  ConvGeom g;
  g.c = g.m = 64;
  g.h = 12;
  g.w = 13;
  GraphBuilder gb;
  graph::Value* v = gb.Input("x", g.x_shape());
  std::vector<float> x = Random(NumElements(g.x_shape()), 15), want = x;
  for (int i = 0; i < 3; ++i) {
    const auto w = Random(NumElements(g.w_shape()), 16 + i);
    graph::Node* conv = gb.Op("Conv", {v, gb.Constant("w" + std::to_string(i), g.w_shape(), w)}, g.y_shape());
    SetConvAttrs(conv, g);
    graph::Node* relu = gb.Op("Relu", {conv->outputs[0]}, g.y_shape());
    v = relu->outputs[0];
    want = Relu(NaiveConv(g, want, w, {}));
  }
  gb.Output(v);
  std::unique_ptr<Session> session;
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)}, &session);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LE(session->last_plan_stats().reorders, 2u);
  ExpectNear((*out)[0], want, 1e-3f);
}

// Ops that are not fused run on the convolution's blocked layout: y = Conv(x) has two consumers,
// so Relu, the Add, the per-channel Mul, BatchNormalization and the pools all read blocked data.
TEST(DnnlEltwiseTest, UnfusedOpsKeepBlockedLayouts) {
  ConvGeom g;
  g.c = 16;
  g.m = 64;
  g.h = 8;
  g.w = 10;
  const int64_t m = g.m, hw = g.h * g.w;
  const auto x = Random(NumElements(g.x_shape()), 60), w = Random(NumElements(g.w_shape()), 61);
  const auto scale = Random(m, 62), bn_scale = Random(m, 63), bn_bias = Random(m, 64), bn_mean = Random(m, 65);
  std::vector<float> bn_var = Random(m, 66);
  for (float& v : bn_var) v = std::fabs(v) + 0.5f;
  GraphBuilder gb;
  graph::Node* conv = gb.Op("Conv", {gb.Input("x", g.x_shape()), gb.Constant("w", g.w_shape(), w)}, g.y_shape());
  SetConvAttrs(conv, g);
  graph::Value* y = conv->outputs[0];
  graph::Node* relu = gb.Op("Relu", {y}, g.y_shape());
  graph::Node* add = gb.Op("Add", {relu->outputs[0], y}, g.y_shape());
  graph::Node* mul = gb.Op("Mul", {add->outputs[0], gb.Constant("s", {1, m, 1, 1}, scale)}, g.y_shape());
  graph::Node* bn = gb.Op("BatchNormalization", {mul->outputs[0], gb.Constant("bs", {m}, bn_scale),
                                                 gb.Constant("bb", {m}, bn_bias), gb.Constant("bm", {m}, bn_mean),
                                                 gb.Constant("bv", {m}, bn_var)}, g.y_shape());
  graph::Node* pool = gb.Op("MaxPool", {bn->outputs[0]}, {1, m, g.h / 2, g.w / 2});
  pool->attributes["kernel_shape"] = Ints({2, 2});
  pool->attributes["strides"] = Ints({2, 2});
  graph::Node* gap = gb.Op("GlobalAveragePool", {pool->outputs[0]}, {1, m, 1, 1});
  gb.Output(gap->outputs[0]);
  gb.Output(bn->outputs[0]);
  auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(g.x_shape(), x)});
  ASSERT_TRUE(out.ok()) << out.status();

  std::vector<float> v = NaiveConv(g, x, w, {});
  for (int64_t c = 0; c < m; ++c)
    for (int64_t i = 0; i < hw; ++i) {
      float& f = v[c * hw + i];
      f = (std::max(f, 0.f) + f) * scale[c];
      f = (f - bn_mean[c]) / std::sqrt(bn_var[c] + 1e-5f) * bn_scale[c] + bn_bias[c];
    }
  std::vector<float> avg(m, 0.f);
  for (int64_t c = 0; c < m; ++c)
    for (int64_t py = 0; py < g.h / 2; ++py)
      for (int64_t px = 0; px < g.w / 2; ++px) {
        float best = -INFINITY;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) best = std::max(best, v[c * hw + (2 * py + dy) * g.w + 2 * px + dx]);
        avg[c] += best / static_cast<float>((g.h / 2) * (g.w / 2));
      }
  ExpectNear((*out)[0], avg, 1e-3f);
  ExpectNear((*out)[1], v, 1e-3f);
}

struct GemmCase {
  bool trans_a = false, trans_b = false, known_b = true;
  Shape c_shape;  // empty: no C; {0}: scalar
  float alpha = 1.f, beta = 1.f;
  bool known_c = true;
};

void RunGemm(const GemmCase& t) {
  const int64_t m = 5, k = 7, n = 6;
  const Shape a_shape = t.trans_a ? Shape{k, m} : Shape{m, k};
  const Shape b_shape = t.trans_b ? Shape{n, k} : Shape{k, n};
  const auto a = Random(m * k, 20), b = Random(k * n, 21);
  const bool has_c = !t.c_shape.empty();
  const Shape c_shape = has_c && t.c_shape[0] == 0 ? Shape{} : t.c_shape;
  const auto c = Random(NumElements(c_shape), 22);
  GraphBuilder gb;
  std::vector<Tensor> inputs = {Tensor::FromVector<float>(a_shape, a)};
  std::vector<graph::Value*> node_in = {gb.Input("a", a_shape)};
  if (t.known_b) {
    node_in.push_back(gb.Constant("b", b_shape, b));
  } else {
    node_in.push_back(gb.Input("b", b_shape));
    inputs.push_back(Tensor::FromVector<float>(b_shape, b));
  }
  if (has_c && t.known_c) node_in.push_back(gb.Constant("c", c_shape, c));
  if (has_c && !t.known_c) {
    node_in.push_back(gb.Input("c", c_shape));
    inputs.push_back(Tensor::FromVector<float>(c_shape, c));
  }
  graph::Node* gemm = gb.Op("Gemm", node_in, {m, n});
  gemm->attributes["transA"] = Int(t.trans_a);
  gemm->attributes["transB"] = Int(t.trans_b);
  gemm->attributes["alpha"] = Float(t.alpha);
  gemm->attributes["beta"] = Float(t.beta);
  gb.Output(gemm->outputs[0]);
  auto out = RunGraph(gb.Take(), inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> want(static_cast<size_t>(m * n));
  Shape c2 = c_shape;
  c2.insert(c2.begin(), 2 - c2.size(), 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        acc += a[t.trans_a ? p * m + i : i * k + p] * b[t.trans_b ? j * k + p : p * n + j];
      }
      double v = t.alpha * acc;
      if (has_c) v += t.beta * c[(c2[0] == 1 ? 0 : i) * c2[1] + (c2[1] == 1 ? 0 : j)];
      want[i * n + j] = static_cast<float>(v);
    }
  ExpectNear((*out)[0], want);
}

TEST(DnnlGemmTest, Transposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool known : {false, true}) {
        SCOPED_TRACE(testing::Message() << "transA=" << ta << " transB=" << tb << " known_b=" << known);
        RunGemm({ta, tb, known, {6}, 1.f, 1.f, true});
      }
}

TEST(DnnlGemmTest, AlphaBetaAndBiasShapes) {
  for (bool known_b : {false, true})
    for (bool known_c : {false, true})
      for (const Shape& c : {Shape{}, Shape{0}, Shape{6}, Shape{1, 6}, Shape{5, 1}, Shape{5, 6}}) {
        SCOPED_TRACE(testing::Message() << "known_b=" << known_b << " known_c=" << known_c << " c=" << ShapeToString(c));
        RunGemm({true, false, known_b, c, 0.5f, 2.f, known_c});
        RunGemm({false, true, known_b, c, 1.f, 0.25f, known_c});
      }
}

TEST(DnnlMatMulTest, BroadcastBatchAndVectors) {
  struct Case {
    Shape a, b, y;
  };
  for (const Case& t : {Case{{2, 1, 3, 4}, {3, 4, 5}, {2, 3, 3, 5}}, Case{{4}, {2, 4, 3}, {2, 3}},
                        Case{{2, 3, 4}, {4}, {2, 3}}, Case{{4}, {4}, {}}}) {
    SCOPED_TRACE(ShapeToString(t.a) + " x " + ShapeToString(t.b));
    const auto a = Random(NumElements(t.a), 30), b = Random(NumElements(t.b), 31);
    GraphBuilder gb;
    graph::Node* mm = gb.Op("MatMul", {gb.Input("a", t.a), gb.Constant("b", t.b, b)}, t.y);
    gb.Output(mm->outputs[0]);
    auto out = RunGraph(gb.Take(), {Tensor::FromVector<float>(t.a, a)});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].shape(), t.y);
    // Reference through explicit 4-D broadcasting: pad both to [B0, B1, M, K] x [B0, B1, K, N].
    Shape a4 = t.a.size() == 1 ? Shape{1, t.a[0]} : t.a, b4 = t.b.size() == 1 ? Shape{t.b[0], 1} : t.b;
    a4.insert(a4.begin(), 4 - a4.size(), 1);
    b4.insert(b4.begin(), 4 - b4.size(), 1);
    const int64_t m = a4[2], k = a4[3], n = b4[3];
    std::vector<float> want;
    for (int64_t i0 = 0; i0 < std::max(a4[0], b4[0]); ++i0)
      for (int64_t i1 = 0; i1 < std::max(a4[1], b4[1]); ++i1)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            const int64_t ab = ((a4[0] == 1 ? 0 : i0) * a4[1] + (a4[1] == 1 ? 0 : i1)) * m * k;
            const int64_t bb = ((b4[0] == 1 ? 0 : i0) * b4[1] + (b4[1] == 1 ? 0 : i1)) * k * n;
            double acc = 0;
            for (int64_t p = 0; p < k; ++p) acc += a[ab + i * k + p] * b[bb + p * n + j];
            want.push_back(static_cast<float>(acc));
          }
    ExpectNear((*out)[0], want);
  }
}

// Not a test: GFLOP/s of one 3x3 convolution (64 -> 64 channels at 20x61, batch 1 and 8) on one
// thread. Run with --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST(DnnlConvTest, DISABLED_Conv3x3Throughput) {
  for (int64_t batch : {1, 8}) {
    ConvGeom g;
    g.n = batch;
    g.c = g.m = 64;
    g.h = 20;
    g.w = 61;
    GraphBuilder gb;
    graph::Node* conv = gb.Op("Conv", {gb.Input("x", g.x_shape()),
                                       gb.Constant("w", g.w_shape(), Random(NumElements(g.w_shape()), 40))},
                              g.y_shape());
    SetConvAttrs(conv, g);
    graph::Node* relu = gb.Op("Relu", {conv->outputs[0]}, g.y_shape());
    gb.Output(relu->outputs[0]);
    SessionOptions options;
    options.threads = 1;
    auto session = Session::Create(gb.Take(), options);
    ASSERT_TRUE(session.ok());
    std::vector<Tensor> in = {Tensor::FromVector<float>(g.x_shape(), Random(NumElements(g.x_shape()), 41))};
    std::vector<Tensor> out;
    ASSERT_TRUE((*session)->Run(in, out).ok());
    // The fastest of many runs: the machine may be shared, and the best run is the kernel's speed.
    const auto [wall, cpu] = BestTimes(300, [&] { (void)(*session)->Run(in, out); });
    const double flops = 2.0 * NumElements(g.y_shape()) * g.c * g.kh * g.kw;
    std::printf("conv3x3+relu 64->64 20x61 batch %lld: %.1f us wall, %.1f GFLOP/s wall, %.1f GFLOP/s cpu "
                "(1 thread, incl. boundary reorders)\n",
                static_cast<long long>(batch), wall * 1e6, flops / wall * 1e-9, flops / cpu * 1e-9);
  }
}

const std::string kVoiceDir = std::string(PEREGRINE_SOURCE_DIR) + "/examples/";

// The committed small voice-verification ResNet (bottleneck blocks, folded BatchNorm, residual Adds)
// against PyTorch's outputs.
TEST(DnnlModelTest, SmallVoiceResNetMatchesPyTorch) {
  for (const char* batch : {"batch1", "batch4"}) {
    SCOPED_TRACE(batch);
    auto session = Session::Create(kVoiceDir + "models/voice-verification-small/1/model.onnx", SessionOptions{});
    ASSERT_TRUE(session.ok()) << session.status();
    const std::string ref = kVoiceDir + "voice-verification/reference/small/" + batch;
    auto mfcc = ReadNpy(ref + "_mfcc.npy");
    auto score = ReadNpy(ref + "_score.npy");
    ASSERT_TRUE(mfcc.ok() && score.ok());
    std::vector<Tensor> out;
    ASSERT_TRUE((*session)->Run(std::vector<Tensor>{*mfcc}, out).ok());
    auto want = score->values<float>();
    ExpectNear(out[0], std::vector<float>(want.begin(), want.end()), 1e-3f);
  }
}

// Not a test: milliseconds and GFLOP/s of the full voice-verification ResNet (2.94 GMAC per
// sample) on one thread, when the generated model exists. Run like DISABLED_Conv3x3Throughput.
TEST(DnnlModelTest, DISABLED_VoiceResNetThroughput) {
  const std::string path = kVoiceDir + "models/voice-verification/1/model.onnx";
  SessionOptions options;
  options.threads = 1;
  auto session = Session::Create(path, options);
  if (!session.ok()) GTEST_SKIP() << session.status();
  for (int64_t batch : {1, 8}) {
    std::vector<Tensor> in = {Tensor::FromVector<float>({batch, 1, 40, 241}, Random(batch * 40 * 241, 50))};
    std::vector<Tensor> out;
    ASSERT_TRUE((*session)->Run(in, out).ok());
    const auto [wall, cpu] = BestTimes(5, [&] { (void)(*session)->Run(in, out); });
    const PlanStats stats = (*session)->last_plan_stats();
    const double flops = 2 * 2.94e9 * static_cast<double>(batch);
    std::printf("voice ResNet batch %lld: %.1f ms wall, %.1f ms cpu, %.1f GFLOP/s cpu (1 thread; %zu steps, %zu reorders)\n",
                static_cast<long long>(batch), wall * 1e3, cpu * 1e3, flops / cpu * 1e-9, stats.steps, stats.reorders);
  }
}

}  // namespace
}  // namespace peregrine::engine
