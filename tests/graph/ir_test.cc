#include "graph/ir.h"

#include <gtest/gtest.h>

#include "graph/passes.h"

namespace peregrine::graph {
namespace {

// x -> Conv(w, b) -> BatchNormalization -> Add(skip) -> Relu -> y
struct ConvBlock {
  Graph g;
  Value* x;
  Value* skip;
  Value* y;
  ConvBlock() {
    g.opset = 13;
    x = g.AddValue("x", DataType::kFloat32);
    x->shape = std::vector<Dim>{{-1, "batch"}, {2, ""}, {4, ""}, {4, ""}};
    skip = g.AddValue("skip", DataType::kFloat32);
    skip->shape = std::vector<Dim>{{-1, "batch"}, {3, ""}, {4, ""}, {4, ""}};
    g.inputs = {x, skip};
    Value* w = g.AddConstant("w", Tensor::FromVector<float>({3, 2, 1, 1}, {1, 2, 3, 4, 5, 6}));
    Value* b = g.AddConstant("b", Tensor::FromVector<float>({3}, {0.5f, -1, 2}));
    Node* conv = g.AddNode("Conv", "conv");
    Value* c = g.AddValue("c", DataType::kFloat32);
    c->shape = skip->shape;
    conv->inputs = {x, w, b};
    conv->outputs = {c};
    c->producer = conv;
    Node* bn = g.AddNode("BatchNormalization", "bn");
    Value* n = g.AddValue("n", DataType::kFloat32);
    n->shape = skip->shape;
    bn->inputs = {c, g.AddConstant("s", Tensor::FromVector<float>({3}, {2, 1, 0.5f})),
                  g.AddConstant("t", Tensor::FromVector<float>({3}, {0, 1, 0})),
                  g.AddConstant("m", Tensor::FromVector<float>({3}, {1, 0, -1})),
                  g.AddConstant("v", Tensor::FromVector<float>({3}, {4, 1, 0.25f}))};
    bn->attributes["epsilon"].f = 0;
    bn->attributes["epsilon"].kind = Attribute::Kind::kFloat;
    bn->outputs = {n};
    n->producer = bn;
    Node* add = g.AddNode("Add", "add");
    Value* a = g.AddValue("a", DataType::kFloat32);
    a->shape = skip->shape;
    add->inputs = {n, skip};
    add->outputs = {a};
    a->producer = add;
    Node* relu = g.AddNode("Relu", "relu");
    y = g.AddValue("y", DataType::kFloat32);
    relu->inputs = {a};
    relu->outputs = {y};
    y->producer = relu;
    g.outputs = {y};
  }
};

TEST(PassesTest, FoldsBatchNormAndFusesAddAndRelu) {
  ConvBlock block;
  PassStats stats = RunFusionPasses(block.g);
  EXPECT_EQ(stats.batchnorms_folded, 1);
  EXPECT_EQ(stats.adds_fused, 1);
  EXPECT_EQ(stats.activations_fused, 1);
  ASSERT_EQ(block.g.nodes().size(), 1u);
  const Node& conv = *block.g.nodes()[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.outputs[0], block.y) << "the graph output keeps its name";
  ASSERT_EQ(conv.post_ops.size(), 2u);
  EXPECT_EQ(conv.post_ops[0].kind, PostOp::Kind::kSum);
  EXPECT_EQ(conv.inputs[conv.post_ops[0].input_index], block.skip);
  EXPECT_EQ(conv.post_ops[1].activation, "Relu");
  // Channel 0: scale 2 / sqrt(4) = 1, bias (0.5 - 1) * 1 + 0 = -0.5; weights unchanged.
  const Tensor& w = *conv.inputs[1]->constant;
  const Tensor& b = *conv.inputs[2]->constant;
  EXPECT_FLOAT_EQ(w.data_as<float>()[0], 1.f);
  EXPECT_FLOAT_EQ(b.data_as<float>()[0], -0.5f);
  // Channel 2: scale 0.5 / sqrt(0.25) = 1, bias (2 + 1) * 1 = 3.
  EXPECT_FLOAT_EQ(b.data_as<float>()[2], 3.f);
}

TEST(PassesTest, DoesNotFuseAValueReadTwice) {
  ConvBlock block;
  // A second reader of the BN output keeps the Add from being fused into the Conv.
  Node* extra = block.g.AddNode("Relu", "extra");
  Value* e = block.g.AddValue("e", DataType::kFloat32);
  extra->inputs = {block.g.FindValue("n")};
  extra->outputs = {e};
  e->producer = extra;
  block.g.outputs.push_back(e);
  PassStats stats = RunFusionPasses(block.g);
  EXPECT_EQ(stats.adds_fused, 0);
  EXPECT_EQ(stats.batchnorms_folded, 1);
}

TEST(GraphTest, TopologicalSortOrdersAndDetectsCycles) {
  Graph g;
  Value* x = g.AddValue("x");
  Value* a = g.AddValue("a");
  Value* b = g.AddValue("b");
  Node* second = g.AddNode("Relu", "second");
  second->inputs = {a};
  second->outputs = {b};
  Node* first = g.AddNode("Relu", "first");
  first->inputs = {x};
  first->outputs = {a};
  g.inputs = {x};
  g.outputs = {b};
  ASSERT_TRUE(g.TopologicalSort().ok());
  EXPECT_EQ(g.nodes()[0]->name, "first");
  first->inputs = {b};  // now a cycle
  EXPECT_FALSE(g.TopologicalSort().ok());
}

TEST(GraphTest, RemoveDeadNodesKeepsWhatOutputsNeed) {
  Graph g;
  Value* x = g.AddValue("x");
  Value* used = g.AddValue("used");
  Value* unused = g.AddValue("unused");
  Node* keep = g.AddNode("Relu", "keep");
  keep->inputs = {x};
  keep->outputs = {used};
  Node* drop = g.AddNode("Relu", "drop");
  drop->inputs = {x};
  drop->outputs = {unused};
  g.inputs = {x};
  g.outputs = {used};
  g.RemoveDeadNodes();
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.nodes()[0]->name, "keep");
  EXPECT_EQ(g.FindValue("unused"), nullptr);
  EXPECT_EQ(g.UniqueName("used"), "used_1");
}

}  // namespace
}  // namespace peregrine::graph
