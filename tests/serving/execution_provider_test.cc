// Execution provider preference lists and the fallback rule.
#include "serving/execution_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

config::ModelConfig Parse(const std::string& text) {
  auto config = ParseModelConfig(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

std::vector<std::string> Preference(const std::string& text, const char* env = nullptr) {
  auto list = ProviderPreference(Parse(text), env);
  EXPECT_TRUE(list.ok()) << list.status();
  return list.ok() ? *list : std::vector<std::string>{};
}

TEST(ExecutionProviderTest, KnownProviders) {
  const auto& known = KnownProviders();
  ASSERT_EQ(known.size(), 3u);
  EXPECT_EQ(known[0].name, "cpu");
  EXPECT_TRUE(known[0].built_in);
  EXPECT_EQ(known[1].name, "cuda");
  EXPECT_FALSE(known[1].built_in);
  EXPECT_EQ(known[2].name, "tensorrt");
  EXPECT_FALSE(known[2].built_in);
}

TEST(ExecutionProviderTest, DefaultIsCpu) {
  EXPECT_THAT(Preference(""), ElementsAre("cpu"));
  EXPECT_THAT(Preference("instance_group [ { kind: KIND_CPU count: 2 } ]"), ElementsAre("cpu"));
}

TEST(ExecutionProviderTest, ConfigList) {
  EXPECT_THAT(Preference("execution_providers [ { name: \"tensorrt\" }, { name: \"cuda\" }, { name: \"cpu\" } ]"),
              ElementsAre("tensorrt", "cuda", "cpu"));
}

TEST(ExecutionProviderTest, TritonAcceleratorsAndGpuGroups) {
  EXPECT_THAT(Preference(R"(optimization { execution_accelerators {
                              cpu_execution_accelerator [ { name: "cpu" } ]
                              gpu_execution_accelerator [
                                { name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }
                            instance_group [ { kind: KIND_GPU } ])"),
              ElementsAre("tensorrt", "cpu", "cuda"));
  EXPECT_THAT(Preference("instance_group [ { kind: KIND_GPU }, { kind: KIND_GPU } ]"), ElementsAre("cuda"));
}

TEST(ExecutionProviderTest, UnknownNamesFailNamingTheField) {
  auto list = ProviderPreference(Parse("execution_providers [ { name: \"cpu\" }, { name: \"openvino\" } ]"), nullptr);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("execution_providers[1].name"));
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("'openvino'"));
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("known: cpu, cuda, tensorrt"));

  list = ProviderPreference(
      Parse("optimization { execution_accelerators { cpu_execution_accelerator [ { name: \"openvino\" } ] } }"),
      nullptr);
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(std::string(list.status().message()),
              HasSubstr("optimization.execution_accelerators.cpu_execution_accelerator[0].name"));

  list = ProviderPreference(Parse("execution_providers [ { name: \"cpu\" }, { name: \"cpu\" } ]"), nullptr);
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("twice"));
}

TEST(ExecutionProviderTest, EnvironmentOverridesTheConfig) {
  const std::string config = "execution_providers [ { name: \"cuda\" } ]";
  EXPECT_THAT(Preference(config, "cpu"), ElementsAre("cpu"));
  EXPECT_THAT(Preference(config, " tensorrt , cpu "), ElementsAre("tensorrt", "cpu"));
  EXPECT_THAT(Preference(config, ""), ElementsAre("cuda"));  // empty: no override
  EXPECT_THAT(Preference(config, "  "), ElementsAre("cuda"));
  EXPECT_THAT(Preference(config, nullptr), ElementsAre("cuda"));

  for (const char* bad : {"gpu", "cpu,,cuda", "cpu,cpu"}) {
    auto list = ProviderPreference(Parse(config), bad);
    ASSERT_FALSE(list.ok()) << bad;
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(list.status().message()), HasSubstr("PEREGRINE_EXECUTION_PROVIDER")) << bad;
  }
}

TEST(ChooseProviderTest, FirstBuiltInWins) {
  EXPECT_EQ(*ChooseProvider({"cpu"}), "cpu");
  EXPECT_EQ(*ChooseProvider({"cuda", "cpu"}), "cpu");  // fallback listed: allowed
  EXPECT_EQ(*ChooseProvider({"tensorrt", "cuda", "cpu"}), "cpu");
  EXPECT_EQ(*ChooseProvider({"cpu", "cuda"}), "cpu");
}

TEST(ChooseProviderTest, NotBuiltInWithoutFallbackFails) {
  auto chosen = ChooseProvider({"cuda"});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chosen.status().message()), HasSubstr("'cuda' is not built into this server"));
  EXPECT_THAT(std::string(chosen.status().message()), HasSubstr("{name: \"cpu\"}"));

  chosen = ChooseProvider({"tensorrt", "cuda"});  // the fallback itself is not built in
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chosen.status().message()), HasSubstr("tensorrt, cuda"));
}

TEST(ChooseProviderTest, EmptyOrUnknownFails) {
  EXPECT_EQ(ChooseProvider({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseProvider({"foo", "cpu"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChooseProviderTest, GpuInstanceGroupWithoutFallbackFailsAndWithFallbackRunsOnCpu) {
  auto gpu_only = ProviderPreference(Parse("instance_group [ { kind: KIND_GPU } ]"), nullptr);
  ASSERT_TRUE(gpu_only.ok());
  EXPECT_EQ(ChooseProvider(*gpu_only).status().code(), absl::StatusCode::kFailedPrecondition);
  auto with_fallback = ProviderPreference(
      Parse("instance_group [ { kind: KIND_GPU } ] execution_providers [ { name: \"cuda\" }, { name: \"cpu\" } ]"),
      nullptr);
  ASSERT_TRUE(with_fallback.ok());
  EXPECT_EQ(*ChooseProvider(*with_fallback), "cpu");
  auto overridden = ProviderPreference(Parse("instance_group [ { kind: KIND_GPU } ]"), "cpu");
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ(*ChooseProvider(*overridden), "cpu");
}

}  // namespace
}  // namespace peregrine::serving
