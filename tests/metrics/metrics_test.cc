// Metrics: values, histogram buckets, callback gauges and the Prometheus text exposition (format 0.0.4).
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace peregrine::metrics {
namespace {

TEST(MetricsTest, CounterExposition) {
  Registry registry;
  Counter& ok = registry.GetCounter("requests_total", "Requests served.", {{"model", "a"}, {"outcome", "ok"}});
  ok.Increment();
  ok.Increment(2);
  registry.GetCounter("requests_total", "ignored help", {{"model", "a"}, {"outcome", "error"}}).Increment();
  EXPECT_EQ(registry.Exposition(),
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total{model=\"a\",outcome=\"error\"} 1\n"
            "requests_total{model=\"a\",outcome=\"ok\"} 3\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetricWhateverTheLabelOrder) {
  Registry registry;
  Counter& a = registry.GetCounter("c", "h", {{"x", "1"}, {"y", "2"}});
  Counter& b = registry.GetCounter("c", "h", {{"y", "2"}, {"x", "1"}});
  EXPECT_EQ(&a, &b);
  Gauge& g1 = registry.GetGauge("g", "h", {});
  Gauge& g2 = registry.GetGauge("g", "h", {});
  EXPECT_EQ(&g1, &g2);
  EXPECT_NE(&registry.GetCounter("c", "h", {{"x", "2"}}), &a);
}

TEST(MetricsTest, FamiliesSortedByNameWithHelpAndType) {
  Registry registry;
  registry.GetGauge("zeta", "Last.", {}).Set(-2.5);
  registry.GetCounter("alpha_total", "First.", {}).Increment(0.5);
  registry.GetGauge("mid", "Middle.", {{"k", "v"}}).Add(4);
  EXPECT_EQ(registry.Exposition(),
            "# HELP alpha_total First.\n"
            "# TYPE alpha_total counter\n"
            "alpha_total 0.5\n"
            "# HELP mid Middle.\n"
            "# TYPE mid gauge\n"
            "mid{k=\"v\"} 4\n"
            "# HELP zeta Last.\n"
            "# TYPE zeta gauge\n"
            "zeta -2.5\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  registry.GetCounter("c_total", "Help with \\ and\nnewline and \"quotes\".", {{"path", "a\\b\"c\"\nd"}})
      .Increment();
  EXPECT_EQ(registry.Exposition(),
            "# HELP c_total Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE c_total counter\n"
            "c_total{path=\"a\\\\b\\\"c\\\"\\nd\"} 1\n");
}

TEST(MetricsTest, SpecialValuesSpelledAsPrometheusExpects) {
  Registry registry;
  registry.GetGauge("g", "h", {{"v", "inf"}}).Set(std::numeric_limits<double>::infinity());
  registry.GetGauge("g", "h", {{"v", "nan"}}).Set(std::nan(""));
  registry.GetGauge("g", "h", {{"v", "ninf"}}).Set(-std::numeric_limits<double>::infinity());
  registry.GetGauge("g", "h", {{"v", "small"}}).Set(1.5e-7);
  std::string text = registry.Exposition();
  EXPECT_NE(text.find("g{v=\"inf\"} +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"nan\"} NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"ninf\"} -Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"small\"} 1.5e-07\n"), std::string::npos) << text;
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  Histogram& h = registry.GetHistogram("latency_seconds", "Latency.", {{"model", "m"}}, {0.1, 0.5, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.3);
  h.Observe(0.7);
  h.Observe(5);
  EXPECT_EQ(registry.Exposition(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"
            "latency_seconds_bucket{model=\"m\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{model=\"m\",le=\"1\"} 4\n"
            "latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 5\n"
            "latency_seconds_sum{model=\"m\"} 6.15\n"
            "latency_seconds_count{model=\"m\"} 5\n");
  Histogram::Snapshot snap = h.snapshot();
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(snap.count, 5u);
}

TEST(MetricsTest, HistogramWithoutLabels) {
  Registry registry;
  registry.GetHistogram("batch_size", "Batch sizes.", {}, {1, 2}).Observe(2);
  EXPECT_EQ(registry.Exposition(),
            "# HELP batch_size Batch sizes.\n"
            "# TYPE batch_size histogram\n"
            "batch_size_bucket{le=\"1\"} 0\n"
            "batch_size_bucket{le=\"2\"} 1\n"
            "batch_size_bucket{le=\"+Inf\"} 1\n"
            "batch_size_sum 2\n"
            "batch_size_count 1\n");
}

TEST(MetricsTest, HistogramRejectsUnorderedBoundsAndAcceptsExplicitInf) {
  EXPECT_THROW(Histogram({1, 0.5}), std::logic_error);
  EXPECT_THROW(Histogram({1, 1}), std::logic_error);
  Histogram h({1, std::numeric_limits<double>::infinity()});
  h.Observe(3);
  EXPECT_EQ(h.snapshot().bounds, std::vector<double>{1});
  EXPECT_EQ(h.snapshot().cumulative_counts, (std::vector<uint64_t>{0, 1}));
}

TEST(MetricsTest, LatencyBucketsSpan25MicrosecondsTo30Seconds) {
  std::vector<double> b = LatencyBuckets();
  ASSERT_GE(b.size(), 10u);
  EXPECT_DOUBLE_EQ(b.front(), 25e-6);
  EXPECT_DOUBLE_EQ(b.back(), 30.0);
  for (size_t i = 1; i < b.size(); ++i) {
    EXPECT_GT(b[i], b[i - 1]);
    EXPECT_LE(b[i] / b[i - 1], 3.01);
  }
  Histogram h(b);  // valid bounds
}

TEST(MetricsTest, CallbackGaugeReadAtScrapeAndRemovedWithHandle) {
  Registry registry;
  double depth = 3;
  auto handle = registry.AddCallbackGauge("queue_depth", "Queued requests.", {{"model", "m"}}, [&] { return depth; });
  EXPECT_EQ(registry.Exposition(),
            "# HELP queue_depth Queued requests.\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{model=\"m\"} 3\n");
  depth = 7;
  EXPECT_NE(registry.Exposition().find("queue_depth{model=\"m\"} 7\n"), std::string::npos);
  handle.reset();
  EXPECT_EQ(registry.Exposition(), "");  // a family with no series is not printed
}

TEST(MetricsTest, CallbackGaugeNewestWinsAndHandleMayOutliveRegistry) {
  auto registry = std::make_unique<Registry>();
  auto old_handle = registry->AddCallbackGauge("busy", "h", {}, [] { return 1.0; });
  auto new_handle = registry->AddCallbackGauge("busy", "h", {}, [] { return 2.0; });
  EXPECT_EQ(registry->Exposition(), "# HELP busy h\n# TYPE busy gauge\nbusy 2\n");
  old_handle.reset();
  EXPECT_EQ(registry->Exposition(), "# HELP busy h\n# TYPE busy gauge\nbusy 2\n");
  registry.reset();
  new_handle.reset();  // must not touch the destroyed registry
}

TEST(MetricsTest, TypeConflictThrows) {
  Registry registry;
  registry.GetCounter("x_total", "h", {});
  EXPECT_THROW(registry.GetGauge("x_total", "h", {}), std::logic_error);
  EXPECT_THROW(registry.GetHistogram("x_total", "h", {}, {1}), std::logic_error);
  EXPECT_THROW((void)registry.AddCallbackGauge("x_total", "h", {}, [] { return 0.0; }), std::logic_error);
  registry.GetHistogram("h_seconds", "h", {}, {1, 2});
  EXPECT_THROW(registry.GetHistogram("h_seconds", "h", {{"a", "b"}}, {1, 3}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("h_seconds", "h", {}), std::logic_error);
}

TEST(MetricsTest, InvalidNamesThrow) {
  Registry registry;
  EXPECT_THROW(registry.GetCounter("", "h", {}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("1abc", "h", {}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("a-b", "h", {}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"bad-label", "v"}}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"__reserved", "v"}}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"a", "1"}, {"a", "2"}}), std::logic_error);
  EXPECT_THROW(registry.GetHistogram("hist", "h", {{"le", "1"}}, {1}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("ok", "h", {}).Increment(-1), std::logic_error);
}

TEST(MetricsTest, ConcurrentUpdatesSumCorrectly) {
  Registry registry;
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, t] {
      // Each thread looks the metrics up itself, so lookup races with creation as well.
      Counter& c = registry.GetCounter("hits_total", "h", {{"kind", "shared"}});
      Gauge& g = registry.GetGauge("level", "h", {});
      Histogram& h = registry.GetHistogram("obs", "h", {}, {0.5});
      for (int i = 0; i < kIterations; ++i) {
        c.Increment();
        g.Add(t % 2 == 0 ? 1 : -1);
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
        if (i % 5000 == 0) (void)registry.Exposition();  // scrapes race with updates
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(registry.GetCounter("hits_total", "h", {{"kind", "shared"}}).value(), kThreads * kIterations);
  EXPECT_EQ(registry.GetGauge("level", "h", {}).value(), 0);
  Histogram::Snapshot snap = registry.GetHistogram("obs", "h", {}, {0.5}).snapshot();
  EXPECT_EQ(snap.count, static_cast<uint64_t>(kThreads * kIterations));
  EXPECT_EQ(snap.cumulative_counts[0], static_cast<uint64_t>(kThreads * kIterations / 2));
  EXPECT_DOUBLE_EQ(snap.sum, kThreads * (kIterations / 2) * 1.25);
  EXPECT_NE(registry.Exposition().find("hits_total{kind=\"shared\"} 160000\n"), std::string::npos);
}

}  // namespace
}  // namespace peregrine::metrics
