#include "loadgen/report.h"

#include <cstdio>
#include <fstream>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "loadgen/histogram.h"
#include "loadgen/levels.h"

namespace peregrine::loadgen {
namespace {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

std::string LevelName(const std::string& mode, double level) {
  return mode == "rate" ? absl::StrFormat("%g/s", level) : absl::StrFormat("%g", level);
}

std::string ErrorSummary(const Counters& c) {
  std::vector<std::string> parts;
  for (const auto& [kind, count] : ErrorsByKind(c)) parts.push_back(absl::StrCat(kind, "=", count));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

void Key(JsonWriter& w, const char* key) { w.Key(key); }
void Number(JsonWriter& w, const char* key, double v) {
  w.Key(key);
  w.Double(v);
}
void Count(JsonWriter& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

void WriteRequests(JsonWriter& w, const Counters& c) {
  Key(w, "requests");
  w.StartObject();
  Count(w, "scheduled", c.scheduled);
  Count(w, "sent", c.sent);
  Count(w, "responses", c.responses);
  Count(w, "success", c.success);
  Count(w, "errors", c.errors());
  Count(w, "timeouts", c.timeouts);
  Count(w, "connection_errors", c.connection_errors);
  Count(w, "dropped", c.dropped);
  Count(w, "connects", c.connects);
  Count(w, "bytes_sent", c.bytes_sent);
  Count(w, "bytes_received", c.bytes_received);
  w.EndObject();
  Key(w, "errors");
  w.StartObject();
  for (const auto& [kind, count] : ErrorsByKind(c)) {
    w.Key(kind.c_str());
    w.Uint64(count);
  }
  w.EndObject();
}

void WriteLevel(JsonWriter& w, const LevelResult& l) {
  w.StartObject();
  Number(w, "level", l.level);
  Key(w, "stable");
  w.Bool(l.stable);
  Count(w, "windows", static_cast<uint64_t>(l.windows));
  Count(w, "windows_used", static_cast<uint64_t>(l.windows_used));
  Number(w, "duration_s", l.duration_s);
  Number(w, "throughput", l.throughput);
  Number(w, "offered_rate", l.offered_rate);
  Number(w, "error_rate", l.counters.error_rate());
  WriteRequests(w, l.counters);
  Key(w, "latency_us");
  w.StartObject();
  const Percentiles& p = l.latency_ns;
  Number(w, "min", p.min / 1e3);
  Number(w, "mean", p.mean / 1e3);
  Number(w, "p50", p.p50 / 1e3);
  Number(w, "p90", p.p90 / 1e3);
  Number(w, "p95", p.p95 / 1e3);
  Number(w, "p99", p.p99 / 1e3);
  Number(w, "p99_9", p.p999 / 1e3);
  Number(w, "max", p.max / 1e3);
  w.EndObject();
  Key(w, "server");
  if (l.server.present) {
    w.StartObject();
    Count(w, "requests", l.server.requests);
    Count(w, "executions", l.server.executions);
    Number(w, "queue_us", l.server.queue_ns / 1e3);
    Number(w, "compute_input_us", l.server.compute_input_ns / 1e3);
    Number(w, "compute_infer_us", l.server.compute_infer_ns / 1e3);
    Number(w, "compute_output_us", l.server.compute_output_ns / 1e3);
    w.EndObject();
  } else {
    w.Null();
  }
  Key(w, "passed");
  w.Bool(l.passed);
  Key(w, "verdict");
  w.String(l.verdict.c_str());
  w.EndObject();
}

}  // namespace

std::string ProgressLine(const std::string& mode, const LevelResult& l, int window, int max_windows, bool done) {
  std::string line = absl::StrFormat("%s %-8s ", mode, LevelName(mode, l.level));
  if (done) {
    absl::StrAppendFormat(&line, "%d window%s%s", l.windows, l.windows == 1 ? "" : "s", l.stable ? ", stable " : ", unstable");
  } else {
    absl::StrAppendFormat(&line, "window %d/%d       ", window, max_windows);
  }
  absl::StrAppendFormat(&line, "  %9.1f req/s  p50 %-9s p99 %-9s errors %.2f%%", l.throughput,
                        FormatDurationNs(l.latency_ns.p50), FormatDurationNs(l.latency_ns.p99),
                        100 * l.counters.error_rate());
  if (done && !l.passed) absl::StrAppend(&line, "  FAILED: ", l.verdict);
  return line;
}

std::string FormatTable(const BenchResult& r) {
  std::string out = absl::StrFormat("%12s %11s %10s %10s %10s %10s %10s %10s %10s %7s %21s  %s\n", r.mode, "req/s", "p50",
                                    "p90", "p95", "p99", "p99.9", "max", "errors", "stable", "server queue/compute",
                                    "errors by kind");
  for (const LevelResult& l : r.levels) {
    const Percentiles& p = l.latency_ns;
    const std::string server = l.server.present ? absl::StrCat(FormatDurationNs(l.server.queue_ns), " / ",
                                                               FormatDurationNs(l.server.compute_ns()))
                                                : "-";
    absl::StrAppendFormat(&out, "%12s %11.1f %10s %10s %10s %10s %10s %10s %9.2f%% %7s %21s  %s%s\n",
                          LevelName(r.mode, l.level), l.throughput, FormatDurationNs(p.p50), FormatDurationNs(p.p90),
                          FormatDurationNs(p.p95), FormatDurationNs(p.p99), FormatDurationNs(p.p999),
                          FormatDurationNs(p.max), 100 * l.counters.error_rate(), l.stable ? "yes" : "no", server,
                          ErrorSummary(l.counters), l.passed ? "" : absl::StrCat("  <- ", l.verdict));
  }
  if (r.ramp) {
    if (r.last_good >= 0) {
      const LevelResult& good = r.levels[r.last_good];
      absl::StrAppendFormat(&out, "last good level: %s %s (%.1f req/s, p99 %s); %s\n", r.mode,
                            LevelName(r.mode, good.level), good.throughput, FormatDurationNs(good.latency_ns.p99),
                            r.stop_reason);
    } else {
      absl::StrAppendFormat(&out, "no level passed; %s\n", r.stop_reason);
    }
  }
  absl::StrAppendFormat(&out, "total: %d requests sent, %d responses (%d 2xx), %d timeouts, %d connection errors, "
                        "%d connections opened, %.1f s\n",
                        r.totals.sent, r.totals.responses, r.totals.success, r.totals.timeouts,
                        r.totals.connection_errors, r.totals.connects, r.elapsed_s);
  return out;
}

std::string ToJson(const BenchResult& r) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "settings");
  w.StartObject();
  for (const auto& [k, v] : r.settings) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  Key(w, "mode");
  w.String(r.mode.c_str());
  Key(w, "ramp");
  w.Bool(r.ramp);
  Key(w, "levels");
  w.StartArray();
  for (const LevelResult& l : r.levels) WriteLevel(w, l);
  w.EndArray();
  Key(w, "last_good");
  if (r.last_good >= 0) {
    w.StartObject();
    Count(w, "index", static_cast<uint64_t>(r.last_good));
    Number(w, "level", r.levels[r.last_good].level);
    w.EndObject();
  } else {
    w.Null();
  }
  Key(w, "stop_reason");
  w.String(r.stop_reason.c_str());
  Key(w, "totals");
  w.StartObject();
  WriteRequests(w, r.totals);
  Key(w, "by_status");
  w.StartObject();
  for (size_t code = 0; code < Counters::kStatusCodes; ++code) {
    if (r.totals.by_status[code] == 0) continue;
    w.Key(std::to_string(code).c_str());
    w.Uint64(r.totals.by_status[code]);
  }
  w.EndObject();
  w.EndObject();
  Number(w, "elapsed_s", r.elapsed_s);
  Number(w, "histogram_relative_error", LatencyHistogram::kMaxRelativeError);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string ToCsv(const BenchResult& r) {
  std::string out =
      "mode,level,stable,windows,duration_s,throughput,offered_rate,scheduled,sent,responses,success,errors,error_rate,"
      "timeouts,connection_errors,dropped,http_errors,p50_us,p90_us,p95_us,p99_us,p99_9_us,max_us,mean_us,"
      "server_queue_us,server_compute_us,passed\n";
  for (const LevelResult& l : r.levels) {
    const Counters& c = l.counters;
    const Percentiles& p = l.latency_ns;
    const uint64_t http_errors = c.responses - c.success;
    absl::StrAppendFormat(&out, "%s,%g,%d,%d,%.3f,%.2f,%.2f,%d,%d,%d,%d,%d,%.6f,%d,%d,%d,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,",
                          r.mode, l.level, l.stable ? 1 : 0, l.windows, l.duration_s, l.throughput, l.offered_rate,
                          c.scheduled, c.sent, c.responses, c.success, c.errors(), c.error_rate(), c.timeouts,
                          c.connection_errors, c.dropped, http_errors, p.p50 / 1e3, p.p90 / 1e3, p.p95 / 1e3,
                          p.p99 / 1e3, p.p999 / 1e3, p.max / 1e3, p.mean / 1e3);
    if (l.server.present) {
      absl::StrAppendFormat(&out, "%.1f,%.1f,", l.server.queue_ns / 1e3, l.server.compute_ns() / 1e3);
    } else {
      out += ",,";
    }
    absl::StrAppend(&out, l.passed ? 1 : 0, "\n");
  }
  return out;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace peregrine::loadgen
