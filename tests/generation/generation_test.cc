#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "generation/generator.h"
#include "generation/sampler.h"
#include "generation/step_batch.h"
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

TEST(SamplerTest, ArgMaxPicksWhatMaxElementPicks) {
  std::mt19937 rng(5);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Few distinct values, so ties are common; NaNs, infinities and both zeros anywhere, the first included.
  const std::vector<float> pool = {-2.f, -1.f, -0.f, 0.f, 0.5f, 1.f, 3.f, nan, inf, -inf};
  for (size_t n : {1, 2, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 1040}) {
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<float> v(n);
      for (float& x : v) x = pool[rng() % pool.size()];
      if (trial % 3 == 0) v[rng() % n] = 7.f;  // one clear winner, at any position
      EXPECT_EQ(ArgMax(v), std::max_element(v.begin(), v.end()) - v.begin()) << "n " << n << " trial " << trial;
    }
  }
  std::vector<float> ramp(1040);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i % 517);  // the last of 3 equal maxima
  EXPECT_EQ(ArgMax(ramp), 516);
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

// ---- StepBatch ----

const fs::path kModel = kSource / "examples/models/textgen-lstm/1/model.onnx";

struct StepModel {
  std::unique_ptr<engine::Session> session;
  StepModelBinding binding;
  static StepModel Load() {
    StepModel m;
    engine::SessionOptions options;
    options.threads = 1;
    options.max_cached_plans = 64;
    auto session = engine::Session::Create(kModel.string(), options);
    EXPECT_TRUE(session.ok()) << session.status();
    m.session = *std::move(session);
    auto binding = BindStepModel(m.session->inputs(), m.session->outputs(), StepModelSpec{});
    EXPECT_TRUE(binding.ok()) << binding.status();
    m.binding = *binding;
    return m;
  }
};

// The logits after each token of `tokens`, fed one step at a time to a batch of one row from zero state.
std::vector<std::vector<float>> AloneLogits(const StepModel& m, const std::vector<int64_t>& tokens) {
  auto batch = StepBatch::Create(m.session.get(), m.binding, 1);
  EXPECT_TRUE(batch.ok()) << batch.status();
  std::vector<int> one = {StepBatch::kNewRow};
  EXPECT_TRUE((*batch)->SetRows(one).ok());
  std::vector<std::vector<float>> out;
  for (int64_t token : tokens) {
    EXPECT_TRUE((*batch)->Step(std::span<const int64_t>(&token, 1)).ok());
    std::span<const float> logits = (*batch)->logits(0);
    out.emplace_back(logits.begin(), logits.end());
  }
  return out;
}

void ExpectSameLogits(std::span<const float> got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-4f) << what;
  EXPECT_EQ(ArgMax(got), ArgMax(want)) << what;
}

TEST(StepBatchTest, RowsKeepTheirStateWhileOthersJoinAndLeave) {
  StepModel m = StepModel::Load();
  // Five sequences; each step's row list says which of them are in the batch, in row order (a
  // sequence's position advances by one token per step it is in).
  const std::vector<std::vector<int64_t>> seqs = {
      {5, 17, 300, 2, 40, 41, 42, 43}, {9, 10, 11, 3, 50, 51, 52}, {100, 200, 300, 400, 500, 600, 700, 800},
      {7, 8, 9, 10, 11, 12}, {900, 800, 700, 600}};
  const std::vector<std::vector<int>> schedule = {
      {0}, {0, 1}, {0, 1, 2}, {0, 1, 2, 3}, {0, 2, 3},  // 1 leaves from the middle
      {0, 2, 3, 4},                                      // 4 joins at the end
      {2, 3, 4},                                         // 0 leaves from the front
      {2, 4},                                            // 3 leaves, the rest shift
      {2, 4, 1}};                                        // 1 comes back from zero state
  std::vector<std::vector<std::vector<float>>> alone;
  for (const auto& seq : seqs) alone.push_back(AloneLogits(m, seq));

  auto batch = StepBatch::Create(m.session.get(), m.binding, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  std::vector<int> previous;
  std::map<int, size_t> position;
  for (size_t step = 0; step < schedule.size(); ++step) {
    const std::vector<int>& now = schedule[step];
    std::vector<int> sources;
    std::vector<int64_t> tokens;
    for (int seq : now) {
      auto at = std::find(previous.begin(), previous.end(), seq);
      if (at == previous.end()) position[seq] = 0;  // (re)joins from zero state
      sources.push_back(at == previous.end() ? StepBatch::kNewRow : static_cast<int>(at - previous.begin()));
      tokens.push_back(seqs[seq][position[seq]]);
    }
    ASSERT_TRUE((*batch)->SetRows(sources).ok());
    ASSERT_TRUE((*batch)->Step(tokens).ok());
    for (size_t row = 0; row < now.size(); ++row) {
      const int seq = now[row];
      ExpectSameLogits((*batch)->logits(static_cast<int>(row)), alone[seq][position[seq]],
                       "step " + std::to_string(step) + " sequence " + std::to_string(seq));
      ++position[seq];
    }
    previous = now;
  }
  std::vector<int> bad = {3};
  EXPECT_TRUE(absl::IsInvalidArgument((*batch)->SetRows(bad))) << "row 3 of a 3-row batch";
  std::vector<int> too_many(5, StepBatch::kNewRow);
  EXPECT_TRUE(absl::IsInvalidArgument((*batch)->SetRows(too_many)));
}

TEST(StepBatchTest, SeveralTokensAloneEqualOneStepEach) {
  StepModel m = StepModel::Load();
  StepModel chunks = StepModel::Load();
  const std::vector<int64_t> tokens = {5, 17, 300, 2, 40, 41, 42, 43, 44, 45, 46};
  const std::vector<std::vector<float>> alone = AloneLogits(m, tokens);
  auto batch = StepBatch::Create(m.session.get(), m.binding, 2, chunks.session.get(), 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ((*batch)->max_chunk(), 4);
  ASSERT_TRUE((*batch)->WarmUpChunks().ok());
  std::vector<int> one = {StepBatch::kNewRow};
  ASSERT_TRUE((*batch)->SetRows(one).ok());
  size_t fed = 0;
  for (size_t chunk : {4, 1, 3, 2, 1}) {  // from zero state, then from the state the calls before left
    ASSERT_TRUE((*batch)->StepAlone(std::span<const int64_t>(tokens).subspan(fed, chunk)).ok());
    fed += chunk;
    ExpectSameLogits((*batch)->logits(0), alone[fed - 1], "after " + std::to_string(fed) + " tokens");
  }
  EXPECT_TRUE(absl::IsInvalidArgument((*batch)->StepAlone(std::span<const int64_t>(tokens).subspan(0, 5))))
      << "more than max_chunk tokens";
  std::vector<int> two = {0, StepBatch::kNewRow};
  ASSERT_TRUE((*batch)->SetRows(two).ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*batch)->StepAlone(std::span<const int64_t>(tokens).subspan(0, 2))))
      << "two rows";
}

}  // namespace
}  // namespace peregrine::generation
