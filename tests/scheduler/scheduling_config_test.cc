// How a model config becomes threads per instance, scheduler options and derived outputs
// (scheduling_config.h, derived_outputs.h): pure functions, checked as tables.
#include "serving/scheduling_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serving/derived_outputs.h"
#include "serving/model_config.h"
#include "serving/request_validation.h"

namespace peregrine::serving {
namespace {

config::ModelConfig Parse(const std::string& text) {
  auto config = ParseModelConfig(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

struct ThreadsRow {
  std::string name;
  std::string config;
  int instances;
  int flag;
  int cores;
  int threads;
  std::string source;
  bool oversubscribed;
};

TEST(SchedulingConfigTest, ThreadsPerInstanceTable) {
  const std::string param4 = R"(parameters { key: "intra_op_threads" value: { string_value: "4" } })";
  const std::vector<ThreadsRow> table = {
      {"one instance takes every core", "", 1, 0, 16, 16, "cores / instances", false},
      {"two instances share the cores", "", 2, 0, 16, 8, "cores / instances", false},
      {"rounds down: never more than the cores", "", 3, 0, 16, 5, "cores / instances", false},
      {"2 cores, 1 instance: 1 x 2", "", 1, 0, 2, 2, "cores / instances", false},
      {"2 cores, 2 instances: 2 x 1", "", 2, 0, 2, 1, "cores / instances", false},
      {"more instances than cores: 1 each, oversubscribed as configured", "", 4, 0, 2, 1, "cores / instances", true},
      {"server flag", "", 2, 3, 16, 3, "--threads-per-instance", false},
      {"server flag may oversubscribe", "", 2, 2, 2, 2, "--threads-per-instance", true},
      {"model parameter wins over the flag", param4, 2, 3, 16, 4, "parameter intra_op_threads", false},
      {"model parameter may oversubscribe", param4, 1, 0, 2, 4, "parameter intra_op_threads", true},
  };
  for (const ThreadsRow& row : table) {
    SCOPED_TRACE(row.name);
    auto choice = ChooseInstanceThreads(Parse(row.config), row.instances, row.flag, row.cores);
    ASSERT_TRUE(choice.ok()) << choice.status();
    EXPECT_EQ(choice->threads, row.threads);
    EXPECT_EQ(choice->source, row.source);
    EXPECT_EQ(choice->oversubscribed, row.oversubscribed);
    if (!row.oversubscribed) {
      EXPECT_LE(row.instances * choice->threads, row.cores);
    }
  }
}

TEST(SchedulingConfigTest, BadThreadParameterNamesIt) {
  for (const char* value : {"0", "-1", "two", "1.5", "5000"}) {
    const std::string text =
        std::string(R"(parameters { key: "intra_op_threads" value: { string_value: ")") + value + "\" } }";
    auto choice = ChooseInstanceThreads(Parse(text), 1, 0, 2);
    EXPECT_EQ(choice.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_NE(choice.status().message().find("intra_op_threads"), absl::string_view::npos) << choice.status();
  }
  EXPECT_GE(AvailableCores(), 1);
}

TEST(SchedulingConfigTest, PrecisionParameter) {
  auto precision = [](const std::string& value) {
    return RequestedPrecision(Parse(R"(parameters { key: "precision" value: { string_value: ")" + value + "\" } }"));
  };
  EXPECT_EQ(*RequestedPrecision(Parse("")), engine::Precision::kFloat32);
  EXPECT_EQ(*precision("fp32"), engine::Precision::kFloat32);
  EXPECT_EQ(*precision("bf16"), engine::Precision::kBfloat16);
  for (const char* bad : {"fp16", "BF16", "", "int8"}) {
    auto status = precision(bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("precision"), absl::string_view::npos) << status;
    EXPECT_NE(status.message().find("fp32 or bf16"), absl::string_view::npos) << status;
  }
}

std::vector<WarmupSample> OneSample() {
  WarmupSample sample;
  sample.name = "s";
  sample.inputs = {Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6})};
  return {sample};
}

TEST(SchedulingConfigTest, DynamicBatchingBlockBecomesBatchingOptions) {
  const config::ModelConfig config = Parse(R"(
    max_batch_size: 16
    dynamic_batching {
      preferred_batch_size: [ 8, 4 ]
      max_queue_delay_microseconds: 300
      default_queue_policy { default_timeout_microseconds: 5000 max_queue_size: 64 }
    })");
  const SchedulerOptions options = SchedulerOptionsFromConfig(config, 256, OneSample(), nullptr);
  EXPECT_EQ(options.max_queue_size, 64u);
  EXPECT_EQ(options.default_timeout, std::chrono::microseconds(5000));
  const BatchingOptions& b = options.batching;
  EXPECT_EQ(b.max_batch_size, 16);
  EXPECT_EQ(b.preferred_batch_sizes, (std::vector<int>{8, 4}));
  EXPECT_EQ(b.max_queue_delay, std::chrono::microseconds(300));
  EXPECT_EQ(b.warm_batch_sizes, (std::vector<int>{1, 4, 8, 16}));
  ASSERT_EQ(b.warm_row.size(), 1u);
  EXPECT_EQ(b.warm_row[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(b.warm_row[0].values<float>()[2], 3);
  EXPECT_GE(b.max_compiled_sizes, b.warm_batch_sizes.size());
  const std::string line = DescribeScheduling("m", 1, 1, 2, {2, "cores / instances", false}, options);
  EXPECT_NE(line.find("1 instance x 2 intra-op threads on 2 cores (cores / instances)"), std::string::npos) << line;
  EXPECT_NE(line.find("dynamic batching up to 16 rows, preferred [8, 4], max queue delay 300 us"), std::string::npos)
      << line;
  EXPECT_NE(line.find("warmed for batch sizes [1, 4, 8, 16]"), std::string::npos) << line;
}

TEST(SchedulingConfigTest, WithoutDynamicBatchingNothingIsBatched) {
  const config::ModelConfig config = Parse("max_batch_size: 8 queue_policy { max_queue_size: 0 }");
  const SchedulerOptions plain = SchedulerOptionsFromConfig(config, 77, OneSample(), nullptr);
  EXPECT_EQ(plain.batching.max_batch_size, 0);
  EXPECT_EQ(plain.max_queue_size, 77u) << "0 means the server's default";
  const std::string line = DescribeScheduling("m", 1, 4, 2, {1, "cores / instances", true}, plain);
  EXPECT_NE(line.find("oversubscribed: 4 threads for 2 cores"), std::string::npos) << line;
  EXPECT_NE(line.find("no dynamic batching"), std::string::npos) << line;
}

std::vector<engine::TensorInfo> ScoreOutput() { return {{"score", DataType::kFloat32, {-1, 1}, {"batch", ""}}}; }

TEST(DerivedOutputsTest, DecisionOutputFromParameters) {
  auto none = DerivedOutputs::FromConfig(Parse(""), ScoreOutput());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);

  auto derived = DerivedOutputs::FromConfig(
      Parse(R"(parameters { key: "decision_threshold" value: { string_value: "0.25" } })"), ScoreOutput());
  ASSERT_TRUE(derived.ok()) << derived.status();
  ASSERT_NE(*derived, nullptr);
  ASSERT_EQ((*derived)->infos().size(), 1u);
  const engine::TensorInfo& info = (*derived)->infos()[0];
  EXPECT_EQ(info.name, "decision");
  EXPECT_EQ(info.dtype, DataType::kBool);
  EXPECT_EQ(info.shape, (std::vector<int64_t>{-1, 1}));
  EXPECT_EQ(DerivedOutputs::AllOutputs(ScoreOutput(), derived->get()).size(), 2u);

  InferenceRequest request;
  std::vector<Tensor> outputs = {Tensor::FromVector<float>({3, 1}, {0.1f, 0.25f, 0.9f})};
  ASSERT_TRUE((*derived)->Append(request, outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[1].shape(), (Shape{3, 1}));
  EXPECT_EQ(std::vector<uint8_t>(outputs[1].values<uint8_t>().begin(), outputs[1].values<uint8_t>().end()),
            (std::vector<uint8_t>{0, 1, 1}));

  Parameter strict;
  strict.kind = Parameter::Kind::kDouble;
  strict.double_value = 0.5;
  request.parameters.emplace_back("decision_threshold", strict);
  outputs.resize(1);
  ASSERT_TRUE((*derived)->Append(request, outputs).ok());
  EXPECT_EQ(outputs[1].values<uint8_t>()[1], 0) << "0.25 < 0.5, the request's threshold";
  EXPECT_EQ(outputs[1].values<uint8_t>()[2], 1);
}

TEST(DerivedOutputsTest, ConfigErrorsNameTheParameter) {
  const std::vector<engine::TensorInfo> two = {{"a", DataType::kFloat32, {-1}, {"b"}},
                                               {"b", DataType::kString, {-1}, {"b"}}};
  struct Case {
    std::string config;
    std::vector<engine::TensorInfo> outputs;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {R"(parameters { key: "decision_threshold" value: { string_value: "high" } })", ScoreOutput(),
       "'high' is not a number"},
      {R"(parameters { key: "decision_threshold" value: { string_value: "0.5" } })", two,
       "decision_source\"]: required, the model has 2 outputs"},
      {R"(parameters { key: "decision_threshold" value: { string_value: "0.5" } }
          parameters { key: "decision_source" value: { string_value: "nope" } })",
       ScoreOutput(), "has no output 'nope'"},
      {R"(parameters { key: "decision_threshold" value: { string_value: "0.5" } }
          parameters { key: "decision_source" value: { string_value: "b" } })",
       two, "'b' is not numeric"},
      {R"(parameters { key: "decision_threshold" value: { string_value: "0.5" } }
          parameters { key: "decision_output" value: { string_value: "score" } })",
       ScoreOutput(), "already has an output 'score'"},
      {R"(parameters { key: "decision_source" value: { string_value: "score" } })", ScoreOutput(),
       "needs parameters[\"decision_threshold\"]"},
  };
  for (const Case& c : cases) {
    auto derived = DerivedOutputs::FromConfig(Parse(c.config), c.outputs);
    EXPECT_EQ(derived.status().code(), absl::StatusCode::kInvalidArgument) << c.config;
    EXPECT_NE(derived.status().message().find(c.fragment), absl::string_view::npos) << derived.status();
  }
}

// The loader lists the decision after the model's outputs, so the completed config (and the metadata
// built from it) shows it, and requests may ask for it; a bad threshold parameter is a 400 before queueing.
TEST(DerivedOutputsTest, CompletedConfigAndRequestValidationKnowTheDecision) {
  config::ModelConfig config = Parse(R"(
    max_batch_size: 8
    parameters { key: "decision_threshold" value: { string_value: "0.5" } })");
  const std::vector<engine::TensorInfo> inputs = {{"mfcc", DataType::kFloat32, {-1, 4}, {"batch", ""}}};
  auto derived = DerivedOutputs::FromConfig(config, ScoreOutput());
  ASSERT_TRUE(derived.ok()) << derived.status();
  const std::vector<engine::TensorInfo> outputs = DerivedOutputs::AllOutputs(ScoreOutput(), derived->get());
  ASSERT_TRUE(CompleteModelConfig("voice", inputs, outputs, true, {}, config).ok());
  ASSERT_EQ(config.output_size(), 2);
  EXPECT_EQ(config.output(1).name(), "decision");
  EXPECT_EQ(config.output(1).data_type(), config::TYPE_BOOL);
  EXPECT_EQ(config.output(1).dims_size(), 1);
  EXPECT_NE(ModelConfigToJson(config).find("\"decision\""), std::string::npos);

  InferenceRequest request;
  request.inputs.push_back({"mfcc", Tensor::Zeros(DataType::kFloat32, {2, 4})});
  request.outputs = {{"decision", false}};
  EXPECT_TRUE(ValidateRequest(config, inputs, outputs, request).ok());
  Parameter text;
  text.kind = Parameter::Kind::kString;
  text.string_value = "0.7";
  request.parameters.emplace_back("decision_threshold", text);
  const absl::Status status = ValidateRequest(config, inputs, outputs, request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'decision_threshold' must be a number"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace peregrine::serving
