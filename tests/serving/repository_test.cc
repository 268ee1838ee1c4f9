// Model repository scanning, version policies and fingerprints, on scratch folders.
#include "serving/repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace peregrine::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::ScratchDir;

TEST(RepositoryTest, ListsModelFoldersSortedIgnoringHiddenAndFiles) {
  ScratchDir repo;
  repo.MakeDir("zeta/1");
  repo.MakeDir("alpha");
  repo.MakeDir(".git");
  repo.Write("README.md", "not a model");
  auto names = ListModelNames(repo.path());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("alpha", "zeta"));
}

TEST(RepositoryTest, MissingRepositoryIsNotFound) {
  ScratchDir repo;
  EXPECT_EQ(ListModelNames(repo.path() / "nope").status().code(), absl::StatusCode::kNotFound);
  repo.Write("file", "x");
  EXPECT_EQ(ListModelNames(repo.path() / "file").status().code(), absl::StatusCode::kNotFound);
}

TEST(RepositoryTest, ReadsVersionsAndConfig) {
  ScratchDir repo;
  repo.Write("m/config.pbtxt", "max_batch_size: 4\n");
  repo.MakeDir("m/10");
  repo.MakeDir("m/2");
  repo.MakeDir("m/1");
  repo.MakeDir("m/01");                    // not canonical: ignored so that it can't alias version 1
  repo.MakeDir("m/latest");                // not numeric
  repo.MakeDir("m/0");                     // versions are positive
  repo.MakeDir("m/99999999999999999999");  // does not fit
  repo.Write("m/3", "a file, not a version folder");
  auto dir = ReadModelDirectory(repo.path(), "m");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->name, "m");
  EXPECT_EQ(dir->path, repo.path() / "m");
  EXPECT_THAT(dir->versions, ElementsAre(1, 2, 10));
  ASSERT_TRUE(dir->config_text.has_value());
  EXPECT_EQ(*dir->config_text, "max_batch_size: 4\n");
}

TEST(RepositoryTest, ConfigIsOptional) {
  ScratchDir repo;
  repo.MakeDir("m/1");
  auto dir = ReadModelDirectory(repo.path(), "m");
  ASSERT_TRUE(dir.ok());
  EXPECT_FALSE(dir->config_text.has_value());
}

TEST(RepositoryTest, BadOrMissingNames) {
  ScratchDir repo;
  repo.MakeDir("m");
  EXPECT_EQ(ReadModelDirectory(repo.path(), "other").status().code(), absl::StatusCode::kNotFound);
  for (const char* name : {"", "..", "../m", "a/b", ".hidden"}) {
    EXPECT_EQ(ReadModelDirectory(repo.path(), name).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

config::ModelVersionPolicy Latest(uint32_t n) {
  config::ModelVersionPolicy policy;
  policy.mutable_latest()->set_num_versions(n);
  return policy;
}

TEST(SelectVersionsTest, Latest) {
  EXPECT_THAT(SelectVersions(config::ModelVersionPolicy(), {3, 1, 2}), ElementsAre(3));  // unset: latest one
  EXPECT_THAT(SelectVersions(Latest(1), {1, 2, 3}), ElementsAre(3));
  EXPECT_THAT(SelectVersions(Latest(2), {1, 5, 3}), ElementsAre(3, 5));
  EXPECT_THAT(SelectVersions(Latest(10), {1, 2}), ElementsAre(1, 2));
  EXPECT_THAT(SelectVersions(Latest(1), {}), IsEmpty());
}

TEST(SelectVersionsTest, All) {
  config::ModelVersionPolicy policy;
  policy.mutable_all();
  EXPECT_THAT(SelectVersions(policy, {2, 1, 7}), ElementsAre(1, 2, 7));
}

TEST(SelectVersionsTest, Specific) {
  config::ModelVersionPolicy policy;
  policy.mutable_specific()->add_versions(7);
  policy.mutable_specific()->add_versions(2);
  policy.mutable_specific()->add_versions(4);  // not on disk
  EXPECT_THAT(SelectVersions(policy, {1, 2, 3, 7}), ElementsAre(2, 7));
  EXPECT_THAT(SelectVersions(policy, {1, 3}), IsEmpty());
}

TEST(ModelFingerprintTest, ChangesWhenFilesChange) {
  ScratchDir repo;
  repo.Write("m/1/model.onnx", "abc");
  const std::filesystem::path dir = repo.path() / "m";
  const std::string first = ModelFingerprint(dir);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(ModelFingerprint(dir), first);  // stable while nothing changes

  repo.Write("m/config.pbtxt", "max_batch_size: 1");  // added
  const std::string added = ModelFingerprint(dir);
  EXPECT_NE(added, first);

  repo.Write("m/config.pbtxt", "max_batch_size: 12");  // resized
  const std::string resized = ModelFingerprint(dir);
  EXPECT_NE(resized, added);

  // Same size, new contents: the modification time moves (set explicitly: file systems may have coarse clocks).
  repo.Write("m/config.pbtxt", "max_batch_size: 13");
  const auto file = dir / "config.pbtxt";
  std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + std::chrono::seconds(5));
  const std::string modified = ModelFingerprint(dir);
  EXPECT_NE(modified, resized);

  repo.MakeDir("m/2");  // a new version folder
  const std::string new_version = ModelFingerprint(dir);
  EXPECT_NE(new_version, modified);

  std::filesystem::remove(file);  // removed
  EXPECT_NE(ModelFingerprint(dir), new_version);
}

TEST(ModelFingerprintTest, DiffersBetweenModelsAndForMissingFolders) {
  ScratchDir repo;
  repo.Write("a/1/model.onnx", "abc");
  repo.Write("b/1/model.onnx", "abcd");
  EXPECT_NE(ModelFingerprint(repo.path() / "a"), ModelFingerprint(repo.path() / "b"));
  EXPECT_EQ(ModelFingerprint(repo.path() / "missing"), "");
}

}  // namespace
}  // namespace peregrine::serving
