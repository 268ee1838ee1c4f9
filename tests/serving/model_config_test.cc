// config.pbtxt parsing, completion against the model's signature, and the JSON clients read.
#include "serving/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rapidjson/document.h"
#include "test_util.h"

namespace peregrine::serving {
namespace {

using ::testing::HasSubstr;
using testing::Info;
using ::testing::Not;

// The `simple` model: INPUT0/INPUT1 INT32 [batch, 16] -> OUTPUT0/OUTPUT1.
std::vector<engine::TensorInfo> SimpleInputs() {
  return {Info("INPUT0", DataType::kInt32, {-1, 16}), Info("INPUT1", DataType::kInt32, {-1, 16})};
}
std::vector<engine::TensorInfo> SimpleOutputs() {
  return {Info("OUTPUT0", DataType::kInt32, {-1, 16}), Info("OUTPUT1", DataType::kInt32, {-1, 16})};
}
// A step model whose state has the batch on axis 1 (like textgen-lstm).
std::vector<engine::TensorInfo> StepInputs() {
  return {Info("tokens", DataType::kInt64, {-1, -1}), Info("h0", DataType::kFloat32, {2, -1, 8})};
}
std::vector<engine::TensorInfo> StepOutputs() {
  return {Info("logits", DataType::kFloat32, {-1, 10}), Info("hn", DataType::kFloat32, {2, -1, 8})};
}

config::ModelConfig Parse(const std::string& text) {
  auto config = ParseModelConfig(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

// Parses `text` and completes it against the simple model; returns the completion's status.
absl::Status CompleteSimple(const std::string& text, config::ModelConfig* out = nullptr) {
  config::ModelConfig config = Parse(text);
  absl::Status status = CompleteModelConfig("simple", SimpleInputs(), SimpleOutputs(), true, {}, config);
  if (out != nullptr) *out = config;
  return status;
}

void ExpectInvalid(const absl::Status& status, const std::string& field, const std::string& detail = "") {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
  if (!detail.empty()) {
    EXPECT_THAT(std::string(status.message()), HasSubstr(detail));
  }
}

TEST(ConfigTypesTest, RoundTripsEveryType) {
  for (int value = config::TYPE_BOOL; value <= config::TYPE_BF16; ++value) {
    const auto type = static_cast<config::DataType>(value);
    auto dtype = FromConfigType(type);
    ASSERT_TRUE(dtype.ok()) << config::DataType_Name(type);
    EXPECT_EQ(ToConfigType(*dtype), type);
  }
  EXPECT_EQ(ToConfigType(DataType::kString), config::TYPE_STRING);
  EXPECT_EQ(ToConfigType(DataType::kFloat32), config::TYPE_FP32);
  EXPECT_EQ(*FromConfigType(config::TYPE_INT64), DataType::kInt64);
  EXPECT_EQ(FromConfigType(config::TYPE_INVALID).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToConfigType(DataType::kUndefined), config::TYPE_INVALID);
}

TEST(ParseModelConfigTest, ParsesTritonConfig) {
  const config::ModelConfig config = Parse(R"(
    name: "simple"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] } ]
    output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] } ]
    instance_group [ { count: 2 kind: KIND_CPU } ]
    version_policy: { specific: { versions: [1, 3] } }
    dynamic_batching { max_queue_delay_microseconds: 100 }
    parameters { key: "threads" value: { string_value: "2" } }
    # comments are fine
  )");
  EXPECT_EQ(config.name(), "simple");
  EXPECT_EQ(config.max_batch_size(), 8);
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).data_type(), config::TYPE_INT32);
  EXPECT_EQ(config.input(0).dims(0), 16);
  EXPECT_EQ(config.instance_group(0).count(), 2);
  EXPECT_EQ(config.version_policy().specific().versions_size(), 2);
  EXPECT_EQ(config.dynamic_batching().max_queue_delay_microseconds(), 100u);
  EXPECT_EQ(config.parameters().at("threads").string_value(), "2");
}

TEST(ParseModelConfigTest, UnknownFieldFailsNamingLineAndColumn) {
  auto config = ParseModelConfig("name: \"m\"\n  sequence_batching {}\n", "repo/m/config.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("repo/m/config.pbtxt:2:"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("sequence_batching"));
}

TEST(ParseModelConfigTest, WrongValueTypeFails) {
  auto config = ParseModelConfig("max_batch_size: \"eight\"", "config.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("config.pbtxt:1:17: max_batch_size: "));
  config = ParseModelConfig("input [ { name: \"x\"\n  dims: [ 1, two ] } ]", "config.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("config.pbtxt:2:14: dims: "));
}

TEST(ParseModelConfigTest, UnknownEnumValueAndMalformedTextFail) {
  EXPECT_FALSE(ParseModelConfig("input [ { name: \"x\" data_type: TYPE_FLOAT } ]", "c").ok());
  EXPECT_FALSE(ParseModelConfig("input [ { name: \"x\" ", "c").ok());
  EXPECT_FALSE(ParseModelConfig("name: \"a\" name: \"b\"", "c").ok());  // a singular field twice
}

TEST(CompleteModelConfigTest, AutoCompletesBatchingModelWithoutConfig) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteModelConfig("simple", SimpleInputs(), SimpleOutputs(), false, {}, config).ok());
  EXPECT_EQ(config.name(), "simple");
  EXPECT_EQ(config.platform(), "onnxruntime_onnx");
  EXPECT_EQ(config.backend(), "peregrine");
  EXPECT_EQ(config.max_batch_size(), 8);
  ASSERT_EQ(config.input_size(), 2);
  EXPECT_EQ(config.input(1).name(), "INPUT1");
  EXPECT_EQ(config.input(1).data_type(), config::TYPE_INT32);
  ASSERT_EQ(config.input(1).dims_size(), 1);  // without the batch dimension
  EXPECT_EQ(config.input(1).dims(0), 16);
  ASSERT_EQ(config.output_size(), 2);
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).count(), 1);
  EXPECT_EQ(config.instance_group(0).kind(), config::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config.version_policy().latest().num_versions(), 1u);
}

TEST(CompleteModelConfigTest, CompletingTwiceChangesNothing) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteModelConfig("step", StepInputs(), StepOutputs(), false, {}, config).ok());
  config::ModelConfig again = config;
  ASSERT_TRUE(CompleteModelConfig("step", StepInputs(), StepOutputs(), true, {}, again).ok());
  EXPECT_EQ(again.DebugString(), config.DebugString());
}

TEST(CompleteModelConfigTest, AutoCompleteHonoursDefaultMaxBatchSize) {
  config::ModelConfig config;
  CompletionOptions options;
  options.default_max_batch_size = 4;
  ASSERT_TRUE(CompleteModelConfig("simple", SimpleInputs(), SimpleOutputs(), false, options, config).ok());
  EXPECT_EQ(config.max_batch_size(), 4);
}

TEST(CompleteModelConfigTest, AutoCompleteDoesNotBatchWhenAFirstDimIsFixed) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteModelConfig("step", StepInputs(), StepOutputs(), false, {}, config).ok());
  EXPECT_EQ(config.max_batch_size(), 0);
  ASSERT_EQ(config.input_size(), 2);
  EXPECT_EQ(config.input(1).name(), "h0");
  EXPECT_EQ(config.input(1).data_type(), config::TYPE_FP32);
  EXPECT_EQ(std::vector<int64_t>(config.input(1).dims().begin(), config.input(1).dims().end()),
            (std::vector<int64_t>{2, -1, 8}));  // symbolic dims become -1
  EXPECT_EQ(config.output(0).dims_size(), 2);
}

TEST(CompleteModelConfigTest, FillsWhatAFileLeavesOut) {
  config::ModelConfig config;
  ASSERT_TRUE(
      CompleteSimple("max_batch_size: 4\ninput [ { name: \"INPUT1\" data_type: TYPE_INT32 dims: [16] } ]", &config)
          .ok());
  EXPECT_EQ(config.name(), "simple");
  EXPECT_EQ(config.max_batch_size(), 4);  // from the file, not the default
  ASSERT_EQ(config.input_size(), 2);
  EXPECT_EQ(config.input(0).name(), "INPUT1");  // the config's own entries first, then the model's others
  EXPECT_EQ(config.input(1).name(), "INPUT0");
  EXPECT_EQ(config.output_size(), 2);
}

TEST(CompleteModelConfigTest, FileWithoutMaxBatchSizeDoesNotBatch) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("name: \"simple\"", &config).ok());
  EXPECT_EQ(config.max_batch_size(), 0);
  EXPECT_EQ(config.input(0).dims_size(), 2);  // the batch is then an ordinary dimension
  EXPECT_EQ(config.input(0).dims(0), -1);
}

TEST(CompleteModelConfigTest, NameMustMatchTheFolder) {
  ExpectInvalid(CompleteSimple("name: \"other\""), "name:", "'other'");
}

TEST(CompleteModelConfigTest, PlatformAndBackendMustBeOnnx) {
  ExpectInvalid(CompleteSimple("platform: \"tensorflow_savedmodel\""), "platform:", "tensorflow_savedmodel");
  ExpectInvalid(CompleteSimple("backend: \"pytorch\""), "backend:", "pytorch");
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("platform: \"onnxruntime_onnx\" backend: \"onnxruntime\"", &config).ok());
  EXPECT_EQ(config.backend(), "onnxruntime");
  ASSERT_TRUE(CompleteSimple("backend: \"peregrine\"", &config).ok());
  EXPECT_EQ(config.platform(), "onnxruntime_onnx");
}

TEST(CompleteModelConfigTest, WrongDataTypeFails) {
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT1\" data_type: TYPE_FP32 dims: [16] } ]"),
                "input[0].data_type", "TYPE_INT32");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 output [ { name: \"OUTPUT0\" data_type: TYPE_INT64 dims: [16] } ]"),
                "output[0].data_type");
}

TEST(CompleteModelConfigTest, WrongRankFails) {
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [1, 16] } ]"),
                "input[0].dims", "1 dimension besides the batch");
  // Without batching the config must state the batch dimension itself.
  ExpectInvalid(CompleteSimple("input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] } ]"), "input[0].dims",
                "2 dimensions");
}

TEST(CompleteModelConfigTest, WrongDimFails) {
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [15] } ]"),
                "input[0].dims", "[16]");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 output [ { name: \"OUTPUT1\" data_type: TYPE_INT32 dims: [-2] } ]"),
                "output[0].dims");
}

TEST(CompleteModelConfigTest, VariableDimsAreCompatible) {
  // -1 in the config over a fixed model dim, and a fixed config dim over a symbolic model dim.
  EXPECT_TRUE(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [-1] } ]").ok());
  config::ModelConfig config = Parse("input [ { name: \"h0\" data_type: TYPE_FP32 dims: [2, 4, 8] } ]");
  EXPECT_TRUE(CompleteModelConfig("step", StepInputs(), StepOutputs(), true, {}, config).ok());
}

TEST(CompleteModelConfigTest, DataTypeLeftOutIsTheModels) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("max_batch_size: 2 input [ { name: \"INPUT0\" dims: [16] } ]", &config).ok());
  EXPECT_EQ(config.input(0).data_type(), config::TYPE_INT32);
}

TEST(CompleteModelConfigTest, UnknownAndDuplicateTensorsFail) {
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT9\" data_type: TYPE_INT32 dims: [16] } ]"),
                "input[0].name", "INPUT0, INPUT1");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] },"
                               " { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] } ]"),
                "input[1].name", "twice");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 output [ { name: \"SUM\" data_type: TYPE_INT32 dims: [16] } ]"),
                "output[0].name", "OUTPUT0, OUTPUT1");
  ExpectInvalid(CompleteSimple("input [ { data_type: TYPE_INT32 } ]"), "input[0].name", "required");
}

TEST(CompleteModelConfigTest, UnsupportedTensorFeaturesFail) {
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] "
                               "reshape: { shape: [4, 4] } } ]"),
                "input[0].reshape");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] "
                               "optional: true } ]"),
                "input[0].optional");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] "
                               "is_shape_tensor: true } ]"),
                "input[0].is_shape_tensor");
  ExpectInvalid(CompleteSimple("max_batch_size: 8 input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [16] "
                               "allow_ragged_batch: true } ]"),
                "input[0].allow_ragged_batch");
}

TEST(CompleteModelConfigTest, MaxBatchSizeNeedsAVariableFirstDim) {
  config::ModelConfig config = Parse("max_batch_size: 4");
  ExpectInvalid(CompleteModelConfig("step", StepInputs(), StepOutputs(), true, {}, config), "max_batch_size", "'h0'");
  ExpectInvalid(CompleteSimple("max_batch_size: -1"), "max_batch_size", ">= 0");
}

TEST(CompleteModelConfigTest, InstanceGroups) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("instance_group [ { count: 0 }, { count: 3 kind: KIND_GPU gpus: [0] } ]", &config).ok());
  EXPECT_EQ(config.instance_group(0).count(), 1);  // 0 means 1
  EXPECT_EQ(config.instance_group(0).name(), "simple_0");
  EXPECT_EQ(config.instance_group(1).name(), "simple_1");
  EXPECT_EQ(config.instance_group(0).kind(), config::ModelInstanceGroup::KIND_CPU);  // KIND_AUTO resolves to CPU
  EXPECT_EQ(config.instance_group(1).kind(), config::ModelInstanceGroup::KIND_GPU);  // kept; providers decide
  ExpectInvalid(CompleteSimple("instance_group [ { count: -2 } ]"), "instance_group[0].count");
  ExpectInvalid(CompleteSimple("instance_group [ { count: 1 kind: KIND_CPU gpus: [0] } ]"), "instance_group[0].gpus");
}

TEST(CompleteModelConfigTest, VersionPolicies) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("version_policy: { all: {} }", &config).ok());
  EXPECT_TRUE(config.version_policy().has_all());
  ASSERT_TRUE(CompleteSimple("version_policy: { latest: { num_versions: 2 } }", &config).ok());
  EXPECT_EQ(config.version_policy().latest().num_versions(), 2u);
  ASSERT_TRUE(CompleteSimple("version_policy: { specific: { versions: [2] } }", &config).ok());
  ExpectInvalid(CompleteSimple("version_policy: { latest: { num_versions: 0 } }"),
                "version_policy.latest.num_versions");
  ExpectInvalid(CompleteSimple("version_policy: { specific: {} }"), "version_policy.specific.versions");
  ExpectInvalid(CompleteSimple("version_policy: { specific: { versions: [1, 0] } }"),
                "version_policy.specific.versions[1]");
}

TEST(CompleteModelConfigTest, SchedulingAndQueuePolicies) {
  EXPECT_TRUE(CompleteSimple("max_batch_size: 8 dynamic_batching { preferred_batch_size: [4, 8] "
                             "default_queue_policy { max_queue_size: 0 default_timeout_microseconds: 5000 } }")
                  .ok());
  EXPECT_TRUE(CompleteSimple("queue_policy { max_queue_size: 16 allow_timeout_override: true }").ok());
  ExpectInvalid(CompleteSimple("dynamic_batching {}"), "dynamic_batching", "max_batch_size");
  ExpectInvalid(CompleteSimple("max_batch_size: 4 dynamic_batching { preferred_batch_size: [8] }"),
                "dynamic_batching.preferred_batch_size[0]");
  ExpectInvalid(CompleteSimple("queue_policy { timeout_action: DELAY }"), "queue_policy.timeout_action");
  ExpectInvalid(CompleteSimple("max_batch_size: 4 dynamic_batching { default_queue_policy { timeout_action: DELAY } }"),
                "dynamic_batching.default_queue_policy.timeout_action");
  ExpectInvalid(CompleteSimple("queue_policy { default_timeout_microseconds: 100000000000000 }"),
                "queue_policy.default_timeout_microseconds");
  ExpectInvalid(CompleteSimple("max_batch_size: 4 dynamic_batching {} queue_policy { max_queue_size: 3 }"),
                "queue_policy", "dynamic_batching.default_queue_policy");
  ExpectInvalid(CompleteSimple("model_transaction_policy { decoupled: true }"), "model_transaction_policy.decoupled");
}

TEST(CompleteModelConfigTest, ModelFileNameStaysInTheVersionFolder) {
  EXPECT_TRUE(CompleteSimple("default_model_filename: \"simple.onnx\"").ok());
  ExpectInvalid(CompleteSimple("default_model_filename: \"../other/model.onnx\""), "default_model_filename");
}

TEST(CompleteModelConfigTest, WarmupIsCheckedAgainstTheModel) {
  config::ModelConfig config;
  EXPECT_TRUE(CompleteSimple(R"(max_batch_size: 8
      model_warmup [ { name: "w" batch_size: 0
                     inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [16] zero_data: true } }
                     inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [16] random_data: true } } } ])",
                             &config)
                  .ok());
  EXPECT_EQ(config.model_warmup(0).batch_size(), 1u);  // 0 means 1, and clients are told so
  EXPECT_EQ(config.model_warmup(0).count(), 1u);
  ExpectInvalid(CompleteSimple(R"(max_batch_size: 8
      model_warmup [ { inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [16] zero_data: true } }
                       inputs { key: "INPUTX" value: { data_type: TYPE_INT32 dims: [16] zero_data: true } } } ])"),
                "model_warmup[0].inputs[\"INPUTX\"]");
}

TEST(CompleteModelConfigTest, ExecutionProviderNamesAreChecked) {
  EXPECT_TRUE(CompleteSimple("execution_providers [ { name: \"cuda\" }, { name: \"cpu\" } ]").ok());
  ExpectInvalid(CompleteSimple("execution_providers [ { name: \"cpu\" }, { name: \"rocm\" } ]"),
                "execution_providers[1].name", "rocm");
}

// ---- JSON ----

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

TEST(ModelConfigToJsonTest, WritesWhatTritonClientsRead) {
  config::ModelConfig config;
  ASSERT_TRUE(CompleteSimple("max_batch_size: 8", &config).ok());
  const std::string json = ModelConfigToJson(config);
  rapidjson::Document doc = ParseJson(json);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["name"].GetString(), "simple");
  EXPECT_STREQ(doc["platform"].GetString(), "onnxruntime_onnx");
  EXPECT_STREQ(doc["backend"].GetString(), "peregrine");
  EXPECT_EQ(doc["max_batch_size"].GetInt(), 8);
  ASSERT_TRUE(doc["input"].IsArray());
  ASSERT_EQ(doc["input"].Size(), 2u);
  const auto& input = doc["input"][0];
  EXPECT_STREQ(input["name"].GetString(), "INPUT0");
  EXPECT_STREQ(input["data_type"].GetString(), "TYPE_INT32");
  ASSERT_TRUE(input["dims"].IsArray());
  ASSERT_TRUE(input["dims"][0].IsInt64());  // a number, not protobuf JSON's "16"
  EXPECT_EQ(input["dims"][0].GetInt64(), 16);
  EXPECT_FALSE(input["optional"].GetBool());
  EXPECT_FALSE(input.HasMember("reshape"));  // unset sub-messages are left out
  EXPECT_EQ(doc["output"].Size(), 2u);
  EXPECT_STREQ(doc["instance_group"][0]["kind"].GetString(), "KIND_CPU");
  EXPECT_EQ(doc["instance_group"][0]["count"].GetInt(), 1);
  EXPECT_EQ(doc["version_policy"]["latest"]["num_versions"].GetUint(), 1u);
  EXPECT_FALSE(doc.HasMember("dynamic_batching"));  // clients read its presence as "batches dynamically"
  EXPECT_FALSE(doc.HasMember("model_transaction_policy"));
  EXPECT_TRUE(doc["parameters"].IsObject());
  EXPECT_TRUE(doc["model_warmup"].IsArray());
}

TEST(ModelConfigToJsonTest, DynamicBatchingMapsAndLargeIntegers) {
  config::ModelConfig config = Parse(R"(
    name: "m"
    max_batch_size: 4
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 1099511627776, -1 ] } ]
    dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 }
    parameters { key: "zeta" value: { string_value: "z" } }
    parameters { key: "alpha" value: { string_value: "a\"b" } }
    model_warmup [ { name: "w" inputs { key: "x" value: { data_type: TYPE_FP32 dims: [2] random_data: true } } } ]
  )");
  rapidjson::Document doc = ParseJson(ModelConfigToJson(config));
  ASSERT_TRUE(doc.HasMember("dynamic_batching"));
  EXPECT_EQ(doc["dynamic_batching"]["max_queue_delay_microseconds"].GetUint64(), 18446744073709551615ull);
  EXPECT_EQ(doc["input"][0]["dims"][0].GetInt64(), 1099511627776);
  EXPECT_EQ(doc["input"][0]["dims"][1].GetInt64(), -1);
  const auto& parameters = doc["parameters"];
  ASSERT_TRUE(parameters.IsObject());
  EXPECT_STREQ(parameters.MemberBegin()->name.GetString(), "alpha");  // keys sorted
  EXPECT_STREQ(parameters["alpha"]["string_value"].GetString(), "a\"b");
  const auto& warm_input = doc["model_warmup"][0]["inputs"]["x"];
  EXPECT_TRUE(warm_input["random_data"].GetBool());
  EXPECT_FALSE(warm_input.HasMember("zero_data"));  // only the oneof member that is set
  EXPECT_FALSE(warm_input.HasMember("input_data_file"));
  EXPECT_TRUE(doc.HasMember("version_policy"));  // always present, even unset
}

}  // namespace
}  // namespace peregrine::serving
