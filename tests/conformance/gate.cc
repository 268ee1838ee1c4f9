#include "gate.h"

#include <fstream>
#include <sstream>

namespace peregrine::conformance {
namespace {

// Lines with comments and surrounding blanks removed; empty lines dropped.
std::vector<std::string> ContentLines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    const size_t end = line.find_last_not_of(" \t\r");
    lines.push_back(line.substr(begin, end - begin + 1));
  }
  return lines;
}

}  // namespace

absl::StatusOr<ExpectedPass> ReadExpectedPass(const std::string& path) {
  ExpectedPass expected;
  std::ifstream in(path);
  if (!in) return expected;
  for (const std::string& line : ContentLines(in)) expected.insert(line.substr(0, line.find_first_of(" \t")));
  return expected;
}

absl::StatusOr<KnownFailures> ReadKnownFailures(const std::string& path) {
  KnownFailures known;
  std::ifstream in(path);
  if (!in) return known;
  for (const std::string& line : ContentLines(in)) {
    const size_t space = line.find_first_of(" \t");
    const size_t reason = space == std::string::npos ? space : line.find_first_not_of(" \t", space);
    if (reason == std::string::npos) {
      return absl::InvalidArgumentError(path + ": '" + line + "' needs a reason after the test name");
    }
    known[line.substr(0, space)] = line.substr(reason);
  }
  return known;
}

GateReport Evaluate(std::vector<TestResult>& results, const ExpectedPass& expected, const KnownFailures& known,
                    const std::function<bool(const std::string&)>& in_scope) {
  GateReport report;
  std::set<std::string> seen;
  for (TestResult& r : results) {
    const std::string id = r.id();
    seen.insert(id);
    const bool passed = r.outcome == Outcome::kPass;
    if (auto it = known.find(id); it != known.end()) {
      r.known_failure = it->second;
      (passed ? report.known_passing : report.known_failing).push_back(id + ": " + it->second);
    } else if (r.outcome == Outcome::kFail) {
      report.failures.push_back(id + ": " + r.message);
    }
    if (expected.count(id) && !passed) {
      report.regressions.push_back(id + ": " + std::string(OutcomeName(r.outcome)) + ": " + r.message);
    }
    if (passed && !expected.count(id)) report.newly_passing.push_back(id);
  }
  for (const std::string& id : expected) {
    if (in_scope(id) && !seen.count(id)) report.missing.push_back(id);
  }
  return report;
}

absl::Status WriteExpectedPass(const std::string& path, const std::vector<TestResult>& results,
                               const ExpectedPass& previous, const std::function<bool(const std::string&)>& in_scope) {
  std::set<std::string> ids;
  for (const std::string& id : previous) {
    if (!in_scope(id)) ids.insert(id);
  }
  for (const TestResult& r : results) {
    if (r.outcome == Outcome::kPass) ids.insert(r.id());
  }
  std::ofstream out(path);
  if (!out) return absl::InvalidArgumentError("cannot write " + path);
  out << "# ONNX backend tests that pass; the `conformance` ctest fails if any of them stops passing.\n"
      << "# Regenerate with: peregrine_conformance --update-expected --expected <this file>\n";
  for (const std::string& id : ids) out << id << "\n";
  return out ? absl::OkStatus() : absl::InternalError("error writing " + path);
}

}  // namespace peregrine::conformance
