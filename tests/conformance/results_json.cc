#include "results_json.h"

#include <fstream>

#include "absl/strings/str_format.h"

namespace peregrine::conformance {
namespace {

std::string JsonStrings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + JsonString(items[i]);
  return out + "]";
}

void WriteResult(std::ostream& out, const TestResult& r) {
  out << "    {\"suite\": " << JsonString(r.suite) << ", \"test\": " << JsonString(r.name)
      << ", \"status\": " << JsonString(std::string(OutcomeName(r.outcome)))
      << ", \"message\": " << JsonString(r.message) << ", \"ops\": " << JsonStrings(r.ops)
      << ", \"blocking_op\": " << JsonString(r.blocking_op) << ", \"seconds\": " << absl::StrFormat("%.4f", r.seconds)
      << ", \"known_failure\": " << JsonString(r.known_failure) << "}";
}

}  // namespace

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) out += absl::StrFormat("\\u%04x", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

absl::Status WriteResultsJson(const std::string& path, const RunInfo& info, const std::vector<TestResult>& results) {
  std::ofstream out(path);
  if (!out) return absl::InvalidArgumentError("cannot write " + path);
  out << "{\n  \"command\": " << JsonString(info.command) << ",\n  \"data_root\": " << JsonString(info.data_root)
      << ",\n  \"suites\": " << JsonStrings(info.suites) << ",\n  \"tests\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    WriteResult(out, results[i]);
    out << (i + 1 < results.size() ? ",\n" : "\n");
  }
  out << "  ]\n}\n";
  return out ? absl::OkStatus() : absl::InternalError("error writing " + path);
}

}  // namespace peregrine::conformance
