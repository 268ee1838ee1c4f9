#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "generation/generator.h"
#include "generation/sampler.h"
#include "generation/vocabulary.h"

namespace peregrine::generation {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = PEREGRINE_SOURCE_DIR;
const std::vector<std::string> kReserved = {"<pad>", "<unk>", "<eos>"};

Vocabulary Small() {
  auto v = Vocabulary::FromTokens({"<pad>", "<unk>", "<eos>", ".", ",", "'", "-", "(", ")", "movie", "is", "great", "don", "t",
                                   "well", "made"},
                                  kReserved, "<unk>");
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}

TEST(VocabularyTest, TokenizesLikeTheExampleRule) {
  EXPECT_EQ(Tokenize("Movie is GREAT."), (std::vector<std::string>{"movie", "is", "great", "."}));
  EXPECT_EQ(Tokenize("  don't\t(well-made)\n"),
            (std::vector<std::string>{"don", "'", "t", "(", "well", "-", "made", ")"}));
  EXPECT_TRUE(Tokenize(" \t\r\n").empty());
  EXPECT_EQ(Tokenize("Ünïcode"), (std::vector<std::string>{"Ünïcode"})) << "only ASCII is lowercased";
}

TEST(VocabularyTest, UnknownWordsAndReservedSpellingsMapToUnknown) {
  Vocabulary v = Small();
  EXPECT_EQ(v.Encode("Movie is great."), (std::vector<int64_t>{9, 10, 11, 3}));
  EXPECT_EQ(v.Encode("movie is <eos> zebra"), (std::vector<int64_t>{9, 10, 1, 1}));
}

TEST(VocabularyTest, DetokenizesPunctuationTightly) {
  Vocabulary v = Small();
  EXPECT_EQ(v.Decode(v.Encode("Movie is great, don't (well-made).")), "movie is great, don't (well-made).");
}

TEST(VocabularyTest, RejectsBadFiles) {
  EXPECT_FALSE(Vocabulary::FromTokens({"<unk>", "<pad>", "<eos>"}, kReserved, "<unk>").ok()) << "reserved order";
  EXPECT_FALSE(Vocabulary::FromTokens({"<pad>", "<unk>", "<eos>", "a", "a"}, kReserved, "<unk>").ok()) << "duplicate";
  EXPECT_FALSE(Vocabulary::FromTokens({"<pad>", "<unk>", "<eos>", ""}, kReserved, "<unk>").ok()) << "empty line";
  EXPECT_TRUE(absl::IsNotFound(Vocabulary::Load("/nonexistent", kReserved, "<unk>").status()));
}

TEST(SamplerTest, GreedyTakesTheFirstMaximum) {
  Sampler s(SamplingParams{});
  std::vector<float> logits = {0.1f, 3.f, -1.f, 3.f};
  EXPECT_EQ(s.Next(logits), 1);
}

TEST(SamplerTest, SeedReproducesAndTopKOneIsGreedy) {
  std::vector<float> logits = {0.5f, 0.2f, 0.9f, 0.1f, 0.7f};
  SamplingParams p{1.0f, 0, 1.0f, 42};
  Sampler a(p), b(p);
  std::vector<int64_t> sa, sb;
  for (int i = 0; i < 50; ++i) {
    sa.push_back(a.Next(logits));
    sb.push_back(b.Next(logits));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_GT(std::set<int64_t>(sa.begin(), sa.end()).size(), 2u) << "temperature 1 should spread samples";
  Sampler top1(SamplingParams{1.0f, 1, 1.0f, 7});
  Sampler nucleus(SamplingParams{1.0f, 0, 0.01f, 7});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(top1.Next(logits), 2);
    EXPECT_EQ(nucleus.Next(logits), 2);
  }
}

TEST(SamplerTest, ValidatesParameters) {
  EXPECT_FALSE((SamplingParams{-0.1f, 0, 1.f, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.f, -1, 1.f, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.f, 0, 0.f, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.f, 0, 1.5f, 0}).Validate().ok());
  EXPECT_TRUE((SamplingParams{0.7f, 40, 0.9f, 0}).Validate().ok());
}

// Reads the integers of a JSON array field, enough for reference/greedy.json.
std::vector<int64_t> JsonInts(const std::string& json, const std::string& field) {
  std::vector<int64_t> out;
  size_t at = json.find("\"" + field + "\"");
  if (at == std::string::npos) return out;
  std::istringstream in(json.substr(json.find('[', at) + 1, json.find(']', at) - json.find('[', at) - 1));
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

TEST(GeneratorTest, GreedyGenerationMatchesPyTorchTokenForToken) {
  std::ifstream in(kSource / "examples/textgen-lstm/reference/greedy.json");
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<int64_t> prompt = JsonInts(json, "prompt_token_ids");
  const std::vector<int64_t> expected = JsonInts(json, "generated_token_ids");
  ASSERT_EQ(expected.size(), 20u);

  auto vocab = Vocabulary::Load((kSource / "examples/models/textgen-lstm/vocab.txt").string(), kReserved, "<unk>");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->Encode("Movie is great."), prompt) << "tokenizer differs from the Python one";
  for (int threads : {1, 2}) {
    engine::SessionOptions options;
    options.threads = threads;
    auto session = engine::Session::Create((kSource / "examples/models/textgen-lstm/1/model.onnx").string(), options);
    ASSERT_TRUE(session.ok()) << session.status();
    auto generator = Generator::Create(session->get(), StepModelSpec{});
    ASSERT_TRUE(generator.ok()) << generator.status();
    GenerateRequest request;
    request.prompt = prompt;
    request.max_new_tokens = 20;
    request.stop_ids = {2};
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second run starts from fresh state again
      auto result = (*generator)->Generate(request);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->tokens, expected) << threads << " threads, run " << repeat;
    }
  }
}

TEST(GeneratorTest, CancelStopsAtTheCallback) {
  auto session = engine::Session::Create((kSource / "examples/models/textgen-lstm/1/model.onnx").string(), {});
  ASSERT_TRUE(session.ok()) << session.status();
  auto generator = Generator::Create(session->get(), StepModelSpec{});
  ASSERT_TRUE(generator.ok());
  GenerateRequest request;
  request.prompt = {5, 6};
  int seen = 0;
  auto result = (*generator)->Generate(request, [&](int64_t) { return ++seen < 3; });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->tokens.size(), 3u);
  EXPECT_EQ(result->finish, GenerateResult::Finish::kCancelled);
  request.prompt.clear();
  EXPECT_TRUE(absl::IsInvalidArgument((*generator)->Generate(request).status()));
  StepModelSpec wrong;
  wrong.token_input = "tokens";
  EXPECT_TRUE(absl::IsInvalidArgument(Generator::Create(session->get(), wrong).status()));
}

}  // namespace
}  // namespace peregrine::generation
