#include "loadgen/runner.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loadgen/server_stats.h"
#include "loadgen/worker.h"

namespace peregrine::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using tcp = boost::asio::ip::tcp;

absl::StatusOr<tcp::endpoint> Resolve(const Endpoint& endpoint) {
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port));
    if (results.empty()) return absl::UnavailableError(absl::StrCat("cannot resolve ", endpoint.host));
    return results.begin()->endpoint();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", endpoint.host, ": ", e.what()));
  }
}

WindowResult HarvestAll(std::vector<std::unique_ptr<Worker>>& workers) {
  WindowResult merged;
  double duration = 0;
  for (auto& w : workers) {
    WindowResult r = w->Harvest();
    merged.counters.Add(r.counters);
    merged.latency.Merge(r.latency);
    duration = std::max(duration, r.duration_s);
  }
  merged.duration_s = duration;
  return merged;
}

WindowSummary Summarize(const WindowResult& w) {
  WindowSummary s;
  s.throughput = w.duration_s > 0 ? static_cast<double>(w.counters.responses) / w.duration_s : 0;
  s.p50_ns = static_cast<double>(w.latency.Percentile(0.5));
  return s;
}

// Sums the last `count` windows into the level's numbers.
void SummarizeLevel(const std::vector<WindowResult>& windows, size_t count, LevelResult& level) {
  level.counters = Counters{};
  level.latency.Reset();
  level.duration_s = 0;
  for (size_t i = windows.size() - count; i < windows.size(); ++i) {
    level.counters.Add(windows[i].counters);
    level.latency.Merge(windows[i].latency);
    level.duration_s += windows[i].duration_s;
  }
  level.windows = static_cast<int>(windows.size());
  level.windows_used = static_cast<int>(count);
  level.latency_ns = PercentilesOf(level.latency);
  if (level.duration_s > 0) {
    level.throughput = static_cast<double>(level.counters.success) / level.duration_s;
    level.offered_rate = static_cast<double>(level.counters.scheduled) / level.duration_s;
  }
}

class Bench {
 public:
  Bench(const BenchOptions& options, const ProgressCallback& progress) : options_(options), progress_(progress) {}

  absl::StatusOr<BenchResult> Run();

 private:
  void StartLevel(double level);
  std::optional<StatsSnapshot> Stats();
  LevelResult MeasureLevel(double level);

  const BenchOptions& options_;
  const ProgressCallback& progress_;
  std::vector<std::unique_ptr<Worker>> workers_;
  BenchResult result_;
  bool stats_available_ = false;
};

absl::StatusOr<BenchResult> Bench::Run() {
  if (options_.levels.open_ended && !options_.ramp) {
    return absl::InvalidArgumentError("an open-ended level range (like 50::50) needs --ramp");
  }
  ASSIGN_OR_RETURN(tcp::endpoint address, Resolve(options_.endpoint));
  const int threads = std::clamp(options_.io_threads, 1, 64);
  WorkerOptions worker_options;
  worker_options.endpoint = address;
  worker_options.request = options_.wire_request;
  worker_options.timeout = options_.timeout;
  worker_options.max_connections = std::max<size_t>(1, (options_.max_connections + threads - 1) / threads);
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(worker_options));
  stats_available_ = !options_.stats_path.empty() && FetchStatistics(options_.endpoint, options_.stats_path).ok();

  const Clock::time_point start = Clock::now();
  result_.mode = options_.open_loop ? "rate" : "concurrency";
  result_.ramp = options_.ramp;
  result_.stop_reason = "all levels run";
  bool stopped_by_max = false;
  for (size_t i = 0; options_.levels.Has(i); ++i) {
    const double level = options_.levels.Level(i);
    if (level > options_.max_level) {
      result_.stop_reason = absl::StrFormat("reached the largest level allowed (%g) without failing", options_.max_level);
      stopped_by_max = true;
      break;
    }
    result_.levels.push_back(MeasureLevel(level));
    const LevelResult& done = result_.levels.back();
    if (progress_) progress_(done, done.windows, true);
    if (options_.ramp && !done.passed) {
      result_.stop_reason = absl::StrFormat("%s %g failed: %s", result_.mode, level, done.verdict);
      break;
    }
  }
  if (options_.ramp && !stopped_by_max && !result_.levels.empty() && result_.levels.back().passed) {
    result_.stop_reason = "every level passed: the limit is beyond the last level";
  }
  result_.last_good = LastGoodLevel(result_.levels);
  result_.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  workers_.clear();
  return std::move(result_);
}

void Bench::StartLevel(double level) {
  const size_t n = workers_.size();
  if (!options_.open_loop) {
    const size_t connections = static_cast<size_t>(std::llround(level));
    for (size_t w = 0; w < n; ++w) workers_[w]->StartClosedLoop(connections / n + (w < connections % n ? 1 : 0));
    return;
  }
  // Independent Poisson streams of rate r/n add up to one of rate r; constant streams are phase-shifted so
  // that together they are evenly spaced.
  for (size_t w = 0; w < n; ++w) {
    const ArrivalSchedule schedule(options_.arrival, level / static_cast<double>(n), options_.seed + w * 7919,
                                   static_cast<double>(w) / static_cast<double>(n));
    workers_[w]->StartOpenLoop(schedule);
  }
}

std::optional<StatsSnapshot> Bench::Stats() {
  if (!stats_available_) return std::nullopt;
  absl::StatusOr<StatsSnapshot> snapshot = FetchStatistics(options_.endpoint, options_.stats_path);
  if (!snapshot.ok()) return std::nullopt;
  return *snapshot;
}

LevelResult Bench::MeasureLevel(double level) {
  LevelResult result;
  result.level = level;
  StartLevel(level);
  std::this_thread::sleep_for(options_.warmup);
  result_.totals.Add(HarvestAll(workers_).counters);

  std::vector<WindowResult> windows;
  std::vector<WindowSummary> summaries;
  std::vector<std::optional<StatsSnapshot>> stats = {Stats()};  // stats[k]: at the start of window k
  Clock::time_point boundary = Clock::now();
  do {
    boundary += std::chrono::duration_cast<Clock::duration>(options_.window);
    std::this_thread::sleep_until(boundary);
    windows.push_back(HarvestAll(workers_));
    stats.push_back(Stats());
    summaries.push_back(Summarize(windows.back()));
    result_.totals.Add(windows.back().counters);
    if (progress_) {
      SummarizeLevel(windows, 1, result);
      progress_(result, static_cast<int>(windows.size()), false);
    }
  } while (NeedAnotherWindow(summaries, options_.stability));

  const size_t used = WindowsToUse(summaries, options_.stability);
  result.stable = IsStable(summaries, options_.stability);
  SummarizeLevel(windows, used, result);
  const std::optional<StatsSnapshot>& before = stats[stats.size() - 1 - used];
  if (before && stats.back()) result.server = Difference(*before, *stats.back());

  std::vector<std::future<void>> drained;
  for (auto& w : workers_) drained.push_back(w->StopAndDrain());
  for (auto& d : drained) d.wait();  // bounded: the workers time out whatever is still outstanding
  result_.totals.Add(HarvestAll(workers_).counters);

  const Verdict verdict = JudgeLevel(result, options_.open_loop, options_.limits);
  result.passed = verdict.passed;
  result.verdict = verdict.reason;
  return result;
}

}  // namespace

absl::StatusOr<BenchResult> RunBench(const BenchOptions& options, const ProgressCallback& progress) {
  Bench bench(options, progress);
  return bench.Run();
}

}  // namespace peregrine::loadgen
