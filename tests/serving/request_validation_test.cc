// Requests checked against the model's config and signature before they are queued.
#include "serving/request_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "serving/model_config.h"
#include "test_util.h"

namespace peregrine::serving {
namespace {

using ::testing::HasSubstr;
using testing::Info;

struct Model {
  config::ModelConfig config;
  std::vector<engine::TensorInfo> inputs;
  std::vector<engine::TensorInfo> outputs;
};

Model MakeModel(const std::string& text, std::vector<engine::TensorInfo> inputs,
                std::vector<engine::TensorInfo> outputs) {
  Model model{*ParseModelConfig(text, "config.pbtxt"), std::move(inputs), std::move(outputs)};
  absl::Status status = CompleteModelConfig("m", model.inputs, model.outputs, true, {}, model.config);
  EXPECT_TRUE(status.ok()) << status;
  return model;
}

// The `simple` model with max_batch_size 8.
Model Simple() {
  return MakeModel("max_batch_size: 8",
                   {Info("INPUT0", DataType::kInt32, {-1, 16}), Info("INPUT1", DataType::kInt32, {-1, 16})},
                   {Info("OUTPUT0", DataType::kInt32, {-1, 16}), Info("OUTPUT1", DataType::kInt32, {-1, 16})});
}

InferenceInput Input(const std::string& name, DataType dtype, Shape shape) {
  return {name, Tensor::Zeros(dtype, shape)};
}

InferenceRequest Request(std::vector<InferenceInput> inputs, std::vector<std::string> outputs = {}) {
  InferenceRequest request;
  request.inputs = std::move(inputs);
  for (const auto& name : outputs) request.outputs.push_back({name, false});
  return request;
}

absl::Status Validate(const Model& model, InferenceRequest request) {
  return ValidateRequest(model.config, model.inputs, model.outputs, request);
}

void ExpectInvalid(const absl::Status& status, const std::string& text) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(text));
}

TEST(RequestValidationTest, AcceptsAndOrdersInputs) {
  const Model model = Simple();
  InferenceRequest request =
      Request({Input("INPUT1", DataType::kInt32, {3, 16}), Input("INPUT0", DataType::kInt32, {3, 16})}, {"OUTPUT1"});
  const void* input0_data = request.inputs[1].tensor.data();
  ASSERT_TRUE(ValidateRequest(model.config, model.inputs, model.outputs, request).ok());
  ASSERT_EQ(request.inputs.size(), 2u);
  EXPECT_EQ(request.inputs[0].name, "INPUT0");              // session order
  EXPECT_EQ(request.inputs[0].tensor.data(), input0_data);  // moved, not copied
  EXPECT_EQ(request.inputs[1].name, "INPUT1");
}

TEST(RequestValidationTest, MaxBatchSizeIsAllowed) {
  EXPECT_TRUE(Validate(Simple(), Request({Input("INPUT0", DataType::kInt32, {8, 16}),
                                          Input("INPUT1", DataType::kInt32, {8, 16})}))
                  .ok());
}

TEST(RequestValidationTest, UnknownMissingAndDuplicateInputs) {
  const Model model = Simple();
  ExpectInvalid(
      Validate(model, Request({Input("INPUT0", DataType::kInt32, {1, 16}), Input("INPUT1", DataType::kInt32, {1, 16}),
                               Input("INPUT2", DataType::kInt32, {1, 16})})),
      "unknown input 'INPUT2' (model inputs: INPUT0, INPUT1)");
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {1, 16})})), "missing input 'INPUT1'");
  ExpectInvalid(
      Validate(model, Request({Input("INPUT0", DataType::kInt32, {1, 16}), Input("INPUT0", DataType::kInt32, {1, 16}),
                               Input("INPUT1", DataType::kInt32, {1, 16})})),
      "input 'INPUT0' is given twice");
}

TEST(RequestValidationTest, WrongDatatype) {
  ExpectInvalid(Validate(Simple(), Request({Input("INPUT0", DataType::kFloat32, {1, 16}),
                                            Input("INPUT1", DataType::kInt32, {1, 16})})),
                "input 'INPUT0': datatype FP32, the model expects INT32");
}

TEST(RequestValidationTest, WrongRankOrDim) {
  const Model model = Simple();
  ExpectInvalid(
      Validate(model, Request({Input("INPUT0", DataType::kInt32, {16}), Input("INPUT1", DataType::kInt32, {1, 16})})),
      "input 'INPUT0': shape [16] does not match the model's [-1, 16]");
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {1, 16}),
                                         Input("INPUT1", DataType::kInt32, {1, 15})})),
                "input 'INPUT1': shape [1, 15]");
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {1, 16, 1}),
                                         Input("INPUT1", DataType::kInt32, {1, 16})})),
                "input 'INPUT0': shape [1, 16, 1]");
}

TEST(RequestValidationTest, BatchSizeLimits) {
  const Model model = Simple();
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {9, 16}),
                                         Input("INPUT1", DataType::kInt32, {9, 16})})),
                "batch size 9 is not within 1..max_batch_size (8)");
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {0, 16}),
                                         Input("INPUT1", DataType::kInt32, {0, 16})})),
                "batch size 0");
  ExpectInvalid(Validate(model, Request({Input("INPUT0", DataType::kInt32, {2, 16}),
                                         Input("INPUT1", DataType::kInt32, {3, 16})})),
                "inputs disagree on the batch size: 'INPUT0' has 2, 'INPUT1' has 3");
}

TEST(RequestValidationTest, RequestedOutputs) {
  const Model model = Simple();
  auto inputs = [] {
    return std::vector{Input("INPUT0", DataType::kInt32, {1, 16}), Input("INPUT1", DataType::kInt32, {1, 16})};
  };
  EXPECT_TRUE(Validate(model, Request(inputs(), {"OUTPUT0", "OUTPUT1"})).ok());
  ExpectInvalid(Validate(model, Request(inputs(), {"OUTPUT0", "OUTPUT7"})),
                "unknown requested output 'OUTPUT7' (model outputs: OUTPUT0, OUTPUT1)");
  ExpectInvalid(Validate(model, Request(inputs(), {"OUTPUT1", "OUTPUT1"})), "output 'OUTPUT1' is requested twice");
}

TEST(RequestValidationTest, WithoutBatchingTheShapeIsTheModels) {
  const Model model =
      MakeModel("", {Info("tokens", DataType::kInt64, {-1, -1}), Info("h0", DataType::kFloat32, {2, -1, 8})},
                {Info("hn", DataType::kFloat32, {2, -1, 8})});
  EXPECT_TRUE(Validate(model, Request({Input("tokens", DataType::kInt64, {20, 7}),
                                       Input("h0", DataType::kFloat32, {2, 20, 8})}))
                  .ok());
  ExpectInvalid(
      Validate(model, Request({Input("tokens", DataType::kInt64, {1, 1}), Input("h0", DataType::kFloat32, {3, 1, 8})})),
      "input 'h0': shape [3, 1, 8] does not match the model's [2, -1, 8]");
}

TEST(RequestValidationTest, ConfigDimsNarrowAModelsVariableDims) {
  // The model accepts any feature size; the config pins it to 3.
  const Model model = MakeModel("max_batch_size: 4 input [ { name: \"x\" data_type: TYPE_FP32 dims: [3] } ]",
                                {Info("x", DataType::kFloat32, {-1, -1})}, {Info("y", DataType::kFloat32, {-1})});
  EXPECT_TRUE(Validate(model, Request({Input("x", DataType::kFloat32, {2, 3})})).ok());
  ExpectInvalid(Validate(model, Request({Input("x", DataType::kFloat32, {2, 4})})), "the model's [-1, 3]");
}

TEST(RequestValidationTest, ModelDimsNarrowAConfigsVariableDims) {
  // The config says any size; the session declares 16 and has the last word.
  const Model model = MakeModel("max_batch_size: 4 input [ { name: \"x\" data_type: TYPE_FP32 dims: [-1] } ]",
                                {Info("x", DataType::kFloat32, {-1, 16})}, {Info("y", DataType::kFloat32, {-1})});
  ExpectInvalid(Validate(model, Request({Input("x", DataType::kFloat32, {2, 4})})), "the model's [-1, 16]");
}

}  // namespace
}  // namespace peregrine::serving
