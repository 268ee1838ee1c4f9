// Warm-up samples: zeros, seeded random data, .npy and raw files, and every way an entry can be wrong.
#include "serving/warmup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "serving/model_config.h"
#include "tensor/npy.h"
#include "test_util.h"

namespace peregrine::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Info;
using testing::ScratchDir;

// mfcc FP32 [batch, 1, 3] and ids INT64 [batch, seq].
std::vector<engine::TensorInfo> Inputs() {
  return {Info("mfcc", DataType::kFloat32, {-1, 1, 3}), Info("ids", DataType::kInt64, {-1, -1})};
}

config::ModelConfig Config(const std::string& warmup, int max_batch_size = 4) {
  auto config = ParseModelConfig(absl::StrCat("max_batch_size: ", max_batch_size, "\n", warmup), "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

// One warm-up entry with `mfcc` given by `mfcc_value` and ids zeros of dims [2].
std::string Entry(const std::string& mfcc_value, const std::string& extra = "batch_size: 2 count: 3") {
  return absl::StrCat("model_warmup [ { name: \"w\" ", extra, " inputs { key: \"mfcc\" value: { ", mfcc_value,
                      " } } inputs { key: \"ids\" value: { data_type: TYPE_INT64 dims: [2] zero_data: true } } } ]");
}

void ExpectInvalid(const absl::StatusOr<std::vector<WarmupSample>>& samples, const std::string& text) {
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument) << samples.status();
  EXPECT_THAT(std::string(samples.status().message()), HasSubstr(text));
}

TEST(WarmupTest, DefaultIsOneZeroSampleOfBatchOne) {
  ScratchDir dir;
  auto samples = BuildWarmupSamples(Config(""), dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  const WarmupSample& sample = (*samples)[0];
  EXPECT_EQ(sample.count, 1u);
  ASSERT_EQ(sample.inputs.size(), 2u);
  EXPECT_EQ(sample.inputs[0].shape(), (Shape{1, 1, 3}));  // symbolic dims set to 1
  EXPECT_EQ(sample.inputs[1].shape(), (Shape{1, 1}));
  EXPECT_EQ(sample.inputs[1].dtype(), DataType::kInt64);
  for (float v : sample.inputs[0].values<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(WarmupTest, ZeroData) {
  ScratchDir dir;
  auto samples =
      BuildWarmupSamples(Config(Entry("data_type: TYPE_FP32 dims: [1, 3] zero_data: true")), dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  const WarmupSample& sample = (*samples)[0];
  EXPECT_EQ(sample.name, "w");
  EXPECT_EQ(sample.count, 3u);
  ASSERT_EQ(sample.inputs.size(), 2u);  // session order
  EXPECT_EQ(sample.inputs[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(sample.inputs[0].shape(), (Shape{2, 1, 3}));  // batch_size rows
  EXPECT_EQ(sample.inputs[1].shape(), (Shape{2, 2}));
  for (float v : sample.inputs[0].values<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(WarmupTest, RandomDataIsSeeded) {
  ScratchDir dir;
  const config::ModelConfig config = Config(Entry("data_type: TYPE_FP32 dims: [1, 3] random_data: true"));
  auto first = BuildWarmupSamples(config, dir.path(), Inputs());
  auto second = BuildWarmupSamples(config, dir.path(), Inputs());
  ASSERT_TRUE(first.ok() && second.ok());
  const Tensor& a = (*first)[0].inputs[0];
  const Tensor& b = (*second)[0].inputs[0];
  ASSERT_EQ(a.shape(), (Shape{2, 1, 3}));
  bool any_nonzero = false;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    EXPECT_EQ(a.values<float>()[i], b.values<float>()[i]);  // reproducible
    EXPECT_GE(a.values<float>()[i], -1.0f);
    EXPECT_LT(a.values<float>()[i], 1.0f);
    any_nonzero = any_nonzero || a.values<float>()[i] != 0.0f;
  }
  EXPECT_TRUE(any_nonzero);
}

TEST(WarmupTest, NpyFileOneSampleIsRepeatedOverTheBatch) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "warmup");
  ASSERT_TRUE(WriteNpy((dir.path() / "warmup/mfcc.npy").string(), Tensor::FromVector<float>({1, 3}, {1, 2, 3})).ok());
  auto samples = BuildWarmupSamples(Config(Entry("data_type: TYPE_FP32 dims: [1, 3] input_data_file: \"mfcc.npy\"")),
                                    dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  const Tensor& mfcc = (*samples)[0].inputs[0];
  EXPECT_EQ(mfcc.shape(), (Shape{2, 1, 3}));
  EXPECT_THAT(std::vector<float>(mfcc.values<float>().begin(), mfcc.values<float>().end()),
              ElementsAre(1, 2, 3, 1, 2, 3));
}

TEST(WarmupTest, NpyFileWithTheWholeBatch) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "warmup/sub");
  ASSERT_TRUE(
      WriteNpy((dir.path() / "warmup/sub/b.npy").string(), Tensor::FromVector<float>({2, 1, 3}, {1, 2, 3, 4, 5, 6}))
          .ok());
  auto samples = BuildWarmupSamples(Config(Entry("data_type: TYPE_FP32 dims: [1, 3] input_data_file: \"sub/b.npy\"")),
                                    dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ((*samples)[0].inputs[0].values<float>()[5], 6.0f);
}

TEST(WarmupTest, NpyFileOfWrongTypeOrShapeFails) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "warmup");
  ASSERT_TRUE(WriteNpy((dir.path() / "warmup/d.npy").string(), Tensor::FromVector<double>({1, 3}, {1, 2, 3})).ok());
  ASSERT_TRUE(WriteNpy((dir.path() / "warmup/s.npy").string(), Tensor::FromVector<float>({3}, {1, 2, 3})).ok());
  dir.Write("warmup/junk.npy", "not numpy");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"d.npy\"")), dir.path(), Inputs()),
                "float64");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"s.npy\"")), dir.path(), Inputs()),
                "model_warmup[0].inputs[\"mfcc\"].input_data_file 's.npy': shape [3]");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"junk.npy\"")), dir.path(), Inputs()),
                "junk.npy");
}

TEST(WarmupTest, RawFileMustMatchTheByteSizeExactly) {
  ScratchDir dir;
  const float values[3] = {0.5f, -1.5f, 2.0f};
  dir.Write("warmup/mfcc.raw", std::string(reinterpret_cast<const char*>(values), sizeof(values)));
  dir.Write("warmup/short.raw", std::string(reinterpret_cast<const char*>(values), sizeof(values) - 1));
  dir.Write("warmup/long.raw", std::string(reinterpret_cast<const char*>(values), sizeof(values)) + "x");
  auto samples = BuildWarmupSamples(Config(Entry("data_type: TYPE_FP32 dims: [1, 3] input_data_file: \"mfcc.raw\"")),
                                    dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  const Tensor& mfcc = (*samples)[0].inputs[0];
  EXPECT_EQ(mfcc.shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(mfcc.values<float>()[1], -1.5f);
  EXPECT_EQ(mfcc.values<float>()[4], -1.5f);
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"short.raw\"")), dir.path(), Inputs()),
                "11 bytes, expected exactly 12");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"long.raw\"")), dir.path(), Inputs()),
                "13 bytes, expected exactly 12");
}

TEST(WarmupTest, RawStringFileUsesLengthPrefixes) {
  ScratchDir dir;
  const std::vector<engine::TensorInfo> inputs = {Info("text", DataType::kString, {-1, 2})};
  std::string bytes;
  for (const std::string s : {"hi", "there"}) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    bytes.append(reinterpret_cast<const char*>(&n), 4).append(s);
  }
  dir.Write("warmup/text.bin", bytes);
  dir.Write("warmup/short.bin", bytes.substr(0, 6));
  const std::string entry =
      "model_warmup [ { inputs { key: \"text\" value: { data_type: TYPE_STRING dims: [2] "
      "input_data_file: \"FILE\" } } } ]";
  auto samples = BuildWarmupSamples(Config(absl::StrReplaceAll(entry, {{"FILE", "text.bin"}})), dir.path(), inputs);
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ((*samples)[0].inputs[0].values<std::string>()[1], "there");
  ExpectInvalid(BuildWarmupSamples(Config(absl::StrReplaceAll(entry, {{"FILE", "short.bin"}})), dir.path(), inputs),
                "holds 1 strings, expected 2");
}

TEST(WarmupTest, MissingFileFails) {
  ScratchDir dir;
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"nope.npy\"")), dir.path(), Inputs()),
                "'nope.npy' is not a file in");
  dir.MakeDir("warmup/folder");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"folder\"")), dir.path(), Inputs()),
                "is not a file");
}

TEST(WarmupTest, PathsMustStayInWarmupFolder) {
  ScratchDir dir;
  const float values[3] = {1, 2, 3};
  const std::string raw(reinterpret_cast<const char*>(values), sizeof(values));
  dir.Write("secret.raw", raw);  // exists, but outside warmup/
  dir.Write("warmup/ok.raw", raw);
  for (const std::string& file : {std::string("../secret.raw"), std::string("sub/../../secret.raw"),
                                  (dir.path() / "secret.raw").string(), std::string("")}) {
    ExpectInvalid(
        BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"" + file + "\"")), dir.path(), Inputs()),
        "must name a file inside the model's warmup/ folder");
  }
  // A link inside warmup/ that points outside it.
  std::filesystem::create_symlink(dir.path() / "secret.raw", dir.path() / "warmup/link.raw");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"link.raw\"")), dir.path(), Inputs()),
                "leads outside");
  EXPECT_TRUE(BuildWarmupSamples(Config(Entry("dims: [1, 3] input_data_file: \"ok.raw\"")), dir.path(), Inputs()).ok());
}

TEST(WarmupTest, EntriesAreCheckedAgainstTheModel) {
  ScratchDir dir;
  const auto inputs = Inputs();
  ExpectInvalid(
      BuildWarmupSamples(Config(Entry("data_type: TYPE_INT32 dims: [1, 3] zero_data: true")), dir.path(), inputs),
      "model_warmup[0].inputs[\"mfcc\"].data_type: model input 'mfcc' is TYPE_FP32");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 4] zero_data: true")), dir.path(), inputs),
                "model_warmup[0].inputs[\"mfcc\"].dims");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [3] zero_data: true")), dir.path(), inputs),
                "model_warmup[0].inputs[\"mfcc\"].dims");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3]")), dir.path(), inputs),
                "set zero_data, random_data or input_data_file");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 3] zero_data: true", "batch_size: 5")), dir.path(), inputs),
                "model_warmup[0].batch_size: 5 exceeds max_batch_size 4");
  ExpectInvalid(BuildWarmupSamples(Config(Entry("dims: [1, 1, 3] zero_data: true", "batch_size: 2"), 0), dir.path(),
                                   {Info("mfcc", DataType::kFloat32, {1, 1, 3}), Info("ids", DataType::kInt64, {2})}),
                "model_warmup[0].batch_size: the model does not batch");
  // A variable dimension needs a concrete warm-up size.
  ExpectInvalid(
      BuildWarmupSamples(Config("model_warmup [ { inputs { key: \"mfcc\" value: { dims: [1, 3] zero_data: true } }"
                                " inputs { key: \"ids\" value: { dims: [-1] zero_data: true } } } ]"),
                         dir.path(), inputs),
      "model_warmup[0].inputs[\"ids\"].dims: warm-up needs concrete sizes");
  // A typo that would need gigabytes.
  ExpectInvalid(
      BuildWarmupSamples(Config("model_warmup [ { inputs { key: \"mfcc\" value: { dims: [1, 3] zero_data: true } }"
                                " inputs { key: \"ids\" value: { dims: [1000000000] zero_data: true } } } ]"),
                         dir.path(), inputs),
      "model_warmup[0].inputs[\"ids\"].dims: a warm-up tensor of shape [1, 1000000000] is over 1 GiB");
  // Missing and unknown inputs.
  ExpectInvalid(BuildWarmupSamples(
                    Config("model_warmup [ { inputs { key: \"mfcc\" value: { dims: [1, 3] zero_data: true } } } ]"),
                    dir.path(), inputs),
                "model_warmup[0].inputs: model input 'ids' is missing");
  ExpectInvalid(
      BuildWarmupSamples(
          Config(absl::StrCat("model_warmup [ { inputs { key: \"other\" value: { dims: [1] zero_data: true } }",
                              " inputs { key: \"mfcc\" value: { dims: [1, 3] zero_data: true } }",
                              " inputs { key: \"ids\" value: { dims: [1] zero_data: true } } } ]")),
          dir.path(), inputs),
      "model_warmup[0].inputs[\"other\"]: the model has no input 'other'");
}

TEST(WarmupTest, FixedDimsMayBeLeftOut) {
  ScratchDir dir;
  auto samples = BuildWarmupSamples(Config("model_warmup [ { inputs { key: \"mfcc\" value: { zero_data: true } }"
                                           " inputs { key: \"ids\" value: { dims: [5] random_data: true } } } ]"),
                                    dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ((*samples)[0].inputs[0].shape(), (Shape{1, 1, 3}));
  EXPECT_EQ((*samples)[0].inputs[0].dtype(), DataType::kFloat32);  // data_type left out: the model's
  const Tensor& ids = (*samples)[0].inputs[1];
  EXPECT_EQ(ids.shape(), (Shape{1, 5}));
  for (int64_t v : ids.values<int64_t>()) {
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 9);
  }
}

TEST(WarmupTest, SeveralEntriesKeepTheirOrder) {
  ScratchDir dir;
  const std::string one =
      "inputs { key: \"mfcc\" value: { dims: [1, 3] zero_data: true } }"
      " inputs { key: \"ids\" value: { dims: [1] zero_data: true } }";
  auto samples = BuildWarmupSamples(
      Config(absl::StrCat("model_warmup [ { name: \"a\" ", one, " }, { ", one, " count: 0 } ]")), dir.path(), Inputs());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].name, "a");
  EXPECT_EQ((*samples)[1].name, "model_warmup[1]");
  EXPECT_EQ((*samples)[1].count, 1u);  // 0 means 1
}

}  // namespace
}  // namespace peregrine::serving
