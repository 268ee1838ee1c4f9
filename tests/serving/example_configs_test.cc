// Every model in examples/models/ loads the way the server loads it: config (or none) parsed and completed
// against the ONNX model, a built-in execution provider chosen, and its warm-up samples run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/session.h"
#include "serving/derived_outputs.h"
#include "serving/execution_provider.h"
#include "serving/model_config.h"
#include "serving/repository.h"
#include "serving/request_validation.h"
#include "serving/warmup.h"

namespace peregrine::serving {
namespace {

namespace fs = std::filesystem;
const fs::path kRepository = fs::path(PEREGRINE_SOURCE_DIR) / "examples/models";

struct Loaded {
  config::ModelConfig config;
  std::unique_ptr<engine::Session> session;
};

// Loads the highest served version of `name` as the model manager does; fails the test on any error.
Loaded Load(const std::string& name) {
  Loaded loaded;
  auto dir = ReadModelDirectory(kRepository, name);
  EXPECT_TRUE(dir.ok()) << dir.status();
  if (!dir.ok()) return loaded;
  const bool from_file = dir->config_text.has_value();
  if (from_file) {
    auto parsed = ParseModelConfig(*dir->config_text, (dir->path / "config.pbtxt").string());
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return loaded;
    loaded.config = *parsed;
  }
  const std::vector<int64_t> versions = SelectVersions(loaded.config.version_policy(), dir->versions);
  EXPECT_FALSE(versions.empty()) << name;
  if (versions.empty()) return loaded;
  const std::string file =
      loaded.config.default_model_filename().empty() ? "model.onnx" : loaded.config.default_model_filename();
  auto session = engine::Session::Create((dir->path / std::to_string(versions.back()) / file).string(), {});
  EXPECT_TRUE(session.ok()) << name << ": " << session.status();
  if (!session.ok()) return loaded;
  loaded.session = std::move(*session);
  // As the loader does: outputs derived by the serving layer (derived_outputs.h) follow the model's own.
  auto derived = DerivedOutputs::FromConfig(loaded.config, loaded.session->outputs());
  EXPECT_TRUE(derived.ok()) << name << ": " << derived.status();
  if (!derived.ok()) return loaded;
  absl::Status status = CompleteModelConfig(name, loaded.session->inputs(),
                                            DerivedOutputs::AllOutputs(loaded.session->outputs(), derived->get()),
                                            from_file, {}, loaded.config);
  EXPECT_TRUE(status.ok()) << name << ": " << status;
  return loaded;
}

TEST(ExampleConfigsTest, EveryExampleModelLoadsAndWarmsUp) {
  auto names = ListModelNames(kRepository);
  ASSERT_TRUE(names.ok()) << names.status();
  ASSERT_THAT(*names, ::testing::IsSupersetOf({"simple", "textgen-lstm", "voice-verification-small"}));
  for (const std::string& name : *names) {
    SCOPED_TRACE(name);
    Loaded model = Load(name);
    ASSERT_NE(model.session, nullptr);
    auto preference = ProviderPreference(model.config, nullptr);
    ASSERT_TRUE(preference.ok()) << preference.status();
    auto provider = ChooseProvider(*preference);
    ASSERT_TRUE(provider.ok()) << provider.status();
    EXPECT_EQ(*provider, "cpu");
    auto samples = BuildWarmupSamples(model.config, kRepository / name, model.session->inputs());
    ASSERT_TRUE(samples.ok()) << samples.status();
    for (const WarmupSample& sample : *samples) {
      std::vector<Tensor> outputs;
      absl::Status status = model.session->Run(sample.inputs, outputs);
      EXPECT_TRUE(status.ok()) << sample.name << ": " << status;
    }
    EXPECT_FALSE(ModelConfigToJson(model.config).empty());
  }
}

TEST(ExampleConfigsTest, VoiceVerificationSmallBatchesAndWarmsUpWithRandomData) {
  Loaded model = Load("voice-verification-small");
  ASSERT_NE(model.session, nullptr);
  EXPECT_EQ(model.config.max_batch_size(), 8);
  ASSERT_EQ(model.config.input_size(), 1);
  EXPECT_EQ(model.config.input(0).name(), "mfcc");
  EXPECT_EQ(std::vector<int64_t>(model.config.input(0).dims().begin(), model.config.input(0).dims().end()),
            (std::vector<int64_t>{1, 40, 241}));
  ASSERT_EQ(model.config.output_size(), 2);
  EXPECT_EQ(model.config.output(0).name(), "score");
  EXPECT_EQ(model.config.output(0).dims_size(), 1);
  EXPECT_EQ(model.config.output(1).name(), "decision");  // derived: score >= decision_threshold
  EXPECT_EQ(model.config.output(1).data_type(), config::TYPE_BOOL);
  EXPECT_EQ(model.config.parameters().at("decision_threshold").string_value(), "0.5");
  ASSERT_TRUE(model.config.has_dynamic_batching());
  EXPECT_EQ(model.config.dynamic_batching().preferred_batch_size_size(), 2);
  ASSERT_EQ(model.config.model_warmup_size(), 1);
  EXPECT_EQ(model.config.model_warmup(0).count(), 2u);
  EXPECT_TRUE(model.config.model_warmup(0).inputs().at("mfcc").random_data());
}

TEST(ExampleConfigsTest, TextgenLstmDoesNotBatch) {
  Loaded model = Load("textgen-lstm");
  ASSERT_NE(model.session, nullptr);
  EXPECT_EQ(model.config.max_batch_size(), 0);  // its state has the batch on axis 1
  EXPECT_EQ(model.config.input_size(), 3);
  EXPECT_EQ(model.config.output_size(), 3);
  ASSERT_EQ(model.config.model_warmup_size(), 1);
}

TEST(ExampleConfigsTest, SimpleAddsAndSubtracts) {
  Loaded model = Load("simple");
  ASSERT_NE(model.session, nullptr);
  EXPECT_EQ(model.config.platform(), "onnxruntime_onnx");
  EXPECT_EQ(model.config.max_batch_size(), 8);
  std::vector<int32_t> a(32), b(32);
  for (int i = 0; i < 32; ++i) {
    a[i] = i;
    b[i] = 1;
  }
  InferenceRequest request;
  request.inputs.push_back({"INPUT1", Tensor::FromVector<int32_t>({2, 16}, b)});
  request.inputs.push_back({"INPUT0", Tensor::FromVector<int32_t>({2, 16}, a)});
  ASSERT_TRUE(ValidateRequest(model.config, model.session->inputs(), model.session->outputs(), request).ok());
  std::vector<Tensor> inputs = {request.inputs[0].tensor, request.inputs[1].tensor};
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model.session->Run(inputs, outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(outputs[0].shape(), (Shape{2, 16}));
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(outputs[0].values<int32_t>()[i], i + 1);
    EXPECT_EQ(outputs[1].values<int32_t>()[i], i - 1);
  }
}

}  // namespace
}  // namespace peregrine::serving
