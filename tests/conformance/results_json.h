// Writing the per-test results as JSON for scripts/conformance_report.py.
//
// {
//   "command": "peregrine_conformance --suite node ...",
//   "data_root": "/usr/share/libonnx-testdata/data",
//   "suites": ["node", ...],
//   "tests": [{"suite": "node", "test": "test_abs", "status": "pass|fail|unsupported|skipped",
//              "message": "...", "ops": ["Abs"], "blocking_op": "", "seconds": 0.01,
//              "known_failure": ""}, ...]
// }
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "result.h"

namespace peregrine::conformance {

struct RunInfo {
  std::string command;
  std::string data_root;
  std::vector<std::string> suites;
};

absl::Status WriteResultsJson(const std::string& path, const RunInfo& info, const std::vector<TestResult>& results);

// `s` as a JSON string literal, quotes included.
std::string JsonString(const std::string& s);

}  // namespace peregrine::conformance
