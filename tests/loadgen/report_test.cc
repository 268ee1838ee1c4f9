// The report writers: HTML (self-contained, one SVG chart per view, a series per level), JSON, CSV, table.
#include <string>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "loadgen/report.h"
#include "loadgen/report_html.h"

namespace peregrine::loadgen {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Three closed-loop levels; the third fails its error rate with 503s.
BenchResult Sample() {
  BenchResult r;
  r.mode = "concurrency";
  r.ramp = true;
  r.settings = {{"url", "http://127.0.0.1:8000"}, {"model", "m<b>&\"x\""}};
  for (int i = 0; i < 3; ++i) {
    LevelResult l;
    l.level = 1 << (2 * i);  // 1, 4, 16
    l.windows = l.windows_used = 3;
    l.stable = true;
    l.duration_s = 6;
    for (int k = 1; k <= 1000; ++k) l.latency.Record(static_cast<uint64_t>(k) * 1000 * (i + 1));  // 1 us .. 1 ms, x(i+1)
    l.latency_ns = PercentilesOf(l.latency);
    l.counters.success = l.counters.responses = l.counters.sent = 1000;
    l.counters.by_status[200] = 1000;
    if (i == 2) {
      l.counters.responses += 100;
      l.counters.sent += 105;
      l.counters.by_status[503] = 100;
      l.counters.timeouts = 5;
    }
    l.throughput = 1000.0 / 6;
    l.server = {.present = true, .requests = 1000, .executions = 250, .queue_ns = 20'000, .compute_input_ns = 1'000,
                .compute_infer_ns = 30'000, .compute_output_ns = 1'000};
    l.passed = i < 2;
    l.verdict = l.passed ? "ok" : "error rate 9.50% > 1.00%";
    r.levels.push_back(l);
    r.totals.Add(l.counters);
  }
  r.last_good = 1;
  r.stop_reason = "concurrency 16 failed: error rate 9.50% > 1.00%";
  r.elapsed_s = 20;
  return r;
}

TEST(ReportTest, HtmlIsSelfContainedWithFourCharts) {
  const std::string html = HtmlReport(Sample(), RampLimits{});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(Count(html, "<svg"), 4u);
  EXPECT_EQ(Count(html, "</svg>"), 4u);
  // Nothing to fetch: no scripts, no links, no external images or fonts.
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_EQ(Count(html, "href="), 0u);
  EXPECT_EQ(Count(html, "src="), 0u);
  EXPECT_EQ(Count(html, "url("), 0u);
  EXPECT_EQ(Count(html, "@import"), 0u);
  // Series: 4 percentiles vs throughput, 1 throughput line (closed loop), 3 level distributions.
  EXPECT_EQ(Count(html, "<path class=\"series\""), 4u + 1u + 3u);
  EXPECT_NE(html.find("<title>c=16</title>"), std::string::npos);
  // Error bars: the 503s and timeouts of the third level only.
  EXPECT_EQ(Count(html, "<rect class=\"bar\""), 2u);
  EXPECT_EQ(html.find("no errors at any level"), std::string::npos);
  EXPECT_NE(html.find("http_503"), std::string::npos);
  EXPECT_NE(html.find("max error rate"), std::string::npos);
  // The verdict and escaped settings.
  EXPECT_NE(html.find("Last good level: c=4"), std::string::npos);
  EXPECT_NE(html.find("m&lt;b&gt;&amp;&quot;x&quot;"), std::string::npos);
  EXPECT_EQ(html.find("m<b>"), std::string::npos);
  EXPECT_NE(html.find("class=\"failed\""), std::string::npos);
}

TEST(ReportTest, HtmlWithoutAnyResultsStillRenders) {
  BenchResult empty;
  empty.mode = "rate";
  const std::string html = HtmlReport(empty, RampLimits{});
  EXPECT_EQ(Count(html, "<svg"), 4u);
  EXPECT_NE(html.find("No level passed"), std::string::npos);
  EXPECT_NE(html.find("no errors at any level"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf"), std::string::npos);
}

TEST(ReportTest, SloShowsAsARule) {
  RampLimits limits;
  limits.slo_p99_ns = 2'000'000;
  const std::string html = HtmlReport(Sample(), limits);
  EXPECT_NE(html.find("p99 SLO"), std::string::npos);
}

TEST(ReportTest, JsonCarriesTheNumbers) {
  const std::string json = ToJson(Sample());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(root["mode"]), "concurrency");
  simdjson::dom::array levels = root["levels"];
  ASSERT_EQ(levels.size(), 3u);
  simdjson::dom::element third = levels.at(2);
  EXPECT_EQ(double(third["level"]), 16.0);
  EXPECT_EQ(uint64_t(third["requests"]["success"]), 1000u);
  EXPECT_EQ(uint64_t(third["errors"]["http_503"]), 100u);
  EXPECT_EQ(uint64_t(third["errors"]["timeout"]), 5u);
  EXPECT_NEAR(double(third["error_rate"]), 105.0 / 1105.0, 1e-9);
  EXPECT_FALSE(bool(third["passed"]));
  EXPECT_NEAR(double(third["latency_us"]["p50"]), 1500.0, 1500.0 * 0.004);  // 500th of 3, 6, ..., 3000 us
  EXPECT_NEAR(double(third["server"]["queue_us"]), 20.0, 1e-9);
  EXPECT_EQ(uint64_t(third["server"]["executions"]), 250u);
  EXPECT_EQ(uint64_t(root["last_good"]["index"]), 1u);
  EXPECT_EQ(double(root["last_good"]["level"]), 4.0);
  EXPECT_EQ(uint64_t(root["totals"]["by_status"]["503"]), 100u);
  EXPECT_EQ(uint64_t(root["totals"]["requests"]["sent"]), 3105u);
  EXPECT_EQ(std::string_view(root["settings"]["model"]), "m<b>&\"x\"");
}

TEST(ReportTest, CsvHasARowPerLevelWithEveryColumn) {
  const std::string csv = ToCsv(Sample());
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end = csv.find('\n'); end != std::string::npos; start = end + 1, end = csv.find('\n', start)) {
    lines.push_back(csv.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 4u);
  const size_t columns = Count(lines[0], ",");
  for (const std::string& line : lines) EXPECT_EQ(Count(line, ","), columns) << line;
  EXPECT_EQ(lines[3].rfind("concurrency,16,1,3,", 0), 0u) << lines[3];
  EXPECT_EQ(lines[3].back(), '0');  // failed
}

TEST(ReportTest, TableNamesTheLastGoodLevel) {
  const std::string table = FormatTable(Sample());
  EXPECT_NE(table.find("last good level: concurrency 4"), std::string::npos) << table;
  EXPECT_NE(table.find("http_503=100 timeout=5"), std::string::npos) << table;
  EXPECT_NE(table.find("total: 3105 requests sent"), std::string::npos) << table;
}

}  // namespace
}  // namespace peregrine::loadgen
