#!/usr/bin/python3
"""End-to-end tests of the generate extension of `peregrine serve`: the real binary on 127.0.0.1 serving
examples/models/textgen-lstm, driven by requests, http.client and raw sockets.

usage: PEREGRINE_BIN=build/release/src/cli/peregrine /usr/bin/python3 tests/e2e/generate_test.py [-v]
"""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_test import EXAMPLES, REQUEST_TIMEOUT_S, SOURCE_DIR, Server  # noqa: E402

REFERENCE = os.path.join(SOURCE_DIR, "examples", "textgen-lstm", "reference", "greedy.json")
WAIT_S = 30  # bound of every poll
# The "endless" copy of the example: no end token and a huge token limit, so that a generation runs until it
# is cancelled or times out (a million steps take minutes on any machine).
ENDLESS_TOKENS = 1_000_000


def write_endless(repo):
    src = os.path.join(EXAMPLES, "textgen-lstm")
    dst = os.path.join(repo, "textgen-endless")
    shutil.copytree(src, dst)
    path = os.path.join(dst, "config.pbtxt")
    with open(path) as f:
        config = f.read()
    config = config.replace('name: "textgen-lstm"', 'name: "textgen-endless"')
    config = re.sub(r'\n\s*end_token: "<eos>"', "", config)
    config = re.sub(r"max_tokens_limit: \d+", f"max_tokens_limit: {ENDLESS_TOKENS}", config)
    config = re.sub(r"max_sequences_per_step: \d+", "max_sequences_per_step: 4", config)
    assert "end_token" not in config and str(ENDLESS_TOKENS) in config
    with open(path, "w") as f:
        f.write(config)


def sse_events(raw):
    """The JSON payloads of a text/event-stream body."""
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert all(line.startswith("data: ") for line in lines), block
        events.append(json.loads("".join(line[len("data: "):] for line in lines)))
    return events


def metric(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.rindex("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


class GenerateTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(REFERENCE) as f:
            cls.reference = json.load(f)
        cls.repo = tempfile.mkdtemp(prefix="peregrine_gen_repo_")
        shutil.copytree(os.path.join(EXAMPLES, "textgen-lstm"), os.path.join(cls.repo, "textgen-lstm"))
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.repo, "simple"))
        write_endless(cls.repo)
        cls.server = Server(cls.repo, "--http-threads", "4")
        cls.server.wait_ready()
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def generate(self, text, model="textgen-lstm", stream=False, headers=None, **parameters):
        body = {"text_input": text}
        if parameters:
            body["parameters"] = parameters
        path = "generate_stream" if stream else "generate"
        return requests.post(f"{self.url}/v2/models/{model}/{path}", json=body, headers=headers,
                             timeout=REQUEST_TIMEOUT_S)

    def generate_ok(self, text, **parameters):
        r = self.generate(text, **parameters)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def metrics(self):
        return requests.get(self.url + "/metrics", timeout=REQUEST_TIMEOUT_S).text

    def wait_metric(self, value, name, **labels):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if metric(self.metrics(), name, **labels) == value:
                return
            time.sleep(0.05)
        self.fail(f"{name}{labels} never became {value}: {metric(self.metrics(), name, **labels)}")

    def assert_still_serving(self):
        body = self.generate_ok("Movie is great.", max_tokens=3)
        self.assertEqual(body["output_tokens"], 3)

    def assert_bad(self, response, fragment, status=400):
        self.assertEqual(response.status_code, status, response.text)
        self.assertIn(fragment, response.json()["error"])
        self.assert_still_serving()

    # ---- results ----

    def test_greedy_matches_pytorch(self):
        body = self.generate_ok(self.reference["prompt"], max_tokens=20)
        self.assertEqual(body["text_output"], self.reference["generated_text"])
        self.assertEqual(body["model_name"], "textgen-lstm")
        self.assertEqual(body["model_version"], "1")
        self.assertEqual(body["prompt_tokens"], len(self.reference["prompt_token_ids"]))
        self.assertEqual(body["output_tokens"], 20)
        self.assertEqual(body["finish_reason"], "length")
        timings = body["timings"]
        self.assertGreater(timings["total_ms"], 0)
        self.assertLessEqual(timings["queue_ms"], timings["first_token_ms"])
        self.assertLessEqual(timings["first_token_ms"], timings["total_ms"])
        # Without max_tokens the config's default_max_tokens (20) applies.
        self.assertEqual(self.generate_ok(self.reference["prompt"])["text_output"], self.reference["generated_text"])

    def test_generate_with_curl(self):
        import subprocess
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "-d", json.dumps({"text_input": "Movie is great."}),
                              self.url + "/v2/models/textgen-lstm/generate"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["text_output"], self.reference["generated_text"])

    def test_stream_one_event_per_token(self):
        for parameters in ({"max_tokens": 20}, {"max_tokens": 25, "temperature": 0.9, "seed": 7}):
            r = self.generate("Movie is great.", stream=True, **parameters)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertTrue(r.headers["Content-Type"].startswith("text/event-stream"))
            events = sse_events(r.text)
            tokens, final = events[:-1], events[-1]
            self.assertTrue(final["final"])
            self.assertEqual(final["text_output"], "")
            self.assertEqual(len(tokens), final["output_tokens"])
            self.assertEqual([e["index"] for e in tokens], list(range(len(tokens))))
            whole = self.generate_ok("Movie is great.", **parameters)
            self.assertEqual("".join(e["text_output"] for e in tokens), whole["text_output"])
            self.assertEqual(final["finish_reason"], whole["finish_reason"])
        self.assertEqual([e["token_id"] for e in sse_events(self.generate("Movie is great.", stream=True).text)[:-1]],
                         self.reference["generated_token_ids"])

    def test_stream_arrives_event_by_event(self):
        """The events of a long generation come as they are made, not all at the end."""
        with requests.post(f"{self.url}/v2/models/textgen-lstm/generate_stream",
                           json={"text_input": "Movie is great.", "parameters": {"max_tokens": 200}},
                           stream=True, timeout=REQUEST_TIMEOUT_S) as r:
            first = next(line for line in r.iter_lines() if line)
            self.assertTrue(first.startswith(b"data: "))
            self.assertEqual(json.loads(first[len(b"data: "):])["index"], 0)

    def test_seed_reproducible(self):
        a = self.generate_ok("The acting is", max_tokens=30, temperature=1.0, top_k=50, top_p=0.95, seed=1234)
        b = self.generate_ok("The acting is", max_tokens=30, temperature=1.0, top_k=50, top_p=0.95, seed=1234)
        c = self.generate_ok("The acting is", max_tokens=30, temperature=1.0, top_k=50, top_p=0.95, seed=4321)
        self.assertEqual(a["text_output"], b["text_output"])
        self.assertNotEqual(a["text_output"], c["text_output"])

    def test_stop_words(self):
        body = self.generate_ok("Movie is great.", max_tokens=20, stop=["small town", "never said zzz"])
        self.assertEqual(body["text_output"], "the story is set in a")
        self.assertEqual(body["finish_reason"], "stop")
        single = self.generate_ok("Movie is great.", max_tokens=20, stop="2005")
        self.assertEqual(single["text_output"], "the story is set in a small town in")

    def test_concurrent_requests_match_sequential(self):
        cases = [
            ("Movie is great.", {"max_tokens": 20}),
            ("What a dull remake!", {"max_tokens": 35}),
            ("Truly wonderful.", {"max_tokens": 7, "temperature": 0.8, "seed": 1}),
            ("The acting is wonderful, and the", {"max_tokens": 50, "temperature": 1.0, "top_k": 20, "seed": 2}),
            ("I", {"max_tokens": 12}),
            ("The plot is a mess and the ending drags on forever", {"max_tokens": 28, "temperature": 0.7, "seed": 3}),
            ("Zyzzyva qwerty", {"max_tokens": 16}),
            ("Movie is great.", {"max_tokens": 40, "temperature": 1.2, "top_p": 0.8, "seed": 4}),
        ]
        sequential = [self.generate_ok(text, **p) for text, p in cases]
        for _ in range(2):
            with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
                together = list(pool.map(lambda c: self.generate_ok(c[0], **c[1]), cases))
            for (text, _), alone, batched in zip(cases, sequential, together):
                self.assertEqual(batched["text_output"], alone["text_output"], text)
                self.assertEqual(batched["output_tokens"], alone["output_tokens"], text)

    def test_metrics(self):
        self.generate_ok("Movie is great.", max_tokens=5)
        text = self.metrics()
        labels = {"model": "textgen-lstm", "version": "1"}
        self.assertGreaterEqual(metric(text, "peregrine_generate_requests_total", outcome="success", **labels), 1)
        self.assertGreaterEqual(metric(text, "peregrine_generate_output_tokens_total", **labels), 5)
        self.assertIsNotNone(metric(text, "peregrine_generate_batch_size_bucket", le="1", **labels))
        self.assertIsNotNone(metric(text, "peregrine_generate_time_per_output_token_seconds_count", **labels))
        self.assertIsNotNone(metric(text, "peregrine_generate_time_to_first_token_seconds_count", **labels))
        self.assertIsNotNone(metric(text, "peregrine_generate_active_sequences", **labels))

    def test_statistics_count_generations(self):
        def stats():
            r = requests.get(self.url + "/v2/models/textgen-lstm/versions/1/stats", timeout=REQUEST_TIMEOUT_S)
            self.assertEqual(r.status_code, 200, r.text)
            return r.json()["model_stats"][0]
        self.server.wait_idle("textgen-lstm")
        before = stats()
        self.generate_ok("Movie is great.", max_tokens=5)
        r = requests.post(self.url + "/v2/models/textgen-lstm/generate", json={"text_input": " "},
                          timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 400)
        after = stats()
        success, fail = after["inference_stats"]["success"], after["inference_stats"]["fail"]
        self.assertEqual(success["count"] - before["inference_stats"]["success"]["count"], 1)
        self.assertGreater(success["ns"], before["inference_stats"]["success"]["ns"])
        self.assertEqual(fail["count"] - before["inference_stats"]["fail"]["count"], 1)
        self.assertEqual(after["inference_count"] - before["inference_count"], 1)
        self.assertGreater(after["inference_stats"]["compute_infer"]["ns"],
                           before["inference_stats"]["compute_infer"]["ns"])
        self.assertGreater(after["last_inference"], 0)

    def test_server_metadata_and_config(self):
        self.assertIn("generate", requests.get(self.url + "/v2").json()["extensions"])
        config = requests.get(self.url + "/v2/models/textgen-lstm/config").json()
        self.assertEqual(config["generation"]["vocabulary"], "vocab.txt")
        self.assertEqual(config["generation"]["tokenizer"], "basic_english")

    # ---- cancellation and timeouts (the endless model) ----

    def endless_request(self, path, extra_headers=""):
        body = json.dumps({"text_input": "Movie is great.", "parameters": {"max_tokens": ENDLESS_TOKENS}}).encode()
        return (f"POST /v2/models/textgen-endless/{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra_headers}\r\n").encode() + body

    def test_client_that_disconnects_ends_its_sequence(self):
        labels = {"model": "textgen-endless", "version": "1"}
        before = metric(self.metrics(), "peregrine_generate_requests_total", outcome="cancelled", **labels) or 0
        # Streaming: read the first event, then go away.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=REQUEST_TIMEOUT_S) as s:
            s.sendall(self.endless_request("generate_stream"))
            received = b""
            while b"data: " not in received:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "the stream ended early")
                received += chunk
            self.assertIn(b"200 OK", received)
        self.wait_metric(before + 1, "peregrine_generate_requests_total", outcome="cancelled", **labels)
        self.wait_metric(0, "peregrine_generate_active_sequences", **labels)
        # Plain: leave while it generates.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=REQUEST_TIMEOUT_S) as s:
            s.sendall(self.endless_request("generate"))
            self.wait_metric(1, "peregrine_generate_active_sequences", **labels)
        self.wait_metric(before + 2, "peregrine_generate_requests_total", outcome="cancelled", **labels)
        self.wait_metric(0, "peregrine_generate_active_sequences", **labels)
        self.assert_still_serving()

    def test_timeout_is_504(self):
        r = self.generate("Movie is great.", model="textgen-endless", headers={"Timeout": "200ms"},
                          max_tokens=ENDLESS_TOKENS)
        self.assertEqual(r.status_code, 504, r.text)
        self.assertIn("timeout", r.json()["error"])
        # Streaming: once the first token went out (with the header), the timeout ends the stream with an error
        # event; before it, it is a plain 504.
        r = self.generate("Movie is great.", model="textgen-endless", stream=True, headers={"Timeout": "300ms"},
                          max_tokens=ENDLESS_TOKENS)
        if r.status_code == 200:
            events = sse_events(r.text)
            self.assertIn("timeout", events[-1]["error"])
            self.assertTrue(all("token_id" in e for e in events[:-1]))
        else:
            self.assertEqual(r.status_code, 504, r.text)
            self.assertIn("timeout", r.json()["error"])
        self.wait_metric(0, "peregrine_generate_active_sequences", model="textgen-endless", version="1")
        self.assert_still_serving()

    # ---- bad input ----

    def test_empty_and_whitespace_text(self):
        self.assert_bad(self.generate(""), "text_input is empty or only whitespace")
        self.assert_bad(self.generate(" \t\n  "), "text_input is empty or only whitespace")
        self.assert_bad(self.generate("", stream=True), "text_input is empty or only whitespace")

    def test_invalid_utf8(self):
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/generate",
                          data=b'{"text_input": "caf\xe9 is great"}', timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "text_input is not valid UTF-8")
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/generate",
                          data=b'{"text_input": "ok", "parameters": {"stop": ["\xc0\xaf"]}}', timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "parameters.stop[0] is not valid UTF-8")

    def test_max_tokens_out_of_range(self):
        self.assert_bad(self.generate("Movie is great.", max_tokens=0), "max_tokens must be in 1..1024")
        self.assert_bad(self.generate("Movie is great.", max_tokens=-5), "max_tokens must be in 1..1024")
        self.assert_bad(self.generate("Movie is great.", max_tokens=1025), "max_tokens must be in 1..1024, got 1025")

    def test_sampling_parameters_out_of_range(self):
        self.assert_bad(self.generate("Movie is great.", temperature=-0.5), "temperature must be a finite number >= 0")
        self.assert_bad(self.generate("Movie is great.", top_p=0), "top_p must be in (0, 1]")
        self.assert_bad(self.generate("Movie is great.", top_p=1.5), "top_p must be in (0, 1]")
        self.assert_bad(self.generate("Movie is great.", top_k=-1), "top_k must be >= 0")
        self.assert_bad(self.generate("Movie is great.", seed=-1), "parameters.seed must be a non-negative integer")

    def test_unknown_parameters_and_fields(self):
        self.assert_bad(self.generate("Movie is great.", beam_width=4), "unknown parameter 'beam_width'")
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/generate",
                          json={"text_input": "Movie is great.", "max_tokens": 5}, timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "unknown field 'max_tokens'")

    def test_wrong_json_types(self):
        post = lambda body: requests.post(f"{self.url}/v2/models/textgen-lstm/generate", json=body,
                                          timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(post({"text_input": 42}), "text_input must be a string")
        self.assert_bad(post({"parameters": {"max_tokens": 3}}), "text_input is required")
        self.assert_bad(post(["Movie"]), "must be a JSON object")
        self.assert_bad(post({"text_input": "x", "parameters": [1]}), "parameters must be a JSON object")
        self.assert_bad(post({"text_input": "x", "parameters": {"max_tokens": "20"}}), "max_tokens must be an integer")
        self.assert_bad(post({"text_input": "x", "parameters": {"max_tokens": 2.5}}), "max_tokens must be an integer")
        self.assert_bad(post({"text_input": "x", "parameters": {"temperature": "warm"}}), "temperature must be a number")
        self.assert_bad(post({"text_input": "x", "parameters": {"stop": [1, 2]}}), "stop must be a string or a list")
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/generate", data=b'{"text_input": "x",',
                          timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "not valid JSON")

    def test_unknown_words_map_to_the_unknown_token(self):
        body = self.generate_ok("Zyzzyva qwertyuiop flibbertigibbet <eos>", max_tokens=5)
        self.assertEqual(body["prompt_tokens"], 4)
        self.assertEqual(body["output_tokens"], 5)

    def test_model_without_generation_config(self):
        self.assert_bad(self.generate("Movie is great.", model="simple"), "model 'simple' does not generate text")
        self.assert_bad(self.generate("Movie is great.", model="simple", stream=True), "no generation block")

    def test_other_request_errors(self):
        self.assert_bad(self.generate("Movie is great.", model="nosuch"), "unknown model 'nosuch'", status=404)
        r = requests.get(f"{self.url}/v2/models/textgen-lstm/generate", timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "not allowed")
        self.assert_bad(self.generate("Movie is great.", headers={"Timeout": "soon"}), "invalid timeout 'soon'")
        self.assert_bad(self.generate("word " * 1100), "text_input has 1100 tokens")
        # Versions: the served one by number; an unknown one is 404.
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/versions/1/generate",
                          json={"text_input": "Movie is great."}, timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.json()["text_output"], self.reference["generated_text"])
        r = requests.post(f"{self.url}/v2/models/textgen-lstm/versions/7/generate",
                          json={"text_input": "Movie is great."}, timeout=REQUEST_TIMEOUT_S)
        self.assert_bad(r, "no version 7", status=404)

    def test_http10_stream_without_chunking(self):
        """An HTTP/1.0 client gets the events unchunked, ended by the connection closing."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=REQUEST_TIMEOUT_S)
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"
        conn.request("POST", "/v2/models/textgen-lstm/generate_stream",
                     json.dumps({"text_input": "Movie is great.", "parameters": {"max_tokens": 4}}))
        r = conn.getresponse()
        events = sse_events(r.read().decode())
        conn.close()
        self.assertEqual(len(events), 5)
        self.assertTrue(events[-1]["final"])


if __name__ == "__main__":
    unittest.main()
