// The outcome of one conformance test, shared by the runner, the process isolation, the gate and
// the JSON writer (no engine dependency, so the gate can be unit-tested on its own).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace peregrine::conformance {

enum class Outcome { kPass, kFail, kUnsupported, kSkipped };

// "pass", "fail", "unsupported", "skipped".
std::string_view OutcomeName(Outcome outcome);

struct TestResult {
  std::string suite;
  std::string name;
  Outcome outcome = Outcome::kFail;
  std::string message;              // why it did not pass (empty for a pass)
  std::vector<std::string> ops;     // op types used by the model (ModelInfo::op_types)
  std::string blocking_op;          // for non-passes: the model's op named in the message, if any
  double seconds = 0;               // wall time of load + all data sets
  std::string known_failure;        // set by the gate: reason from known_failures.txt

  std::string id() const { return suite + "/" + name; }
};

}  // namespace peregrine::conformance
