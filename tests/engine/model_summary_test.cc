#include "engine/model_summary.h"

#include <gtest/gtest.h>

namespace peregrine::engine {
namespace {

using graph::Dim;
using graph::Graph;
using graph::Node;
using graph::Value;

struct GraphBuilder {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  GraphBuilder() {
    g->name = "test \"model\"";
    g->opset = 13;
  }

  Value* Input(const std::string& name, std::vector<Dim> shape) {
    Value* v = g->AddValue(name, DataType::kFloat32);
    v->shape = std::move(shape);
    g->inputs.push_back(v);
    return v;
  }
  Value* Weights(const std::string& name, Shape shape) {
    return g->AddConstant(name, Tensor::FromVector<float>(shape, std::vector<float>(NumElements(shape), 0.5f)));
  }
  // One node with one output of the given (inferred) shape.
  Node* Op(const std::string& op, const std::string& name, std::vector<Value*> inputs, std::vector<Dim> out_shape) {
    Node* n = g->AddNode(op, name);
    n->inputs = std::move(inputs);
    Value* out = g->AddValue(name + "_out", DataType::kFloat32);
    out->shape = std::move(out_shape);
    out->producer = n;
    n->outputs = {out};
    return n;
  }
};

// x[N, 2, 4, 4] -> Conv(3 filters 3x3, pads 1, bias) -> Relu -> y[N, 3, 4, 4]
std::unique_ptr<Graph> ConvRelu() {
  GraphBuilder b;
  Value* x = b.Input("x", {{-1, "N"}, {2, ""}, {4, ""}, {4, ""}});
  std::vector<Dim> out_shape = {{-1, "N"}, {3, ""}, {4, ""}, {4, ""}};
  Node* conv = b.Op("Conv", "conv", {x, b.Weights("w", {3, 2, 3, 3}), b.Weights("b", {3})}, out_shape);
  conv->attributes["pads"].kind = graph::Attribute::Kind::kInts;
  conv->attributes["pads"].ints = {1, 1, 1, 1};
  Node* relu = b.Op("Relu", "relu", {conv->output(0)}, out_shape);
  b.g->outputs = {relu->output(0)};
  return std::move(b.g);
}

TEST(ModelSummaryTest, EstimatesConvAndElementwiseFlopsWithSymbolicDims) {
  auto graph = ConvRelu();
  // |Y| = 2*3*4*4 = 96 outputs, each a dot product over 2*3*3 = 18 weights, plus the bias add.
  FlopsEstimate flops = EstimateFlops(*graph, {{"N", 2}}, 1);
  EXPECT_DOUBLE_EQ(flops.by_op["Conv"], 2 * 96 * 18 + 96);
  EXPECT_DOUBLE_EQ(flops.by_op["Relu"], 96);
  EXPECT_DOUBLE_EQ(flops.total, 2 * 96 * 18 + 96 + 96);
  EXPECT_EQ(flops.nodes_estimated, 2);
  EXPECT_EQ(flops.nodes_unknown, 0);
  // Unlisted symbols take the default.
  EXPECT_DOUBLE_EQ(EstimateFlops(*graph, {}, 1).total, (2 * 48 * 18 + 48 + 48));
}

TEST(ModelSummaryTest, CountsNodesWhoseShapesAreUnknown) {
  GraphBuilder b;
  Value* x = b.Input("x", {{-1, "N"}, {4, ""}});
  Node* a = b.Op("MatMul", "mm", {x, b.Weights("w", {4, 5})}, {{-1, "unk__0"}, {5, ""}});
  b.g->outputs = {a->output(0)};
  FlopsEstimate flops = EstimateFlops(*b.g, {}, 1);
  EXPECT_EQ(flops.nodes_unknown, 1);
  EXPECT_EQ(flops.total, 0);
}

TEST(ModelSummaryTest, GemmAndLstmFlops) {
  GraphBuilder b;
  Value* x = b.Input("x", {{3, ""}, {2, ""}, {4, ""}});  // seq 3, batch 2, input 4
  Node* lstm = b.Op("LSTM", "lstm", {x, b.Weights("W", {1, 20, 4}), b.Weights("R", {1, 20, 5})},
                    {{3, ""}, {1, ""}, {2, ""}, {5, ""}});
  Value* a = b.Input("a", {{2, ""}, {4, ""}});
  Node* gemm = b.Op("Gemm", "fc", {a, b.Weights("B", {4, 6})}, {{2, ""}, {6, ""}});
  b.g->outputs = {lstm->output(0), gemm->output(0)};
  FlopsEstimate flops = EstimateFlops(*b.g, {}, 1);
  EXPECT_DOUBLE_EQ(flops.by_op["Gemm"], 2 * 2 * 6 * 4);
  // Per step: 2*B*4H*(I+H) for the gates plus 8*B*H pointwise; no bias input.
  EXPECT_DOUBLE_EQ(flops.by_op["LSTM"], 3 * (2.0 * 2 * 20 * (4 + 5) + 8 * 2 * 5));
}

TEST(ModelSummaryTest, SummarizesOptimisesAndCompiles) {
  ModelSummaryOptions options;
  options.dims = {{"N", 2}};
  auto summary = SummarizeModel(ConvRelu(), options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->opset, 13);
  ASSERT_EQ(summary->inputs.size(), 1u);
  EXPECT_EQ(DimsToString(summary->inputs[0].shape), "[N, 2, 4, 4]");
  EXPECT_EQ(summary->dims_used, (std::map<std::string, int64_t>{{"N", 2}}));
  EXPECT_EQ(summary->ops_in_file, (std::map<std::string, int>{{"Conv", 1}, {"Relu", 1}}));
  EXPECT_EQ(summary->ops_optimized, (std::map<std::string, int>{{"Conv", 1}}));
  EXPECT_EQ(summary->optimize.passes.activations_fused, 1);
  EXPECT_EQ(summary->initializers, 2);
  EXPECT_EQ(summary->parameters, 54 + 3);
  EXPECT_EQ(summary->parameter_bytes, 4 * 57);
  EXPECT_TRUE(summary->unsupported.empty());
  EXPECT_TRUE(summary->compiled) << summary->compile_error;
  EXPECT_GE(summary->plan.steps, 1u);
  EXPECT_GT(summary->plan.arena_bytes + summary->plan.steps, 0u);
  EXPECT_GE(summary->constant_bytes, 54u * sizeof(float));  // the Conv's weights, in the kernel's layout
}

TEST(ModelSummaryTest, ReportsUnsupportedOpsAndTheCompileError) {
  GraphBuilder b;
  Value* x = b.Input("x", {{2, ""}});
  Node* n = b.Op("NoSuchOp", "mystery", {x}, {{2, ""}});
  b.g->outputs = {n->output(0)};
  auto summary = SummarizeModel(std::move(b.g), {});
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->unsupported.size(), 1u);
  EXPECT_EQ(summary->unsupported[0].op_type, "NoSuchOp");
  EXPECT_EQ(summary->unsupported[0].node_name, "mystery");
  EXPECT_FALSE(summary->compiled);
  EXPECT_NE(summary->compile_error.find("mystery"), std::string::npos) << summary->compile_error;
}

TEST(ModelSummaryTest, RefusesHugeInputsWithoutAllocating) {
  GraphBuilder b;
  Value* x = b.Input("x", {{1 << 20, ""}, {1 << 20, ""}});
  Node* n = b.Op("Relu", "relu", {x}, {{1 << 20, ""}, {1 << 20, ""}});
  b.g->outputs = {n->output(0)};
  auto summary = SummarizeModel(std::move(b.g), {});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_FALSE(summary->compiled);
  EXPECT_NE(summary->compile_error.find("input 'x'"), std::string::npos) << summary->compile_error;
  EXPECT_DOUBLE_EQ(summary->flops.total, 1024.0 * 1024 * 1024 * 1024);
}

TEST(ModelSummaryTest, JsonEscapesNamesAndHasEveryPart) {
  auto summary = SummarizeModel(ConvRelu(), {});
  ASSERT_TRUE(summary.ok()) << summary.status();
  const std::string json = ModelSummaryToJson(*summary);
  EXPECT_NE(json.find("\"name\":\"test \\\"model\\\"\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"shape\":[\"N\",2,4,4]"), std::string::npos) << json;
  for (const char* key : {"\"opset\":13", "\"ops_in_file\":", "\"ops_optimized\":", "\"activations_fused\":1",
                          "\"parameters\":57", "\"flops\":{\"total\":1824", "\"plan\":{\"compiled\":true", "\"unsupported\":[]"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing from " << json;
  }
}

}  // namespace
}  // namespace peregrine::engine
