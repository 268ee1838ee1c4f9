// The `generation` block of config.pbtxt: completion, checks naming the field, and the vocabulary checks
// made when the service is built.
#include "serving/generation_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../serving/test_util.h"
#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

namespace fs = std::filesystem;
using testing::Info;

const fs::path kModelDir = fs::path(PEREGRINE_SOURCE_DIR) / "examples/models/textgen-lstm";

// The example model's signature.
const std::vector<engine::TensorInfo> kInputs = {Info("token_ids", DataType::kInt64, {-1, -1}),
                                                 Info("h0", DataType::kFloat32, {2, -1, 192}),
                                                 Info("c0", DataType::kFloat32, {2, -1, 192})};
const std::vector<engine::TensorInfo> kOutputs = {Info("logits", DataType::kFloat32, {-1, 1040}),
                                                  Info("hn", DataType::kFloat32, {2, -1, 192}),
                                                  Info("cn", DataType::kFloat32, {2, -1, 192})};

constexpr const char* kGeneration = R"(
generation {
  token_input: "token_ids"
  logits_output: "logits"
  state [ { input: "h0" output: "hn" batch_axis: 1 }, { input: "c0" output: "cn" batch_axis: 1 } ]
  vocabulary: "vocab.txt"
  reserved_tokens: [ "<pad>", "<unk>", "<eos>" ]
  unknown_token: "<unk>"
  end_token: "<eos>"
}
)";

// Completes a config made of the generation block above with `edit` applied to it.
absl::Status Complete(const std::function<void(config::ModelGeneration&)>& edit, config::ModelConfig* out = nullptr) {
  auto config = ParseModelConfig(kGeneration, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  if (edit) edit(*config->mutable_generation());
  absl::Status status = CompleteModelConfig("textgen-lstm", kInputs, kOutputs, true, {}, *config);
  if (out != nullptr) *out = *config;
  return status;
}

void ExpectError(const std::function<void(config::ModelGeneration&)>& edit, const std::string& fragment) {
  absl::Status status = Complete(edit);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message() << "\nexpected: " << fragment;
}

TEST(GenerationConfigTest, CompletesDefaults) {
  config::ModelConfig config;
  ASSERT_TRUE(Complete(nullptr, &config).ok());
  const config::ModelGeneration& g = config.generation();
  EXPECT_EQ(g.tokenizer(), "basic_english");
  EXPECT_EQ(g.default_max_tokens(), kDefaultMaxTokens);
  EXPECT_EQ(g.max_tokens_limit(), kDefaultMaxTokensLimit);
  EXPECT_EQ(g.max_prompt_tokens(), kDefaultMaxPromptTokens);
  EXPECT_EQ(g.max_sequences_per_step(), kDefaultMaxSequencesPerStep);
  EXPECT_NE(ModelConfigToJson(config).find("\"generation\""), std::string::npos);
  generation::StepModelSpec spec = StepModelSpecOf(g);
  EXPECT_EQ(spec.state.size(), 2u);
  EXPECT_EQ(spec.state[1].output, "cn");
}

TEST(GenerationConfigTest, NamesTheFieldOfEveryMistake) {
  ExpectError([](auto& g) { g.clear_token_input(); }, "generation.token_input: required");
  ExpectError([](auto& g) { g.set_token_input("tokens"); }, "generation.token_input: the model has no input 'tokens'");
  ExpectError([](auto& g) { g.set_token_input("h0"); }, "generation.token_input: model input 'h0' must be TYPE_INT64");
  ExpectError(
      [](auto& g) { g.set_logits_output("hn"); },
      "generation.logits_output: model output 'hn' must be TYPE_FP32 [batch, vocabulary], is TYPE_FP32 [2, -1, 192]");
  ExpectError([](auto& g) { g.set_logits_output("probs"); },
              "generation.logits_output: the model has no output 'probs'");
  ExpectError([](auto& g) { g.mutable_state(1)->set_output("cm"); },
              "generation.state[1].output: the model has no output 'cm' (outputs: logits, hn, cn)");
  ExpectError([](auto& g) { g.mutable_state(1)->set_input("h0"); }, "generation.state[1].input: 'h0' is already used");
  ExpectError([](auto& g) { g.mutable_state(0)->set_batch_axis(3); },
              "generation.state[0].batch_axis: 3 is not an axis");
  ExpectError([](auto& g) { g.mutable_state(0)->set_batch_axis(0); }, "generation.state[0].batch_axis: dimension 0");
  ExpectError([](auto& g) { g.mutable_state()->RemoveLast(); },
              "generation.state: model input 'c0' is neither token_input nor a state input");
  ExpectError([](auto& g) { g.set_tokenizer("gpt2"); }, "generation.tokenizer: 'gpt2' is not supported");
  ExpectError([](auto& g) { g.clear_vocabulary(); }, "generation.vocabulary: required");
  ExpectError([](auto& g) { g.set_vocabulary("../vocab.txt"); }, "generation.vocabulary: '../vocab.txt' must be");
  ExpectError([](auto& g) { g.set_vocabulary("/etc/passwd"); }, "generation.vocabulary: '/etc/passwd' must be");
  ExpectError([](auto& g) { g.set_unknown_token("<oov>"); }, "generation.unknown_token: '<oov>' must be one of");
  ExpectError([](auto& g) { g.set_end_token("</s>"); }, "generation.end_token: '</s>' must be one of");
  ExpectError([](auto& g) { g.add_reserved_tokens("<pad>"); },
              "generation.reserved_tokens[3]: '<pad>' is listed twice");
  ExpectError([](auto& g) { g.set_default_max_tokens(50), g.set_max_tokens_limit(40); },
              "generation.default_max_tokens: 50 is over max_tokens_limit 40");
  ExpectError([](auto& g) { g.set_max_tokens_limit(2'000'000); }, "generation.max_tokens_limit: 2000000 is over");
  ExpectError([](auto& g) { g.set_max_prompt_tokens(1'000'000); }, "generation.max_prompt_tokens: 1000000 is over");
  ExpectError([](auto& g) { g.set_max_sequences_per_step(5000); }, "generation.max_sequences_per_step: 5000 is over");
  // No end token is allowed: generation then stops on stop words and the length only.
  EXPECT_TRUE(Complete([](auto& g) { g.clear_end_token(); }).ok());
}

TEST(GenerationConfigTest, UnknownFieldsInTheBlockAreErrors) {
  auto config = ParseModelConfig("generation { vocab: \"v.txt\" }", "config.pbtxt");
  EXPECT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("vocab"), std::string::npos) << config.status();
}

// Builds the service for the example model with its vocabulary replaced by `vocab` (lines).
absl::Status BuildWith(const std::string& vocab, const std::vector<std::string>& reserved) {
  testing::ScratchDir dir;
  dir.Write("vocab.txt", vocab);
  config::ModelConfig config;
  EXPECT_TRUE(Complete(
                  [&](auto& g) {
                    g.set_max_sequences_per_step(1);
                    g.clear_reserved_tokens();
                    for (const auto& r : reserved) g.add_reserved_tokens(r);
                  },
                  &config)
                  .ok());
  GenerationBuildOptions options;
  options.model_name = "textgen-lstm";
  options.model_dir = dir.path();
  options.model_path = kModelDir / "1/model.onnx";
  return BuildGenerationService(config, options).status();
}

TEST(GenerationConfigTest, TheVocabularyMustFitTheModel) {
  absl::Status missing = BuildWith("", {"<pad>", "<unk>", "<eos>"});
  EXPECT_NE(missing.message().find("generation.vocabulary:"), std::string::npos) << missing;

  std::ifstream in(kModelDir / "vocab.txt");
  std::string full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::Status short_vocab =
      BuildWith(full.substr(0, full.rfind('\n', full.size() - 2) + 1), {"<pad>", "<unk>", "<eos>"});
  EXPECT_TRUE(absl::IsInvalidArgument(short_vocab)) << short_vocab;
  EXPECT_NE(short_vocab.message().find("has 1039 tokens but the logits output 'logits' is 1040 wide"),
            std::string::npos)
      << short_vocab;

  absl::Status order = BuildWith(full, {"<unk>", "<pad>", "<eos>"});
  EXPECT_NE(order.message().find("generation.vocabulary:"), std::string::npos) << order;
  EXPECT_NE(order.message().find("reserved token '<unk>'"), std::string::npos) << order;

  EXPECT_TRUE(BuildWith(full, {"<pad>", "<unk>", "<eos>"}).ok());
}

TEST(GenerationConfigTest, TheVocabularyMayNotLinkOutOfTheModelFolder) {
  testing::ScratchDir outside;
  outside.Write("vocab.txt", "<pad>\n<unk>\n<eos>\n");
  testing::ScratchDir dir;
  fs::create_symlink(outside.path() / "vocab.txt", dir.path() / "vocab.txt");
  config::ModelConfig config;
  ASSERT_TRUE(Complete(nullptr, &config).ok());
  GenerationBuildOptions options;
  options.model_dir = dir.path();
  options.model_path = kModelDir / "1/model.onnx";
  absl::Status status = BuildGenerationService(config, options).status();
  EXPECT_NE(status.message().find("leads out of the model folder"), std::string::npos) << status;
}

}  // namespace
}  // namespace peregrine::serving
