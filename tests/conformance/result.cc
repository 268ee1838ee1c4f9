#include "result.h"

namespace peregrine::conformance {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass: return "pass";
    case Outcome::kFail: return "fail";
    case Outcome::kUnsupported: return "unsupported";
    case Outcome::kSkipped: return "skipped";
  }
  return "fail";
}

}  // namespace peregrine::conformance
