#include "engine/profiler.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace peregrine::engine {
namespace {

// Names and shapes come from model files: escape them for JSON.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

absl::Status Profiler::WriteChromeTrace(const std::string& path) const {
  std::ofstream out(path);
  if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write profile to ", path));
  out << "{\"traceEvents\":[\n";
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    out << absl::StrCat("{\"name\":\"", Escape(*e.name), "\",\"cat\":\"", Escape(*e.op_type),
                        "\",\"ph\":\"X\",\"ts\":", absl::StrFormat("%.3f", e.start_ns / 1e3), ",\"dur\":",
                        absl::StrFormat("%.3f", e.duration_ns / 1e3),
                        ",\"pid\":1,\"tid\":1,\"args\":{\"op_type\":\"", Escape(*e.op_type), "\",\"shapes\":\"",
                        Escape(*e.shapes), "\",\"run\":", e.run, "}}")
        << (i + 1 < events.size() ? ",\n" : "\n");
  }
  out << "],\"displayTimeUnit\":\"ms\"}\n";
  return out.good() ? absl::OkStatus() : absl::InternalError(absl::StrCat("failed writing ", path));
}

}  // namespace peregrine::engine
