#!/usr/bin/python3
"""End-to-end tests of `peregrine bench`: the real load generator against the real `peregrine serve` on
127.0.0.1, checking the numbers it reports against the server's own counters (/metrics, the statistics
endpoint): request counts, errors by kind (503 from a full queue, 404, timeouts, refused connections), and
where a ramp stops. The HTML report is rendered in headless Chromium when it is installed.

usage: PEREGRINE_BIN=build/release/src/cli/peregrine /usr/bin/python3 tests/e2e/bench_test.py [-v]
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_models  # noqa: E402
from e2e_server import BIN, EXAMPLES, Server  # noqa: E402

BENCH_TIMEOUT_S = 300
# Short levels: these tests check counts and rules, not performance.
QUICK = ["--warmup", "200ms", "--window", "300ms", "--max-windows", "2", "--stable-windows", "2"]


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


NO_SUCCESS = 3  # exit status of a run in which no request succeeded; its files are still written


def bench(url, *args, expect_rc=0):
    """Runs `peregrine bench URL args --json FILE`: the parsed JSON when it exits 0 or NO_SUCCESS, else the finished
    process (for the other expected failures)."""
    out_dir = tempfile.mkdtemp(prefix="peregrine_bench_out_")
    try:
        json_path = os.path.join(out_dir, "result.json")
        proc = subprocess.run([BIN, "bench", url, *args, "--json", json_path], capture_output=True, text=True,
                              timeout=BENCH_TIMEOUT_S)
        if proc.returncode != expect_rc:
            raise AssertionError(f"bench exited {proc.returncode}, expected {expect_rc}\nstdout:\n{proc.stdout}\n"
                                 f"stderr:\n{proc.stderr}")
        if expect_rc not in (0, NO_SUCCESS):
            return proc
        with open(json_path) as f:
            result = json.load(f)
        result["_stdout"], result["_stderr"] = proc.stdout, proc.stderr
        return result
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def simple_body_file(directory):
    path = os.path.join(directory, "simple_body.json")
    with open(path, "w") as f:
        json.dump({"inputs": [{"name": n, "datatype": "INT32", "shape": [1, 16], "data": list(range(16))}
                              for n in ("INPUT0", "INPUT1")]}, f)
    return path


class BenchAgainstSimpleTest(unittest.TestCase):
    """The example `simple` model: every request the bench reports is one the server counted."""

    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_bench_repo_")
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.repo, "simple"))
        cls.server = Server(cls.repo)
        cls.server.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def assert_counts_match_server(self, result, before, model="simple"):
        server = delta(self.server.requests_by_outcome(model), before)
        totals = result["totals"]["requests"]
        self.assertEqual(totals["sent"], totals["responses"])  # drained: nothing lost in flight
        self.assertEqual(sum(server.values()), totals["sent"], (server, totals))
        self.assertEqual(server.get("success", 0), totals["success"])
        return server

    def test_closed_loop_counts_match_metrics_and_statistics(self):
        before = self.server.requests_by_outcome("simple")
        stats_before = requests.get(self.server.url + "/v2/models/simple/stats").json()["model_stats"][0]
        result = bench(self.server.url, "-m", "simple", "-c", "1,4", *QUICK)
        self.assert_counts_match_server(result, before)
        stats = requests.get(self.server.url + "/v2/models/simple/stats").json()["model_stats"][0]
        # The bench's own statistics reads are GETs and do not count; every infer it sent does.
        self.assertEqual(stats["inference_count"] - stats_before["inference_count"], result["totals"]["requests"]["sent"])
        self.assertEqual(result["mode"], "concurrency")
        self.assertEqual([level["level"] for level in result["levels"]], [1, 4])
        for level in result["levels"]:
            self.assertGreater(level["requests"]["success"], 0)
            self.assertEqual(level["errors"], {})
            self.assertGreater(level["throughput"], 0)
            lat = level["latency_us"]
            self.assertTrue(0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p99_9"]
                            <= lat["max"], lat)
            self.assertIsNotNone(level["server"], "queue/compute split from the statistics endpoint")
            self.assertGreater(level["server"]["requests"], 0)
            # `simple` has no dynamic batching: one engine call per request. The server counts the two a moment
            # apart, so a snapshot taken while requests complete may see up to one per connection in between.
            self.assertLessEqual(abs(level["server"]["executions"] - level["server"]["requests"]), level["level"])
            self.assertGreater(level["server"]["compute_infer_us"], 0)
            self.assertGreaterEqual(level["server"]["queue_us"], 0)
            # Measured windows are part of everything sent.
            self.assertLessEqual(level["requests"]["sent"], result["totals"]["requests"]["sent"])
        self.assertEqual(result["totals"]["requests"]["connects"], 4)  # keep-alive: 4 connections, reused
        self.assertIn("concurrency", result["_stdout"])

    def test_open_loop_poisson_counts_match_metrics(self):
        before = self.server.requests_by_outcome("simple")
        result = bench(self.server.url, "-m", "simple", "--rate", "100,300", "--poisson", "--seed", "5", *QUICK)
        self.assert_counts_match_server(result, before)
        self.assertEqual(result["mode"], "rate")
        for level in result["levels"]:
            req = level["requests"]
            self.assertGreater(req["scheduled"], 0)
            self.assertEqual(req["dropped"], 0)
            self.assertGreater(level["offered_rate"], 0)
        totals = result["totals"]["requests"]
        self.assertEqual(totals["scheduled"], totals["sent"] + totals["dropped"])

    def test_binary_tensors_and_batch(self):
        before = self.server.requests_by_outcome("simple")
        result = bench(self.server.url, "-m", "simple", "-c", "2", "--binary", "-b", "4", *QUICK)
        server = self.assert_counts_match_server(result, before)
        self.assertEqual(set(server), {"success"})
        self.assertIn("INPUT0 INT32 [4,16]", result["settings"]["request"])
        self.assertIn("binary", result["settings"]["request"])

    def test_wrong_model_is_404_by_kind_and_never_reaches_a_model(self):
        before = self.server.requests_by_outcome("simple")
        workdir = tempfile.mkdtemp()
        try:
            result = bench(self.server.url, "-m", "nosuch", "--request-file", simple_body_file(workdir), "-c", "2",
                           *QUICK, expect_rc=NO_SUCCESS)
            self.assertIn("no request succeeded", result["_stderr"])
            self.assertIn("http_404", result["_stderr"])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        totals = result["totals"]
        self.assertGreater(totals["requests"]["sent"], 0)
        self.assertEqual(totals["errors"], {"http_404": totals["requests"]["sent"]})
        self.assertEqual(totals["by_status"], {"404": totals["requests"]["sent"]})
        self.assertEqual(totals["requests"]["success"], 0)
        self.assertEqual(self.server.requests_by_outcome("nosuch"), {})
        self.assertEqual(delta(self.server.requests_by_outcome("simple"), before), {})
        for level in result["levels"]:
            self.assertEqual(level["error_rate"], 1.0)
        # Without a body file the metadata lookup fails first: a clear error, exit 1.
        proc = bench(self.server.url, "-m", "nosuch", *QUICK, expect_rc=1)
        self.assertIn("/v2/models/nosuch", proc.stderr)

    def test_bad_command_lines_fail_before_sending_anything(self):
        before = self.server.requests_by_outcome("simple")
        for args, message in ((["-c", "1,20000"], "above the limit"), (["-c", "4", "-r", "10"], "excludes"),
                              (["-c", "0"], "bad level"), (["--window", "0s"], "positive")):
            proc = bench(self.server.url, "-m", "simple", *args, expect_rc=2 if message == "excludes" else 1)
            self.assertIn(message, proc.stderr, args)
        self.assertEqual(delta(self.server.requests_by_outcome("simple"), before), {})

    def test_refused_connections_are_counted(self):
        with socket.socket() as s:  # a port that was free a moment ago
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        workdir = tempfile.mkdtemp()
        try:
            result = bench(f"http://127.0.0.1:{port}", "-m", "simple", "--request-file", simple_body_file(workdir),
                           "-c", "2", *QUICK, expect_rc=NO_SUCCESS)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        totals = result["totals"]["requests"]
        self.assertGreater(totals["connection_errors"], 0)
        self.assertEqual(totals["responses"], 0)
        self.assertEqual(totals["sent"], totals["connection_errors"])

    def test_generate_requests(self):
        repo = tempfile.mkdtemp(prefix="peregrine_bench_gen_")
        shutil.copytree(os.path.join(EXAMPLES, "textgen-lstm"), os.path.join(repo, "textgen-lstm"))
        server = Server(repo)
        server.wait_ready()
        try:
            probe = requests.post(server.url + "/v2/models/textgen-lstm/generate",
                                  json={"text_input": "the ", "parameters": {"max_tokens": 2}}, timeout=60)
            if probe.status_code != 200:
                self.skipTest(f"this server has no generate endpoint for textgen-lstm (HTTP {probe.status_code})")
            result = bench(server.url, "-m", "textgen-lstm", "--generate", "the ", "--max-tokens", "4", "-c", "2",
                           *QUICK)
            totals = result["totals"]["requests"]
            self.assertGreater(totals["success"], 0)
            self.assertEqual(totals["success"], totals["sent"])
            self.assertEqual(result["settings"]["endpoint"], "/v2/models/textgen-lstm/generate")
        finally:
            server.stop()
            shutil.rmtree(repo, ignore_errors=True)


class BenchAgainstSlowModelTest(unittest.TestCase):
    """A slow model with one instance and a short queue: 503s, timeouts, and ramps that must stop."""

    QUEUE = 2

    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_bench_slow_")
        e2e_models.write_slow(os.path.join(cls.repo, "slow"), max_queue_size=cls.QUEUE)
        cls.server = Server(cls.repo)
        cls.server.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def setUp(self):
        self.server.wait_idle("slow")

    def test_full_queue_503s_are_counted_by_kind(self):
        before = self.server.requests_by_outcome("slow")
        # Six outstanding requests, room for one running and two queued: the rest are refused at once.
        result = bench(self.server.url, "-m", "slow", "-c", "6", "--warmup", "0", "--window", "600ms",
                       "--max-windows", "1", "--stable-windows", "1")
        totals = result["totals"]
        server = delta(self.server.requests_by_outcome("slow"), before)
        self.assertGreater(totals["errors"].get("http_503", 0), 0)
        self.assertGreater(totals["by_status"].get("200", 0), 0)
        self.assertEqual(server.get("rejected", 0), totals["errors"]["http_503"])
        self.assertEqual(server.get("success", 0), totals["by_status"]["200"])
        self.assertEqual(set(totals["errors"]), {"http_503"})
        level = result["levels"][0]
        self.assertEqual(level["errors"]["http_503"], level["requests"]["responses"] - level["requests"]["success"])
        self.assertGreater(level["error_rate"], 0)

    def test_closed_loop_ramp_stops_where_the_queue_overflows(self):
        # One instance running and QUEUE waiting. Up to QUEUE outstanding requests never find the queue full;
        # QUEUE + 2 always do (one runs, QUEUE wait, the last is refused and retried at once - a flood of
        # 503s for as long as an inference takes). QUEUE + 1 is a race: a reply reaches the client and its
        # next request the server before the instance has taken the next one from the queue, which on a busy
        # machine can leave the new request refused and retried for a whole time slice.
        result = bench(self.server.url, "-m", "slow", "-c", "1:8:1", "--ramp", "--max-error-rate", "0.25",
                       "--warmup", "0", "--window", "1s", "--max-windows", "1", "--stable-windows", "1")
        levels = [int(level["level"]) for level in result["levels"]]
        self.assertIn(levels, [list(range(1, self.QUEUE + 2)), list(range(1, self.QUEUE + 3))], result["stop_reason"])
        for level in result["levels"][:self.QUEUE]:
            self.assertTrue(level["passed"])
            self.assertEqual(level["errors"], {})
        self.assertEqual(result["last_good"]["level"], levels[-2])
        failed = result["levels"][-1]
        self.assertFalse(failed["passed"])
        self.assertIn("error rate", failed["verdict"])
        self.assertGreater(failed["errors"]["http_503"], 0)
        self.assertIn(f"last good level: concurrency {levels[-2]}", result["_stdout"])

    def test_open_loop_ramp_stops_above_capacity(self):
        # The slow model takes at least 0.1 s, so it answers at most 10 requests/s: 200/s must overflow the queue.
        result = bench(self.server.url, "-m", "slow", "--rate", "2,200,400", "--ramp", "--warmup", "0",
                       "--window", "1s", "--max-windows", "1", "--stable-windows", "1")
        failed = result["levels"][-1]
        self.assertFalse(failed["passed"])
        self.assertLessEqual(failed["level"], 200)
        self.assertGreater(failed["errors"]["http_503"], 0)
        self.assertNotEqual(failed["level"], 400)  # stopped at the first failure
        if failed["level"] == 200:
            self.assertEqual(result["last_good"]["level"], 2)
        self.assertIn("failed", result["stop_reason"])

    def test_slo_ramp_stops_at_the_first_slow_level(self):
        # Every response takes >= 100 ms: a 50 ms p99 SLO fails the first level, and no level is good.
        result = bench(self.server.url, "-m", "slow", "-c", "1,2", "--ramp", "--slo-p99", "50ms", "--warmup", "0",
                       "--window", "2s", "--max-windows", "1", "--stable-windows", "1")
        self.assertGreater(result["levels"][0]["requests"]["success"], 0)
        self.assertEqual(len(result["levels"]), 1)
        self.assertIn("SLO", result["levels"][0]["verdict"])
        self.assertIsNone(result["last_good"])

    def test_timeouts_are_counted(self):
        result = bench(self.server.url, "-m", "slow", "-c", "1", "--timeout", "30ms", "--warmup", "0",
                       "--window", "400ms", "--max-windows", "1", "--stable-windows", "1", expect_rc=NO_SUCCESS)
        totals = result["totals"]["requests"]
        self.assertGreater(totals["timeouts"], 0)
        self.assertEqual(totals["success"], 0)
        self.assertEqual(result["levels"][0]["error_rate"], 1.0)
        self.assertIn("timeout", result["totals"]["errors"])


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class ReportInChromiumTest(unittest.TestCase):
    """The HTML report of a real run, rendered by headless Chromium: the charts are there and drawn."""

    def test_report_renders_with_its_charts(self):
        chromium = find_chromium()
        if chromium is None:
            self.skipTest("chromium is not installed (Debian package `chromium`); the HTML report was not rendered")
        repo = tempfile.mkdtemp(prefix="peregrine_bench_report_")
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(repo, "simple"))
        server = Server(repo)
        server.wait_ready()
        try:
            report = os.path.join(repo, "report.html")
            subprocess.run([BIN, "bench", server.url, "-m", "simple", "-c", "1,2,4", *QUICK, "--report", report,
                            "--quiet"], check=True, capture_output=True, timeout=BENCH_TIMEOUT_S)
            common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--no-first-run", f"--user-data-dir={os.path.join(repo, 'profile')}"]
            dom = subprocess.run(common + ["--dump-dom", "file://" + report], capture_output=True, text=True,
                                 timeout=120, check=True).stdout
            self.assertEqual(dom.count("<svg"), 4, dom[:2000])
            self.assertIn("Latency percentiles vs throughput", dom)
            self.assertIn("Latency distribution per level", dom)
            self.assertIn("Errors per level", dom)
            # 4 percentile lines + 1 throughput line + one distribution per level (3).
            self.assertEqual(len(re.findall(r'<path class="series"', dom)), 8)
            self.assertGreaterEqual(len(re.findall(r"<circle", dom)), 3 * 4)
            screenshot = os.path.join(repo, "report.png")
            subprocess.run(common + ["--hide-scrollbars", "--window-size=1500,1400", f"--screenshot={screenshot}",
                                     "file://" + report], capture_output=True, timeout=120, check=True)
            with open(screenshot, "rb") as f:
                png = f.read()
            self.assertTrue(png.startswith(b"\x89PNG"))
            self.assertGreater(len(png), 20_000)  # charts drawn, not a blank page
        finally:
            server.stop()
            shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
