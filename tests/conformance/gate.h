// The regression gate: what makes the `conformance` ctest fail.
//
// The run fails when
//   - any test FAILS (a wrong answer, or an error that is not Unimplemented) and is not listed in
//     known_failures.txt, or
//   - a test listed in expected_pass.txt (and selected by this run's suites and filter) does not pass,
//     or no longer exists.
// Unsupported tests never fail the gate. Newly passing tests and known failures that now pass are
// reported so that the lists can be updated (--update-expected rewrites expected_pass.txt).
//
// File formats (one entry per line, '#' starts a comment, blank lines ignored):
//   expected_pass.txt   suite/test
//   known_failures.txt  suite/test  reason (free text, required)
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "result.h"

namespace peregrine::conformance {

using ExpectedPass = std::set<std::string>;            // "suite/test"
using KnownFailures = std::map<std::string, std::string>;  // "suite/test" -> reason

// A missing file reads as an empty list. InvalidArgument for a known failure without a reason.
absl::StatusOr<ExpectedPass> ReadExpectedPass(const std::string& path);
absl::StatusOr<KnownFailures> ReadKnownFailures(const std::string& path);

struct GateReport {
  std::vector<std::string> failures;        // gating: fail, not a known failure ("id: message")
  std::vector<std::string> regressions;     // gating: expected to pass, did not ("id: outcome: message")
  std::vector<std::string> missing;         // gating: expected to pass, not found in the data
  std::vector<std::string> known_failing;   // not gating: listed in known_failures.txt, still failing
  std::vector<std::string> known_passing;   // not gating: listed in known_failures.txt, passes now
  std::vector<std::string> newly_passing;   // not gating: passes, not yet in expected_pass.txt

  bool ok() const { return failures.empty() && regressions.empty() && missing.empty(); }
};

// `in_scope(id)` tells whether an expected_pass entry was selected by this run (suite and filter);
// out-of-scope entries are not checked. Also marks results with their known-failure reason.
GateReport Evaluate(std::vector<TestResult>& results, const ExpectedPass& expected, const KnownFailures& known,
                    const std::function<bool(const std::string&)>& in_scope);

// Rewrites expected_pass.txt: the in-scope entries are replaced by this run's passes; entries out of
// this run's scope are kept.
absl::Status WriteExpectedPass(const std::string& path, const std::vector<TestResult>& results,
                               const ExpectedPass& previous, const std::function<bool(const std::string&)>& in_scope);

}  // namespace peregrine::conformance
