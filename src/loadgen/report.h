// The outputs of `peregrine bench`: the progress line, the final table, JSON, CSV and the HTML report.
//
// JSON (one object): settings, mode, ramp, levels[] (level, stable, windows, windows_used, duration_s,
// throughput, offered_rate, error_rate, requests{...}, errors{kind: count}, latency_us{min, mean, p50, p90,
// p95, p99, p99_9, max}, server{requests, queue_us, compute_input_us, compute_infer_us, compute_output_us} or
// null, passed, verdict), last_good {index, level} or null, stop_reason, totals{requests, errors, by_status},
// elapsed_s, histogram_relative_error. CSV: a header and one row per level. HTML: report_html.h.
#pragma once

#include <string>

#include "common/status.h"
#include "loadgen/result.h"

namespace peregrine::loadgen {

// One line on the level so far: "concurrency 16  window 3/10  12345 req/s  p50 1.2 ms  p99 3.4 ms  errors 0.00%".
std::string ProgressLine(const std::string& mode, const LevelResult& level, int window, int max_windows, bool done);

// The final table, a line per level, then the verdict and the totals.
std::string FormatTable(const BenchResult& result);

std::string ToJson(const BenchResult& result);
std::string ToCsv(const BenchResult& result);

// Writes `text` to `path` (via a temporary file renamed into place); InvalidArgument naming the path.
absl::Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace peregrine::loadgen
