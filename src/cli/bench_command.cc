// `peregrine bench URL --model M`: load-tests a KServe V2 server (ours, Triton, KServe) and reports how
// many requests per second it answers at what latency, and where it breaks.
//
// Closed loop (--concurrency 1,4,16 or 1:64:8) keeps N requests outstanding; open loop (--rate 50:500:50,
// constant or --poisson) sends on a schedule. --ramp stops at the first level whose error rate, p99 (--slo-p99)
// or delivered rate crosses its limit and reports the last good one. Each level: warm-up, then windows until
// stable (src/loadgen/stability.h). Results: a table on stdout, a progress line per level on stderr,
// --json/--csv/--report (HTML with SVG charts). The load itself is src/loadgen/; this file is flags and output.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "loadgen/levels.h"
#include "loadgen/report.h"
#include "loadgen/report_html.h"
#include "loadgen/runner.h"
#include "loadgen/workload.h"

namespace peregrine::cli {
namespace {

// Exit status of a run that completed without a single successful response (docs/bench.md).
constexpr int kNoSuccess = 3;

struct BenchFlags {
  std::string url;
  loadgen::WorkloadOptions workload;
  std::string concurrency;
  std::string rate;
  bool poisson = false;
  uint64_t seed = 1;
  bool ramp = false;
  double max_error_rate = 0.01;
  std::string slo_p99;
  double min_delivered = 0.9;
  std::string warmup = "1s";
  std::string window = "2s";
  double stability = 0.1;
  int stable_windows = 3;
  int max_windows = 10;
  std::string timeout = "10s";
  int io_threads = 1;
  size_t max_connections = 256;
  std::string generate_prompt;
  std::string json_path, csv_path, report_path;
  bool no_server_stats = false;
  bool quiet = false;
};

template <typename T>
T OrFail(absl::StatusOr<T> value) {
  if (!value.ok()) throw CommandError{std::string(value.status().message())};
  return *std::move(value);
}

void OrFail(const absl::Status& status) {
  if (!status.ok()) throw CommandError{std::string(status.message())};
}

std::string Now() {
  const std::time_t t = std::time(nullptr);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
  return buffer;
}

constexpr double kMaxConcurrency = 10'000;  // connections of one closed-loop level

// Mistakes in the command line that need no server, reported before anything is sent. (Listed concurrency
// levels above the limit are one; an open-ended ramp stops at the limit instead.)
void CheckFlags(const BenchFlags& f) {
  if (f.rate.empty()) {
    const loadgen::LevelList levels =
        OrFail(loadgen::ParseLevels(f.concurrency.empty() ? "1" : f.concurrency, /*integer_only=*/true));
    for (double level : levels.values) {
      if (level > kMaxConcurrency) {
        throw CommandError{
            absl::StrFormat("concurrency %g is above the limit of %g connections", level, kMaxConcurrency)};
      }
    }
  }
  if (OrFail(loadgen::ParseDurationNs(f.window)) <= 0 || OrFail(loadgen::ParseDurationNs(f.timeout)) <= 0) {
    throw CommandError{"--window and --timeout must be positive"};
  }
}

loadgen::BenchOptions MakeOptions(const BenchFlags& f, const loadgen::Endpoint& endpoint,
                                  const loadgen::Workload& workload) {
  loadgen::BenchOptions o;
  o.endpoint = endpoint;
  o.wire_request = std::make_shared<const std::string>(loadgen::WireRequest(endpoint, workload));
  o.stats_path = f.no_server_stats ? "" : workload.model_path;
  o.open_loop = !f.rate.empty();
  o.levels = OrFail(loadgen::ParseLevels(o.open_loop ? f.rate : (f.concurrency.empty() ? "1" : f.concurrency),
                                         /*integer_only=*/!o.open_loop));
  o.arrival = f.poisson ? loadgen::ArrivalKind::kPoisson : loadgen::ArrivalKind::kConstant;
  o.seed = f.seed;
  o.ramp = f.ramp;
  o.limits.max_error_rate = f.max_error_rate;
  o.limits.min_delivered_ratio = f.min_delivered;
  if (!f.slo_p99.empty()) o.limits.slo_p99_ns = OrFail(loadgen::ParseDurationNs(f.slo_p99));
  o.stability.tolerance = f.stability;
  o.stability.consecutive = f.stable_windows;
  o.stability.max_windows = std::max(f.max_windows, f.stable_windows);
  o.warmup = std::chrono::nanoseconds(OrFail(loadgen::ParseDurationNs(f.warmup)));
  o.window = std::chrono::nanoseconds(OrFail(loadgen::ParseDurationNs(f.window)));
  o.timeout = std::chrono::nanoseconds(OrFail(loadgen::ParseDurationNs(f.timeout)));
  o.io_threads = f.io_threads;
  o.max_connections = f.max_connections;
  if (!o.open_loop) o.max_level = kMaxConcurrency;
  return o;
}

std::vector<std::pair<std::string, std::string>> Settings(const BenchFlags& f, const loadgen::BenchOptions& o,
                                                          const loadgen::Workload& w) {
  std::vector<std::pair<std::string, std::string>> s = {
      {"url", f.url},
      {"model", f.workload.model},
      {"version", f.workload.version.empty() ? "(server's choice)" : f.workload.version},
      {"endpoint", w.path},
      {"request", w.summary},
      {"mode", o.open_loop ? absl::StrCat("open loop, ", f.poisson ? "Poisson" : "constant", " arrivals, rate ", f.rate)
                           : absl::StrCat("closed loop, concurrency ", f.concurrency.empty() ? "1" : f.concurrency)},
      {"measurement", absl::StrFormat("warm-up %s, windows of %s until p50 and throughput agree within %g%% over %d "
                                      "windows (at most %d)",
                                      f.warmup, f.window, 100 * f.stability, o.stability.consecutive,
                                      o.stability.max_windows)},
      {"timeout", f.timeout},
      {"client", absl::StrFormat("%d I/O thread%s", o.io_threads, o.io_threads == 1 ? "" : "s")},
      {"started", Now()},
  };
  if (o.ramp) {
    std::string limits = absl::StrFormat("error rate <= %g%%", 100 * o.limits.max_error_rate);
    if (o.limits.slo_p99_ns > 0) absl::StrAppend(&limits, ", p99 <= ", f.slo_p99);
    if (o.open_loop) absl::StrAppendFormat(&limits, ", delivered >= %g%% of the offered rate", 100 * o.limits.min_delivered_ratio);
    s.emplace_back("ramp limits", limits);
  }
  return s;
}

void Run(const BenchFlags& flags) {
  BenchFlags f = flags;
  if (!f.concurrency.empty() && !f.rate.empty()) throw CommandError{"give --concurrency or --rate, not both"};
  CheckFlags(f);
  if (!f.generate_prompt.empty()) f.workload.generate_prompt = f.generate_prompt;
  f.workload.seed = f.seed;  // random input data, like the Poisson schedule
  const loadgen::Endpoint endpoint = OrFail(loadgen::ParseUrl(f.url));
  const loadgen::Workload workload = OrFail(loadgen::BuildWorkload(endpoint, f.workload));
  loadgen::BenchOptions options = MakeOptions(f, endpoint, workload);

  const bool tty = isatty(STDERR_FILENO) == 1;
  const std::string mode = options.open_loop ? "rate" : "concurrency";
  const int max_windows = options.stability.max_windows;
  const bool quiet = f.quiet;
  auto progress = [&](const loadgen::LevelResult& level, int window, bool done) {
    if (quiet || (!tty && !done)) return;
    const std::string line = loadgen::ProgressLine(mode, level, window, max_windows, done);
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), done ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  };
  if (!quiet) std::fprintf(stderr, "peregrine bench: %s%s, %s\n", f.url.c_str(), workload.path.c_str(), workload.summary.c_str());
  loadgen::BenchResult result = OrFail(loadgen::RunBench(options, progress));
  result.settings = Settings(f, options, workload);

  std::fputs(loadgen::FormatTable(result).c_str(), stdout);
  std::fflush(stdout);
  if (!f.json_path.empty()) OrFail(loadgen::WriteTextFile(f.json_path, loadgen::ToJson(result)));
  if (!f.csv_path.empty()) OrFail(loadgen::WriteTextFile(f.csv_path, loadgen::ToCsv(result)));
  if (!f.report_path.empty()) OrFail(loadgen::WriteTextFile(f.report_path, loadgen::HtmlReport(result, options.limits)));
  // The reports are written either way; a run in which nothing succeeded (server down, wrong model or
  // path, every request timed out) is almost always a mistake, so scripts see it without reading them.
  if (result.totals.success == 0) {
    std::vector<std::string> kinds;
    for (const auto& [kind, count] : loadgen::ErrorsByKind(result.totals)) kinds.push_back(absl::StrCat(count, " ", kind));
    throw CommandError{absl::StrCat("no request succeeded (", kinds.empty() ? "none finished" : absl::StrJoin(kinds, ", "),
                                    ")"),
                       kNoSuccess};
  }
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Load-test a KServe V2 / Triton HTTP server and chart its limits");
  cmd->add_option("url", f->url, "Server URL, e.g. http://127.0.0.1:8000")->required();
  cmd->add_option("--model,-m", f->workload.model, "Model name")->required();
  cmd->add_option("--version", f->workload.version, "Model version (default: the server's choice)");
  auto* concurrency = cmd->add_option("--concurrency,-c", f->concurrency,
                                      "Closed loop: outstanding requests per level, e.g. 1,4,16,64 or 1:64:8 (default 1)");
  auto* rate = cmd->add_option("--rate,-r", f->rate, "Open loop: requests/s per level, e.g. 100 or 50:500:50 or 50::50 with --ramp");
  concurrency->excludes(rate);
  cmd->add_flag("--poisson", f->poisson, "Open loop: Poisson arrivals (default: evenly spaced)");
  cmd->add_option("--seed", f->seed, "Seed of the Poisson schedule and of random input data")->capture_default_str();
  cmd->add_flag("--ramp", f->ramp, "Stop at the first level that fails a limit and report the last good one");
  cmd->add_option("--max-error-rate", f->max_error_rate, "Ramp limit: errors and timeouts over finished requests")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--slo-p99", f->slo_p99, "Ramp limit: p99 latency, e.g. 200ms");
  cmd->add_option("--min-delivered", f->min_delivered, "Ramp limit (open loop): finished over scheduled requests")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--warmup", f->warmup, "Warm-up per level (not measured)")->capture_default_str();
  cmd->add_option("--window", f->window, "Length of a measurement window")->capture_default_str();
  cmd->add_option("--stability", f->stability, "Tolerance between windows for p50 and throughput (0.1 = 10%)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--stable-windows", f->stable_windows, "Consecutive windows that must agree")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--max-windows", f->max_windows, "Most windows per level")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--timeout", f->timeout, "A request with no response this long after it was due is a timeout")
      ->capture_default_str();
  cmd->add_option("--io-threads", f->io_threads, "Client I/O threads")->capture_default_str()->check(CLI::Range(1, 2));
  cmd->add_option("--max-connections", f->max_connections, "Open loop: most connections")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  cmd->add_option("--data", f->workload.data, "Generated input values")->capture_default_str()->check(CLI::IsMember({"random", "zero"}));
  cmd->add_option("--input", f->workload.input_files, "Input values from a file: NAME=FILE.npy or NAME=FILE.json (repeatable)");
  cmd->add_option("--shape", f->workload.shapes, "Input shape: NAME=d1,d2,... (repeatable; default from metadata)");
  cmd->add_option("--batch-size,-b", f->workload.batch_size, "Size of a variable first dimension")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--request-file", f->workload.request_file, "Send this JSON request body as is (no metadata needed)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--binary", f->workload.binary, "Binary tensor data (Triton extension) for inputs and outputs");
  cmd->add_option("--generate", f->generate_prompt, "Send generate requests with this prompt instead of infer");
  cmd->add_option("--max-tokens", f->workload.max_tokens, "Generate: max_tokens")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--json", f->json_path, "Write the results as JSON");
  cmd->add_option("--csv", f->csv_path, "Write one CSV row per level");
  cmd->add_option("--report", f->report_path, "Write a self-contained HTML report with charts");
  cmd->add_flag("--no-server-stats", f->no_server_stats, "Do not read the server's statistics endpoint");
  cmd->add_flag("--quiet,-q", f->quiet, "No progress lines");
  cmd->callback([f] { Run(*f); });
}

}  // namespace peregrine::cli
