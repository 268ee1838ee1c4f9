// Tests of the portable (ref) kernels' trickier semantics, driving their factories through the
// KernelRegistry directly: a one-node graph is built by hand, compiled with a CompileContext, and
// run with a RunContext.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/kernel.h"
#include "engine/kernel_registry.h"
#include "graph/ir.h"
#include "tensor/tensor.h"

namespace peregrine::engine {
namespace {

graph::Attribute Int(int64_t v) {
  graph::Attribute a;
  a.kind = graph::Attribute::Kind::kInt;
  a.i = v;
  return a;
}
graph::Attribute Float(float v) {
  graph::Attribute a;
  a.kind = graph::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
graph::Attribute Ints(std::vector<int64_t> v) {
  graph::Attribute a;
  a.kind = graph::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
graph::Attribute Str(std::string v) {
  graph::Attribute a;
  a.kind = graph::Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

// One op, compiled with the portable kernel and run once.
struct OpCase {
  OpCase(std::string op_type, std::vector<Tensor> in, std::map<std::string, graph::Attribute> attrs = {})
      : op(std::move(op_type)), inputs(std::move(in)), attributes(std::move(attrs)) {}

  std::string op;
  std::vector<Tensor> inputs;  // a default Tensor() marks an omitted input
  std::map<std::string, graph::Attribute> attributes;
  int opset = 13;
  int threads = 1;
  size_t outputs = 1;
  bool all_known = false;  // mark every input as known (value_inputs always are)

  absl::StatusOr<std::vector<Tensor>> Run() const {
    graph::Graph g;
    g.opset = opset;
    graph::Node* node = g.AddNode(op, "node_under_test");
    node->attributes = attributes;
    for (size_t i = 0; i < inputs.size(); ++i) {
      node->inputs.push_back(inputs[i].dtype() == DataType::kUndefined
                                 ? nullptr
                                 : g.AddValue("in" + std::to_string(i), inputs[i].dtype()));
    }
    for (size_t i = 0; i < outputs; ++i) node->outputs.push_back(g.AddValue("out" + std::to_string(i)));

    const KernelInfo* ref = nullptr;
    for (const KernelInfo& info : KernelRegistry::Global().Find(op)) {
      if (info.priority == kPriorityRef) ref = &info;
    }
    if (ref == nullptr) return absl::NotFoundError("no ref kernel for " + op);
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    CompileContext ctx{*node, {}, engine, opset, threads};
    for (size_t i = 0; i < inputs.size(); ++i) {
      KernelInput in;
      if (inputs[i].dtype() != DataType::kUndefined) {
        in.desc.dtype = inputs[i].dtype();
        in.desc.shape = inputs[i].shape();
        bool known = all_known;
        for (int v : ref->value_inputs) known = known || static_cast<size_t>(v) == i;
        if (known) in.value = &inputs[i];
      }
      ctx.inputs.push_back(in);
    }
    ASSIGN_OR_RETURN(CompiledKernel compiled, ref->factory(ctx));
    if (compiled.outputs.size() != outputs) return absl::InternalError("wrong output count");
    std::vector<Tensor> results;
    std::vector<void*> in_ptrs, out_ptrs;
    for (const Tensor& t : inputs) in_ptrs.push_back(const_cast<void*>(t.data()));
    for (const TensorDesc& d : compiled.outputs) {
      results.push_back(d.present() ? Tensor::Zeros(d.dtype, d.shape) : Tensor());
      out_ptrs.push_back(results.back().data());
    }
    std::shared_ptr<void> scratch = AllocateAligned(compiled.scratch_bytes);
    dnnl::stream stream(engine);
    RunContext run(in_ptrs.data(), in_ptrs.size(), out_ptrs.data(), out_ptrs.size(), scratch.get(), &stream);
    RETURN_IF_ERROR(compiled.kernel->Run(run));
    return results;
  }
};

template <typename T>
Tensor T_(Shape shape, std::vector<T> values) {
  return Tensor::FromVector<T>(std::move(shape), values);
}
Tensor I64(std::vector<int64_t> v) { return T_<int64_t>({static_cast<int64_t>(v.size())}, v); }

template <typename T>
std::vector<T> Values(const Tensor& t) {
  auto s = t.values<T>();
  return {s.begin(), s.end()};
}

std::vector<Tensor> MustRun(const OpCase& c) {
  absl::StatusOr<std::vector<Tensor>> r = c.Run();
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<Tensor>{};
}

TEST(RefElementwise, BroadcastsBothWays) {
  auto out = MustRun({"Add", {T_<float>({2, 1}, {10, 20}), T_<float>({1, 3}, {1, 2, 3})}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{11, 12, 13, 21, 22, 23}));
}

TEST(RefElementwise, BroadcastsScalarAndMiddleAxis) {
  auto out = MustRun({"Mul", {T_<int32_t>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), T_<int32_t>({2, 1}, {10, 100})}});
  EXPECT_EQ(Values<int32_t>(out[0]), (std::vector<int32_t>{10, 20, 300, 400, 50, 60, 700, 800}));
  out = MustRun({"Sub", {Tensor::Scalar<double>(1.0), T_<double>({3}, {1, 2, 3})}});
  EXPECT_EQ(Values<double>(out[0]), (std::vector<double>{0, -1, -2}));
}

TEST(RefElementwise, IncompatibleShapesAreInvalid) {
  auto r = OpCase{"Add", {T_<float>({2, 3}, {1, 2, 3, 4, 5, 6}), T_<float>({2}, {1, 2})}}.Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("node_under_test"), std::string::npos);
}

TEST(RefElementwise, LegacyOpset6BroadcastAlignsAtAxis) {
  OpCase add{"Add", {T_<float>({2, 3, 2}, std::vector<float>(12, 0)), T_<float>({3}, {1, 2, 3})},
             {{"broadcast", Int(1)}, {"axis", Int(1)}}};
  add.opset = 6;
  EXPECT_EQ(Values<float>(MustRun(add)[0]), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  OpCase prelu{"PRelu", {T_<float>({1, 2, 2}, {-1, -1, -1, 4}), T_<float>({2}, {2, 3})}};
  prelu.opset = 6;
  EXPECT_EQ(Values<float>(MustRun(prelu)[0]), (std::vector<float>{-2, -2, -3, 4}));
}

TEST(RefElementwise, IntegerDivisionTruncatesAndNeverTraps) {
  auto out = MustRun({"Div", {T_<int32_t>({6}, {7, -7, 7, -7, 5, std::numeric_limits<int32_t>::min()}),
                              T_<int32_t>({6}, {2, 2, -2, -2, 0, -1})}});
  EXPECT_EQ(Values<int32_t>(out[0]), (std::vector<int32_t>{3, -3, -3, 3, 0, std::numeric_limits<int32_t>::min()}));
}

TEST(RefElementwise, ModFollowsDivisorSignUnlessFmod) {
  auto py = MustRun({"Mod", {T_<int64_t>({4}, {7, -7, 7, -7}), T_<int64_t>({4}, {3, 3, -3, -3})}});
  EXPECT_EQ(Values<int64_t>(py[0]), (std::vector<int64_t>{1, 2, -2, -1}));
  auto c = MustRun({"Mod", {T_<float>({2}, {-7.5f, 7.5f}), T_<float>({2}, {2, -2})}, {{"fmod", Int(1)}}});
  EXPECT_EQ(Values<float>(c[0]), (std::vector<float>{-1.5f, 1.5f}));
}

TEST(RefElementwise, PowMixedTypes) {
  auto f = MustRun({"Pow", {T_<float>({3}, {2, 3, 4}), T_<int64_t>({1}, {2})}});
  EXPECT_EQ(Values<float>(f[0]), (std::vector<float>{4, 9, 16}));
  auto i = MustRun({"Pow", {T_<int32_t>({3}, {1, 2, 3}), T_<int32_t>({3}, {4, 5, 6})}});
  EXPECT_EQ(Values<int32_t>(i[0]), (std::vector<int32_t>{1, 32, 729}));
}

TEST(RefElementwise, CompareAndWhereBroadcast) {
  auto cmp = MustRun({"Less", {T_<int32_t>({3}, {1, 5, 3}), Tensor::Scalar<int32_t>(3)}});
  EXPECT_EQ(cmp[0].dtype(), DataType::kBool);
  EXPECT_EQ(Values<bool>(cmp[0]), (std::vector<bool>{true, false, false}));
  auto w = MustRun({"Where", {T_<bool>({2, 1}, {true, false}), T_<float>({3}, {1, 2, 3}), Tensor::Scalar<float>(-1)}});
  EXPECT_EQ(w[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(w[0]), (std::vector<float>{1, 2, 3, -1, -1, -1}));
}

TEST(RefElementwise, VariadicMeanAndMax) {
  auto mean = MustRun({"Mean", {T_<float>({2}, {1, 2}), T_<float>({1}, {4}), T_<float>({2}, {1, 6})}});
  EXPECT_EQ(Values<float>(mean[0]), (std::vector<float>{2, 4}));
  auto max = MustRun({"Max", {T_<int64_t>({3}, {1, 9, 3})}});
  EXPECT_EQ(Values<int64_t>(max[0]), (std::vector<int64_t>{1, 9, 3}));
}

TEST(RefElementwise, UnaryAndClip) {
  auto relu = MustRun({"LeakyRelu", {T_<float>({3}, {-2, 0, 3})}, {{"alpha", Float(0.5f)}}});
  EXPECT_EQ(Values<float>(relu[0]), (std::vector<float>{-1, 0, 3}));
  auto clip11 = MustRun({"Clip", {T_<int32_t>({4}, {-5, 0, 5, 10}), Tensor::Scalar<int32_t>(0), Tensor()}});
  EXPECT_EQ(Values<int32_t>(clip11[0]), (std::vector<int32_t>{0, 0, 5, 10}));
  OpCase clip6{"Clip", {T_<float>({3}, {-5, 0, 5})}, {{"min", Float(-1)}, {"max", Float(1)}}};
  clip6.opset = 6;
  EXPECT_EQ(Values<float>(MustRun(clip6)[0]), (std::vector<float>{-1, 0, 1}));
}

TEST(RefElementwise, CastTruncatesAndConvertsHalf) {
  OpCase to_int{"Cast", {T_<float>({4}, {1.9f, -1.9f, 0.0f, NAN})}, {{"to", Int(6)}}};
  EXPECT_EQ(Values<int32_t>(MustRun(to_int)[0]), (std::vector<int32_t>{1, -1, 0, 0}));
  OpCase to_bool{"Cast", {T_<float>({3}, {0.0f, 0.5f, -2.0f})}, {{"to", Int(9)}}};
  EXPECT_EQ(Values<bool>(MustRun(to_bool)[0]), (std::vector<bool>{false, true, true}));
  OpCase to_half{"Cast", {T_<float>({4}, {1.0f, -2.5f, 65504.0f, 1e6f})}, {{"to", Int(10)}}};
  Tensor half = MustRun(to_half)[0];
  EXPECT_EQ(Values<uint16_t>(half), (std::vector<uint16_t>{0x3c00, 0xc100, 0x7bff, 0x7c00}));
  OpCase back{"Cast", {half}, {{"to", Int(1)}}};
  std::vector<float> f = Values<float>(MustRun(back)[0]);
  EXPECT_EQ(f[1], -2.5f);
  EXPECT_TRUE(std::isinf(f[3]));
}

TEST(RefElementwise, ParallelPathMatchesSerial) {
  const int64_t n = 300000;
  std::vector<float> a(n), b(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i % 1000);
    b[i] = 0.5f;
  }
  OpCase c{"Add", {T_<float>({3, n / 3}, a), T_<float>({1}, {0.5f})}};
  c.threads = 4;
  std::vector<float> out = Values<float>(MustRun(c)[0]);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + 0.5f) << i;
}

TEST(RefShape, ReshapeZeroAndMinusOne) {
  std::vector<float> v(24);
  auto out = MustRun({"Reshape", {T_<float>({2, 3, 4}, v), I64({0, -1})}});
  EXPECT_EQ(out[0].shape(), (Shape{2, 12}));
  OpCase zero{"Reshape", {T_<float>({0, 3}, {}), I64({0, 3})}, {{"allowzero", Int(1)}}};
  zero.opset = 14;
  EXPECT_EQ(MustRun(zero)[0].shape(), (Shape{0, 3}));
  auto bad = OpCase{"Reshape", {T_<float>({2, 3}, {1, 2, 3, 4, 5, 6}), I64({4, -1})}}.Run();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RefShape, SliceNegativeStepsAndClamping) {
  std::vector<int32_t> v(10);
  for (int i = 0; i < 10; ++i) v[i] = i;
  auto out = MustRun({"Slice", {T_<int32_t>({10}, v), I64({-1}), I64({std::numeric_limits<int64_t>::min()}), I64({0}),
                                I64({-3})}});
  EXPECT_EQ(Values<int32_t>(out[0]), (std::vector<int32_t>{9, 6, 3, 0}));
  out = MustRun({"Slice", {T_<int32_t>({2, 5}, v), I64({1, 100}), I64({1000, -100}), I64({0, 1}), I64({1, -2})}});
  EXPECT_EQ(out[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(Values<int32_t>(out[0]), (std::vector<int32_t>{9, 7, 5}));
  OpCase v1{"Slice", {T_<int32_t>({2, 5}, v)}, {{"starts", Ints({1})}, {"ends", Ints({3})}, {"axes", Ints({-1})}}};
  v1.opset = 9;
  EXPECT_EQ(Values<int32_t>(MustRun(v1)[0]), (std::vector<int32_t>{1, 2, 6, 7}));
}

TEST(RefShape, GatherNegativeIndexAndOutOfRangeError) {
  auto out = MustRun({"Gather", {T_<float>({3, 2}, {1, 2, 3, 4, 5, 6}), T_<int64_t>({2}, {-1, 0})}});
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{5, 6, 1, 2}));
  out = MustRun({"Gather", {T_<float>({3, 2}, {1, 2, 3, 4, 5, 6}), Tensor::Scalar<int32_t>(1)}, {{"axis", Int(1)}}});
  EXPECT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{2, 4, 6}));
  auto bad = OpCase{"Gather", {T_<float>({3, 2}, {1, 2, 3, 4, 5, 6}), T_<int64_t>({1}, {3})}}.Run();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("node_under_test"), std::string::npos);
  auto bad_elems = OpCase{"GatherElements", {T_<float>({2, 2}, {1, 2, 3, 4}), T_<int64_t>({2, 2}, {0, 1, 2, 0})}}.Run();
  EXPECT_FALSE(bad_elems.ok());
}

TEST(RefShape, GatherElementsAlongAxis1) {
  auto out = MustRun({"GatherElements", {T_<int32_t>({2, 2}, {1, 2, 3, 4}), T_<int64_t>({2, 2}, {0, 0, 1, 0})},
                      {{"axis", Int(1)}}});
  EXPECT_EQ(Values<int32_t>(out[0]), (std::vector<int32_t>{1, 1, 4, 3}));
}

TEST(RefShape, TransposeExpandTile) {
  auto t = MustRun({"Transpose", {T_<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_EQ(t[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(Values<int32_t>(t[0]), (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
  auto e = MustRun({"Expand", {T_<int32_t>({3, 1}, {1, 2, 3}), I64({2, 1, 2})}});
  EXPECT_EQ(e[0].shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(Values<int32_t>(e[0]), (std::vector<int32_t>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  auto tile = MustRun({"Tile", {T_<int32_t>({2, 2}, {1, 2, 3, 4}), I64({2, 2})}});
  EXPECT_EQ(Values<int32_t>(tile[0]), (std::vector<int32_t>{1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4}));
}

TEST(RefShape, ConcatSplitSqueeze) {
  auto c = MustRun({"Concat", {T_<int32_t>({2, 1}, {1, 2}), T_<int32_t>({2, 2}, {3, 4, 5, 6})}, {{"axis", Int(-1)}}});
  EXPECT_EQ(Values<int32_t>(c[0]), (std::vector<int32_t>{1, 3, 4, 2, 5, 6}));
  OpCase split{"Split", {c[0], I64({1, 2})}, {{"axis", Int(1)}}};
  split.outputs = 2;
  auto s = MustRun(split);
  EXPECT_EQ(Values<int32_t>(s[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(Values<int32_t>(s[1]), (std::vector<int32_t>{3, 4, 5, 6}));
  auto sq = MustRun({"Squeeze", {T_<float>({1, 3, 1}, {1, 2, 3}), I64({-1})}});
  EXPECT_EQ(sq[0].shape(), (Shape{1, 3}));
  OpCase unsq{"Unsqueeze", {T_<float>({3}, {1, 2, 3})}, {{"axes", Ints({0, -1})}}};
  unsq.opset = 11;
  EXPECT_EQ(MustRun(unsq)[0].shape(), (Shape{1, 3, 1}));
}

TEST(RefShape, PadModes) {
  const Tensor x = T_<float>({1, 3}, {1, 2, 3});
  auto reflect = MustRun({"Pad", {x, I64({0, 2, 0, 1})}, {{"mode", Str("reflect")}}});
  EXPECT_EQ(Values<float>(reflect[0]), (std::vector<float>{3, 2, 1, 2, 3, 2}));
  auto edge = MustRun({"Pad", {x, I64({1, 1, 0, 0})}, {{"mode", Str("edge")}}});
  EXPECT_EQ(Values<float>(edge[0]), (std::vector<float>{1, 1, 2, 3, 1, 1, 2, 3}));
  auto constant = MustRun({"Pad", {x, I64({0, 1, 0, -1}), Tensor::Scalar<float>(9)}});
  EXPECT_EQ(Values<float>(constant[0]), (std::vector<float>{9, 1, 2}));
}

TEST(RefShape, ConstantsAndRange) {
  auto shape = MustRun({"Shape", {T_<float>({2, 3, 4}, std::vector<float>(24))}, {{"start", Int(-2)}}});
  EXPECT_EQ(Values<int64_t>(shape[0]), (std::vector<int64_t>{3, 4}));
  auto range = MustRun({"Range", {Tensor::Scalar<int32_t>(10), Tensor::Scalar<int32_t>(4), Tensor::Scalar<int32_t>(-3)}});
  EXPECT_EQ(Values<int32_t>(range[0]), (std::vector<int32_t>{10, 7}));
  auto fill = MustRun({"ConstantOfShape", {I64({2, 2})}});
  EXPECT_EQ(Values<float>(fill[0]), (std::vector<float>{0, 0, 0, 0}));
}

TEST(RefReduce, NonAdjacentAxesAndKeepdims) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  OpCase c{"ReduceSum", {T_<float>({2, 3, 4}, v), I64({0, 2})}, {{"keepdims", Int(0)}}};
  auto out = MustRun(c);
  EXPECT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
                                                      8 + 9 + 10 + 11 + 20 + 21 + 22 + 23}));
  OpCase mean{"ReduceMean", {T_<float>({2, 3, 4}, v)}, {{"axes", Ints({1})}}};
  mean.opset = 11;
  auto m = MustRun(mean);
  EXPECT_EQ(m[0].shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(Values<float>(m[0])[0], 4.0f);
  OpCase noop{"ReduceSum", {T_<float>({2}, {1, 2}), I64({})}, {{"noop_with_empty_axes", Int(1)}}};
  EXPECT_EQ(Values<float>(MustRun(noop)[0]), (std::vector<float>{1, 2}));
}

TEST(RefReduce, ArgMaxSelectLastAndSoftmaxOpsets) {
  auto first = MustRun({"ArgMax", {T_<int32_t>({4}, {1, 3, 3, 0})}, {{"keepdims", Int(0)}}});
  EXPECT_EQ(Values<int64_t>(first[0]), (std::vector<int64_t>{1}));
  auto last = MustRun({"ArgMax", {T_<int32_t>({4}, {1, 3, 3, 0})}, {{"select_last_index", Int(1)}}});
  EXPECT_EQ(Values<int64_t>(last[0]), (std::vector<int64_t>{2}));
  // [2, 2]: opset 13 normalises along axis 0 (columns); opset 11 with axis 0 over everything.
  const Tensor x = T_<float>({2, 2}, {0, 0, 0, 0});
  auto s13 = MustRun({"Softmax", {x}, {{"axis", Int(0)}}});
  EXPECT_FLOAT_EQ(Values<float>(s13[0])[0], 0.5f);
  OpCase s11{"Softmax", {x}, {{"axis", Int(0)}}};
  s11.opset = 11;
  EXPECT_FLOAT_EQ(Values<float>(MustRun(s11)[0])[0], 0.25f);
}

}  // namespace
}  // namespace peregrine::engine
