#include "loadgen/report_html.h"

#include <cctype>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loadgen/levels.h"
#include "loadgen/svg_chart.h"

namespace peregrine::loadgen {
namespace {

std::string LevelName(const BenchResult& r, double level) {
  return r.mode == "rate" ? absl::StrFormat("%g/s", level) : absl::StrFormat("c=%g", level);
}

double Ms(double ns) { return ns / 1e6; }

bool WantLogLatency(const BenchResult& r) {
  double lo = 0, hi = 0;
  for (const LevelResult& l : r.levels) {
    if (l.latency.count() == 0) continue;
    lo = lo == 0 ? l.latency_ns.p50 : std::min(lo, l.latency_ns.p50);
    hi = std::max(hi, l.latency_ns.p999);
  }
  return lo > 0 && hi / lo > 30;
}

std::string LatencyVsThroughput(const BenchResult& r, const RampLimits& limits) {
  LineChart chart;
  chart.title = "Latency percentiles vs throughput";
  chart.x.label = "throughput (successful requests/s)";
  chart.y.label = "latency (ms)";
  chart.y.log = WantLogLatency(r);
  const std::pair<const char*, double Percentiles::*> kSeries[] = {
      {"p50", &Percentiles::p50}, {"p90", &Percentiles::p90}, {"p99", &Percentiles::p99}, {"p99.9", &Percentiles::p999}};
  for (size_t k = 0; k < std::size(kSeries); ++k) {
    Series s{kSeries[k].first, PaletteColor(k), {}};
    for (const LevelResult& l : r.levels) {
      if (l.latency.count() == 0) continue;
      s.points.emplace_back(l.throughput, Ms(l.latency_ns.*kSeries[k].second));
      if (k == 0) s.labels.push_back(LevelName(r, l.level));  // which level each point is, under the p50
    }
    chart.series.push_back(std::move(s));
  }
  if (limits.slo_p99_ns > 0) chart.y_rules.emplace_back(Ms(static_cast<double>(limits.slo_p99_ns)), "p99 SLO");
  return RenderSvg(chart);
}

std::string ThroughputPerLevel(const BenchResult& r) {
  LineChart chart;
  chart.title = "Throughput per level";
  chart.x.label = r.mode == "rate" ? "offered rate (requests/s)" : "concurrency (connections)";
  chart.y.label = "requests/s";
  Series ok{"successful", PaletteColor(2), {}};
  Series offered{"offered", PaletteColor(7), {}};
  for (const LevelResult& l : r.levels) {
    ok.points.emplace_back(l.level, l.throughput);
    if (r.mode == "rate") offered.points.emplace_back(l.level, l.level);
  }
  chart.series.push_back(std::move(ok));
  if (r.mode == "rate") chart.series.push_back(std::move(offered));
  return RenderSvg(chart);
}

// The percentile spectrum of each level, x = log10(1 / (1 - q)): 0 is the minimum, 1 the p90, 2 the p99...
std::string Distribution(const BenchResult& r) {
  LineChart chart;
  chart.title = "Latency distribution per level";
  chart.x.label = "percentile";
  chart.y.label = "latency (ms)";
  chart.y.log = WantLogLatency(r);
  int max_nines = 1;
  for (size_t i = 0; i < r.levels.size(); ++i) {
    const LevelResult& l = r.levels[i];
    const uint64_t n = l.latency.count();
    if (n == 0) continue;
    Series s{LevelName(r, l.level), PaletteColor(i), {}, false};
    const double top = std::log10(static_cast<double>(n));  // the finest percentile n samples resolve
    for (double x = 0; x < top; x += 0.05) {
      const double q = 1 - std::pow(10.0, -x);
      s.points.emplace_back(x, Ms(static_cast<double>(l.latency.Percentile(q))));
    }
    s.points.emplace_back(top, Ms(static_cast<double>(l.latency.max())));
    max_nines = std::max(max_nines, static_cast<int>(std::ceil(top)));
    chart.series.push_back(std::move(s));
  }
  const char* kLabels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"};
  for (int k = 0; k <= std::min(max_nines, 7); ++k) chart.x.ticks.emplace_back(k, kLabels[k]);
  return RenderSvg(chart);
}

std::string ErrorsPerLevel(const BenchResult& r, const RampLimits& limits) {
  BarChart chart;
  chart.title = "Errors per level (% of finished requests)";
  chart.y_label = "error rate (%)";
  chart.empty_text = "no errors at any level";
  std::map<std::string, std::vector<std::pair<double, double>>> kinds;
  for (size_t i = 0; i < r.levels.size(); ++i) {
    const LevelResult& l = r.levels[i];
    chart.categories.push_back(LevelName(r, l.level));
    const double finished = static_cast<double>(l.counters.finished());
    for (const auto& [kind, count] : ErrorsByKind(l.counters)) {
      auto& points = kinds[kind];
      points.resize(r.levels.size(), {0, 0});
      points[i] = {static_cast<double>(i), finished > 0 ? 100.0 * static_cast<double>(count) / finished : 0};
    }
  }
  size_t color = 3;
  for (auto& [kind, points] : kinds) {
    points.resize(r.levels.size(), {0, 0});
    chart.stacks.push_back(Series{kind, PaletteColor(color++), points});
  }
  if (r.ramp) chart.y_rules.emplace_back(100 * limits.max_error_rate, "max error rate");
  return RenderSvg(chart);
}

std::string Table(const BenchResult& r) {
  std::string out =
      "<table><tr><th>level</th><th>req/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th>"
      "<th>max</th><th>errors</th><th>server queue</th><th>server compute</th><th>stable</th><th>verdict</th></tr>\n";
  for (const LevelResult& l : r.levels) {
    const Percentiles& p = l.latency_ns;
    absl::StrAppendFormat(&out, "<tr%s><td>%s</td><td>%.1f</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                          "<td>%s</td><td>%.2f%%</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                          l.passed ? "" : " class=\"failed\"", XmlEscape(LevelName(r, l.level)), l.throughput,
                          FormatDurationNs(p.p50), FormatDurationNs(p.p90), FormatDurationNs(p.p95),
                          FormatDurationNs(p.p99), FormatDurationNs(p.p999), FormatDurationNs(p.max),
                          100 * l.counters.error_rate(), l.server.present ? FormatDurationNs(l.server.queue_ns) : "-",
                          l.server.present ? FormatDurationNs(l.server.compute_ns()) : "-", l.stable ? "yes" : "no",
                          XmlEscape(l.verdict));
  }
  return out + "</table>\n";
}

}  // namespace

std::string HtmlReport(const BenchResult& r, const RampLimits& limits) {
  std::string title = "peregrine bench";
  for (const auto& [k, v] : r.settings) {
    if (k == "model") title = absl::StrCat("peregrine bench: ", v);
  }
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", XmlEscape(title),
      "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1500px}"
      "h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
      "td:first-child,th:first-child,table.settings td{text-align:left}tr.failed td{background:#fdecea}"
      ".charts{display:flex;flex-wrap:wrap;gap:16px}.verdict{font-size:16px;padding:8px 12px;background:#eef5ff;"
      "border-left:4px solid #1f77b4;display:inline-block}</style></head><body>\n<h1>",
      XmlEscape(title), "</h1>\n");
  out += "<table class=\"settings\">";
  for (const auto& [k, v] : r.settings) absl::StrAppend(&out, "<tr><th>", XmlEscape(k), "</th><td>", XmlEscape(v), "</td></tr>");
  out += "</table>\n<h2>Verdict</h2>\n<p class=\"verdict\">";
  if (r.ramp && r.last_good >= 0) {
    const LevelResult& good = r.levels[r.last_good];
    absl::StrAppendFormat(&out, "Last good level: %s at %.1f requests/s, p99 %s. ", XmlEscape(LevelName(r, good.level)),
                          good.throughput, FormatDurationNs(good.latency_ns.p99));
  } else if (!r.ramp && !r.levels.empty()) {
    const LevelResult* best = &r.levels[0];
    for (const LevelResult& l : r.levels) best = l.throughput > best->throughput ? &l : best;
    absl::StrAppendFormat(&out, "Highest throughput: %s at %.1f requests/s, p99 %s. ", XmlEscape(LevelName(r, best->level)),
                          best->throughput, FormatDurationNs(best->latency_ns.p99));
  } else {
    out += "No level passed. ";
  }
  std::string reason = r.stop_reason;
  if (!reason.empty()) reason[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(reason[0])));
  absl::StrAppend(&out, XmlEscape(reason), ".</p>\n<h2>Charts</h2>\n<div class=\"charts\">\n",
                  LatencyVsThroughput(r, limits), ThroughputPerLevel(r), Distribution(r), ErrorsPerLevel(r, limits),
                  "</div>\n<h2>Levels</h2>\n", Table(r));
  absl::StrAppendFormat(&out,
                        "<p>Latency is measured from when a request was due (open loop: its scheduled time) to its "
                        "complete response, for successful responses; percentiles come from a log-linear histogram "
                        "with a relative error of at most %.2f%%. Totals: %d requests sent, %d responses, %d "
                        "timeouts, %d connection errors in %.1f s.</p>\n</body></html>\n",
                        100 * LatencyHistogram::kMaxRelativeError, r.totals.sent, r.totals.responses, r.totals.timeouts,
                        r.totals.connection_errors, r.elapsed_s);
  return out;
}

}  // namespace peregrine::loadgen
