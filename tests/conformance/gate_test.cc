#include "gate.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace peregrine::conformance {
namespace {

TestResult Result(const std::string& name, Outcome outcome, const std::string& message = "") {
  TestResult r;
  r.suite = "node";
  r.name = name;
  r.outcome = outcome;
  r.message = message;
  return r;
}

bool All(const std::string&) { return true; }

TEST(GateTest, FailuresAndRegressionsGateUnsupportedDoesNot) {
  std::vector<TestResult> results = {Result("a", Outcome::kPass), Result("b", Outcome::kFail, "wrong"),
                                     Result("c", Outcome::kUnsupported, "no kernel"), Result("d", Outcome::kPass)};
  GateReport g = Evaluate(results, {"node/a", "node/c"}, {}, All);
  EXPECT_FALSE(g.ok());
  ASSERT_EQ(g.failures.size(), 1u);
  EXPECT_EQ(g.failures[0], "node/b: wrong");
  ASSERT_EQ(g.regressions.size(), 1u);
  EXPECT_EQ(g.regressions[0], "node/c: unsupported: no kernel");
  EXPECT_EQ(g.newly_passing, std::vector<std::string>{"node/d"});
}

TEST(GateTest, KnownFailuresDoNotGateButAreReported) {
  std::vector<TestResult> results = {Result("b", Outcome::kFail, "wrong"), Result("e", Outcome::kPass)};
  GateReport g = Evaluate(results, {"node/e"}, {{"node/b", "reason"}, {"node/e", "flaky"}}, All);
  EXPECT_TRUE(g.ok());
  EXPECT_EQ(g.known_failing, std::vector<std::string>{"node/b: reason"});
  EXPECT_EQ(g.known_passing, std::vector<std::string>{"node/e: flaky"});
  EXPECT_EQ(results[0].known_failure, "reason");
}

TEST(GateTest, MissingExpectedTestsGateOnlyInScope) {
  std::vector<TestResult> results = {Result("a", Outcome::kPass)};
  auto node_only = [](const std::string& id) { return id.rfind("node/", 0) == 0; };
  GateReport g = Evaluate(results, {"node/a", "node/gone", "simple/x"}, {}, node_only);
  EXPECT_EQ(g.missing, std::vector<std::string>{"node/gone"});
}

TEST(GateTest, FilesRoundTrip) {
  const std::string path = testing::TempDir() + "/expected_pass.txt";
  std::vector<TestResult> results = {Result("a", Outcome::kPass), Result("b", Outcome::kFail)};
  auto node_only = [](const std::string& id) { return id.rfind("node/", 0) == 0; };
  ASSERT_TRUE(WriteExpectedPass(path, results, {"node/b", "simple/x"}, node_only).ok());
  absl::StatusOr<ExpectedPass> read = ReadExpectedPass(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, (ExpectedPass{"node/a", "simple/x"}));

  const std::string known_path = testing::TempDir() + "/known_failures.txt";
  std::ofstream(known_path) << "# comment\nnode/b   off by one in X  # why\n\n";
  absl::StatusOr<KnownFailures> known = ReadKnownFailures(known_path);
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->at("node/b"), "off by one in X");
  std::ofstream(known_path) << "node/b\n";
  EXPECT_FALSE(ReadKnownFailures(known_path).ok());
  std::remove(path.c_str());
  std::remove(known_path.c_str());
}

}  // namespace
}  // namespace peregrine::conformance
