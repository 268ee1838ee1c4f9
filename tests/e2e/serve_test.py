#!/usr/bin/python3
"""End-to-end tests of `peregrine serve`: the real binary on 127.0.0.1, driven by real clients
(http.client, requests, curl, ab) over model repositories written here.

usage: PEREGRINE_BIN=build/release/src/cli/peregrine /usr/bin/python3 tests/e2e/serve_test.py [-v]
"""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_models  # noqa: E402

# SOURCE_DIR is also imported from here by the other e2e tests.
from e2e_server import EXAMPLES, REQUEST_TIMEOUT_S, SOURCE_DIR, START_TIMEOUT_S, Server  # noqa: E402,F401


def infer_body(inputs, outputs=None, **parameters):
    body = {"inputs": [{"name": n, "datatype": dt, "shape": list(a.shape), "data": a.flatten().tolist()}
                       for n, dt, a in inputs]}
    if outputs is not None:
        body["outputs"] = [{"name": n} for n in outputs]
    if parameters:
        body["parameters"] = parameters
    return body


def simple_inputs(batch=1):
    a = np.arange(16 * batch, dtype=np.int32).reshape(batch, 16)
    b = np.full((batch, 16), 3, dtype=np.int32)
    return a, b


def raw_request(port, data, timeout=10):
    """Sends raw bytes, returns everything the server sends until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and len(chunks) > 0:
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                    if length and len(rest) >= length[0]:
                        break
        except socket.timeout:
            pass
        return b"".join(chunks)


def status_of(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else None


class ServeTestCase(unittest.TestCase):
    """One server over simple, versioned and the example models; most endpoints and bad input."""

    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.repo, "simple"))
        shutil.copytree(os.path.join(EXAMPLES, "voice-verification-small"),
                        os.path.join(cls.repo, "voice-verification-small"))
        e2e_models.write_versioned(os.path.join(cls.repo, "versioned"), versions=(1, 2, 3), latest=2)
        cls.server = Server(cls.repo, "--max-request-size", str(1 << 20), "--header-timeout-ms", "500")
        cls.server.wait_ready()
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def post_infer(self, body, model="simple", **kwargs):
        return requests.post(f"{self.url}/v2/models/{model}/infer", json=body, timeout=REQUEST_TIMEOUT_S, **kwargs)

    def assert_error(self, response, status, fragment):
        self.assertEqual(response.status_code, status, response.text)
        self.assertIn(fragment, response.json()["error"])
        self.assert_still_serving()

    def assert_still_serving(self):
        a, b = simple_inputs()
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)]))
        self.assertEqual(r.status_code, 200, r.text)

    # ---- health and metadata ----

    def test_health(self):
        self.assertEqual(requests.get(self.url + "/v2/health/live").status_code, 200)
        self.assertEqual(requests.get(self.url + "/v2/health/ready").status_code, 200)

    def test_server_metadata(self):
        meta = requests.get(self.url + "/v2").json()
        self.assertEqual(meta["name"], "triton")
        for extension in ("binary_tensor_data", "model_configuration", "model_repository", "statistics"):
            self.assertIn(extension, meta["extensions"])

    def test_model_metadata(self):
        meta = requests.get(self.url + "/v2/models/simple").json()
        self.assertEqual(meta["name"], "simple")
        self.assertEqual(meta["versions"], ["1"])
        self.assertEqual(meta["inputs"], [{"name": "INPUT0", "datatype": "INT32", "shape": [-1, 16]},
                                          {"name": "INPUT1", "datatype": "INT32", "shape": [-1, 16]}])
        self.assertEqual([o["name"] for o in meta["outputs"]], ["OUTPUT0", "OUTPUT1"])
        self.assertEqual(requests.get(self.url + "/v2/models/simple/versions/1").json()["name"], "simple")

    def test_model_config(self):
        config = requests.get(self.url + "/v2/models/simple/config").json()
        self.assertEqual(config["name"], "simple")
        self.assertEqual(config["max_batch_size"], 8)
        self.assertEqual(config["input"][0]["data_type"], "TYPE_INT32")
        self.assertEqual(config["input"][0]["dims"], [16])  # numbers, not strings
        # Completed from the ONNX file when the config leaves it out.
        auto = requests.get(self.url + "/v2/models/versioned/config").json()
        self.assertEqual(auto["input"][0]["name"], "x")

    def test_model_ready(self):
        self.assertEqual(requests.get(self.url + "/v2/models/simple/ready").status_code, 200)
        self.assertEqual(requests.get(self.url + "/v2/models/simple/versions/1/ready").status_code, 200)
        self.assertEqual(requests.get(self.url + "/v2/models/nosuch/ready").status_code, 404)

    # ---- inference ----

    def test_infer_json(self):
        a, b = simple_inputs(batch=2)
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)]), headers={})
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual(body["model_name"], "simple")
        self.assertEqual(body["model_version"], "1")
        out = {o["name"]: o for o in body["outputs"]}
        self.assertEqual(out["OUTPUT0"]["shape"], [2, 16])
        self.assertEqual(out["OUTPUT0"]["datatype"], "INT32")
        np.testing.assert_array_equal(np.array(out["OUTPUT0"]["data"]).reshape(2, 16), a + b)
        np.testing.assert_array_equal(np.array(out["OUTPUT1"]["data"]).reshape(2, 16), a - b)

    def test_infer_with_curl(self):
        a, b = simple_inputs()
        body = json.dumps(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)], outputs=["OUTPUT1"]))
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "-H", "Content-Type: application/json", "-d", body,
                              self.url + "/v2/models/simple/infer"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        outputs = json.loads(out.stdout)["outputs"]
        self.assertEqual([o["name"] for o in outputs], ["OUTPUT1"])
        np.testing.assert_array_equal(outputs[0]["data"], (a - b).flatten())

    def test_infer_float_model_matches_reference(self):
        ref_dir = os.path.join(SOURCE_DIR, "examples", "voice-verification", "reference", "small")
        x = np.load(os.path.join(ref_dir, "batch4_mfcc.npy"))
        expected = np.load(os.path.join(ref_dir, "batch4_score.npy"))
        r = self.post_infer(infer_body([("mfcc", "FP32", x)]), model="voice-verification-small")
        self.assertEqual(r.status_code, 200, r.text)
        got = np.array(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-4)

    def test_infer_binary_both_ways(self):
        a, b = simple_inputs(batch=3)
        header = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [3, 16],
                              "parameters": {"binary_data_size": a.nbytes}},
                             {"name": "INPUT1", "datatype": "INT32", "shape": [3, 16],
                              "parameters": {"binary_data_size": b.nbytes}}],
                  "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}, {"name": "OUTPUT1"}]}
        head = json.dumps(header).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=REQUEST_TIMEOUT_S)
        conn.request("POST", "/v2/models/simple/infer", head + a.tobytes() + b.tobytes(),
                     {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        data = r.read()
        self.assertEqual(r.status, 200, data)
        json_length = int(r.getheader("Inference-Header-Content-Length"))
        meta = json.loads(data[:json_length])
        out = {o["name"]: o for o in meta["outputs"]}
        self.assertEqual(out["OUTPUT0"]["parameters"]["binary_data_size"], a.nbytes)
        got0 = np.frombuffer(data[json_length:], dtype=np.int32).reshape(3, 16)
        np.testing.assert_array_equal(got0, a + b)
        np.testing.assert_array_equal(np.array(out["OUTPUT1"]["data"]).reshape(3, 16), a - b)
        conn.close()

    def test_binary_data_output_parameter(self):
        a, b = simple_inputs()
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)], binary_data_output=True))
        self.assertEqual(r.status_code, 200)
        json_length = int(r.headers["Inference-Header-Content-Length"])
        meta = json.loads(r.content[:json_length])
        sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
        self.assertEqual(sizes, [64, 64])
        both = np.frombuffer(r.content[json_length:], dtype=np.int32).reshape(2, 16)
        np.testing.assert_array_equal(both[0], (a + b)[0])
        np.testing.assert_array_equal(both[1], (a - b)[0])

    def test_version_selection(self):
        meta = requests.get(self.url + "/v2/models/versioned").json()
        self.assertEqual(meta["versions"], ["2", "3"])  # latest { num_versions: 2 } of 1, 2, 3
        x = np.zeros((1, 4), dtype=np.float32)
        body = infer_body([("x", "FP32", x)])
        for path, added in (("/v2/models/versioned", 3), ("/v2/models/versioned/versions/2", 2),
                            ("/v2/models/versioned/versions/3", 3)):
            r = requests.post(self.url + path + "/infer", json=body, timeout=REQUEST_TIMEOUT_S)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["model_version"], str(added))
            self.assertEqual(r.json()["outputs"][0]["data"], [added] * 4)
        r = requests.post(self.url + "/v2/models/versioned/versions/1/infer", json=body, timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 404)
        self.assertIn("version 1", r.json()["error"])

    def test_statistics(self):
        before = requests.get(self.url + "/v2/models/simple/stats").json()["model_stats"][0]
        for _ in range(3):
            self.assert_still_serving()
        stats = requests.get(self.url + "/v2/models/simple/stats").json()["model_stats"][0]
        self.assertEqual(stats["name"], "simple")
        self.assertEqual(stats["version"], "1")
        self.assertGreaterEqual(stats["inference_count"] - before["inference_count"], 3)
        self.assertGreaterEqual(stats["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"], 3)
        self.assertGreater(stats["inference_stats"]["compute_infer"]["ns"], 0)
        everything = requests.get(self.url + "/v2/models/stats").json()["model_stats"]
        self.assertIn("simple", [s["name"] for s in everything])

    def test_repository_index(self):
        index = requests.post(self.url + "/v2/repository/index", timeout=REQUEST_TIMEOUT_S).json()
        states = {(e["name"], e.get("version")): e.get("state") for e in index}
        self.assertEqual(states[("simple", "1")], "READY")
        self.assertEqual(states[("versioned", "2")], "READY")
        ready = requests.post(self.url + "/v2/repository/index", json={"ready": True}).json()
        self.assertTrue(all(e["state"] == "READY" for e in ready))

    def test_load_refused_outside_explicit_mode(self):
        r = requests.post(self.url + "/v2/repository/models/simple/load")
        self.assertEqual(r.status_code, 400)
        self.assertIn("explicit", r.json()["error"])

    def test_metrics(self):
        self.assert_still_serving()
        text = requests.get(self.url + "/metrics").text
        self.assertIn("# TYPE peregrine_inference_requests_total counter", text)
        line = [l for l in text.splitlines()
                if l.startswith("peregrine_inference_requests_total{") and 'model="simple"' in l and "success" in l]
        self.assertEqual(len(line), 1, text)
        self.assertGreaterEqual(float(line[0].rsplit(" ", 1)[1]), 1)
        for name in ("peregrine_request_duration_seconds_bucket", "peregrine_queue_duration_seconds_count",
                     "peregrine_compute_duration_seconds_sum", "peregrine_inflight_requests", "peregrine_queue_depth",
                     "peregrine_model_state"):
            self.assertIn(name, text)

    def test_keep_alive_with_requests_session(self):
        a, b = simple_inputs()
        body = infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)])
        with requests.Session() as s:
            for _ in range(20):
                self.assertEqual(s.post(self.url + "/v2/models/simple/infer", json=body).status_code, 200)

    def test_ab_keep_alive(self):
        a, b = simple_inputs()
        path = os.path.join(self.server.dir, "body.json")
        with open(path, "w") as f:
            json.dump(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)]), f)
        for keep_alive in (["-k"], []):
            out = subprocess.run(["ab", *keep_alive, "-q", "-n", "400", "-c", "8", "-s", "30", "-p", path,
                                  "-T", "application/json", self.url + "/v2/models/simple/infer"],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("Complete requests:      400", out.stdout)
            self.assertIn("Failed requests:        0", out.stdout)
            self.assertNotIn("Non-2xx", out.stdout)

    # ---- bad input: each answered with a clear error, and the server keeps serving ----

    def test_malformed_json(self):
        r = requests.post(self.url + "/v2/models/simple/infer", data=b'{"inputs": [', timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 400, "JSON")

    def test_truncated_body(self):
        a, b = simple_inputs()
        body = json.dumps(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)])).encode()
        r = requests.post(self.url + "/v2/models/simple/infer", data=body[: len(body) // 2], timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 400)
        self.assert_still_serving()

    def test_wrong_datatype(self):
        a, b = simple_inputs()
        r = self.post_infer(infer_body([("INPUT0", "FP32", a.astype(np.float32)), ("INPUT1", "INT32", b)]))
        self.assert_error(r, 400, "INPUT0")

    def test_wrong_shape(self):
        a = np.zeros((1, 15), dtype=np.int32)
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", a)]))
        self.assert_error(r, 400, "INPUT0")

    def test_batch_above_max_batch_size(self):
        a, b = simple_inputs(batch=9)
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)]))
        self.assert_error(r, 400, "INPUT0")

    def test_element_count_differs_from_shape(self):
        body = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": list(range(15))},
                           {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": list(range(16))}]}
        self.assert_error(self.post_infer(body), 400, "INPUT0")

    def test_missing_and_unknown_input(self):
        a, b = simple_inputs()
        self.assert_error(self.post_infer(infer_body([("INPUT0", "INT32", a)])), 400, "INPUT1")
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b), ("INPUT2", "INT32", b)]))
        self.assert_error(r, 400, "INPUT2")

    def test_unknown_output(self):
        a, b = simple_inputs()
        r = self.post_infer(infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)], outputs=["OUTPUT9"]))
        self.assert_error(r, 400, "OUTPUT9")

    def test_unknown_model_and_version(self):
        a, b = simple_inputs()
        body = infer_body([("INPUT0", "INT32", a), ("INPUT1", "INT32", b)])
        self.assert_error(self.post_infer(body, model="nosuch"), 404, "nosuch")
        r = requests.post(self.url + "/v2/models/simple/versions/7/infer", json=body, timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 404, "7")
        r = requests.post(self.url + "/v2/models/simple/versions/x/infer", json=body, timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 400, "version")
        self.assert_error(requests.get(self.url + "/v2/nothing/here"), 404, "no such endpoint")

    def test_non_numeric_and_non_finite_values(self):
        body = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": ["a"] * 16},
                           {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [0] * 16}]}
        self.assert_error(self.post_infer(body), 400, "INPUT0")
        text = ('{"inputs": [{"name": "mfcc", "datatype": "FP32", "shape": [1, 1, 1, 1], "data": [1e999]}]}')
        r = requests.post(self.url + "/v2/models/voice-verification-small/infer", data=text, timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 400, "out of range")
        text = ('{"inputs": [{"name": "mfcc", "datatype": "FP32", "shape": [1, 1, 1, 1], "data": [1e300]}]}')
        r = requests.post(self.url + "/v2/models/voice-verification-small/infer", data=text, timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 400, "mfcc")  # finite as a double, not as FP32
        text = '{"inputs": [{"name": "mfcc", "datatype": "FP32", "shape": [1], "data": [NaN]}]}'
        r = requests.post(self.url + "/v2/models/voice-verification-small/infer", data=text, timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 400)
        body = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": [1.5] * 16},
                           {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [0] * 16}]}
        self.assert_error(self.post_infer(body), 400, "INPUT0")

    def test_oversized_body(self):
        r = requests.post(self.url + "/v2/models/simple/infer", data=b"x" * (2 << 20), timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 413)
        self.assertIn("error", r.json())
        self.assert_still_serving()

    def test_inference_header_length_larger_than_body(self):
        r = requests.post(self.url + "/v2/models/simple/infer", data=b'{"inputs": []}',
                          headers={"Inference-Header-Content-Length": "500"}, timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, 400, "Inference-Header-Content-Length")

    def test_slowloris_connection_is_closed(self):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n")  # never finishes the header
            try:
                data = s.recv(1024)
                while data:
                    data = s.recv(1024)
            except ConnectionResetError:
                pass
        self.assertLess(time.monotonic() - start, 5.0)  # closed by the 500 ms header timeout, not ours
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.settimeout(10)
            self.assertEqual(s.recv(1024), b"")  # sent nothing at all: closed too
        self.assert_still_serving()

    def test_client_disconnects_mid_request(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n{\"inp")
        for _ in range(3):
            self.assert_still_serving()

    def test_method_not_allowed(self):
        self.assert_error(requests.delete(self.url + "/v2/models/simple"), 400, "not allowed")


class WarmupTestCase(unittest.TestCase):
    """Readiness flips only after warm-up succeeds; a failing warm-up keeps the model unavailable."""

    def test_ready_only_after_warmup(self):
        repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        try:
            e2e_models.write_slow(os.path.join(repo, "slowwarm"), warmup_count=6)
            e2e_models.write_versioned(os.path.join(repo, "badwarm"), versions=(1,), latest=1, bad_warmup=True)
            server = Server(repo)
            try:
                self.assertEqual(requests.get(server.url + "/v2/health/live").status_code, 200)
                self.assertEqual(requests.get(server.url + "/v2/models/slowwarm/ready").status_code, 400)
                self.assertEqual(requests.get(server.url + "/v2/health/ready").status_code, 400)
                index = requests.post(server.url + "/v2/repository/index").json()
                self.assertIn("LOADING", [e.get("state") for e in index if e["name"] == "slowwarm"])
                server.wait_ready("/v2/models/slowwarm/ready")
                index = {e["name"]: e for e in requests.post(server.url + "/v2/repository/index").json()}
                self.assertEqual(index["badwarm"]["state"], "UNAVAILABLE")
                self.assertIn("warm", index["badwarm"]["reason"])
                # The server as a whole is not ready while a model it should serve failed.
                self.assertEqual(requests.get(server.url + "/v2/health/ready").status_code, 400)
                self.assertEqual(requests.get(server.url + "/v2/models/badwarm/ready").status_code, 400)
            finally:
                self.assertEqual(server.stop(), 0)
        finally:
            shutil.rmtree(repo, ignore_errors=True)


class ExplicitControlTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.repo, "simple"))
        e2e_models.write_versioned(os.path.join(cls.repo, "versioned"), versions=(1, 2), latest=1)
        e2e_models.write_versioned(os.path.join(cls.repo, "untouched"), versions=(1,), latest=1)
        e2e_models.write_broken_config(os.path.join(cls.repo, "broken"))
        for name, precision in (("voice-bf16", "bf16"), ("voice-fp8", "fp8")):
            shutil.copytree(os.path.join(EXAMPLES, "voice-verification-small"), os.path.join(cls.repo, name))
            config = os.path.join(cls.repo, name, "config.pbtxt")
            with open(config) as f:
                text = f.read().replace('name: "voice-verification-small"', f'name: "{name}"')
            with open(config, "w") as f:
                f.write(text + f'parameters {{ key: "precision" value: {{ string_value: "{precision}" }} }}\n')
        cls.server = Server(cls.repo, "--model-control-mode", "explicit", "--load-model", "simple")
        cls.server.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def test_load_and_unload(self):
        url = self.server.url
        self.assertEqual(requests.get(url + "/v2/models/versioned/ready").status_code, 404)
        r = requests.post(url + "/v2/repository/models/versioned/load", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(requests.get(url + "/v2/models/versioned/ready").status_code, 200)
        x = np.zeros((1, 4), dtype=np.float32)
        r = requests.post(url + "/v2/models/versioned/infer", json=infer_body([("x", "FP32", x)]))
        self.assertEqual(r.json()["outputs"][0]["data"], [2.0] * 4)
        r = requests.post(url + "/v2/repository/models/versioned/unload", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotEqual(requests.get(url + "/v2/models/versioned/ready").status_code, 200)
        index = {e["name"]: e for e in requests.post(url + "/v2/repository/index").json()}
        self.assertEqual(index["versioned"]["state"], "UNAVAILABLE")
        self.assertEqual(index["simple"]["state"], "READY")
        self.assertNotIn("state", index["untouched"])  # in the repository, never loaded

    def test_failed_load_names_the_field_and_leaves_others_serving(self):
        r = requests.post(self.server.url + "/v2/repository/models/broken/load", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 400)
        self.assertIn("no_such_field", r.json()["error"])
        self.assertEqual(requests.get(self.server.url + "/v2/models/simple/ready").status_code, 200)
        requests.post(self.server.url + "/v2/repository/models/broken/unload", timeout=REQUEST_TIMEOUT_S)

    def test_bf16_model_serves_within_rounding_and_bad_precision_is_refused(self):
        url = self.server.url
        r = requests.post(url + "/v2/repository/models/voice-bf16/load", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 200, r.text)
        ref_dir = os.path.join(SOURCE_DIR, "examples", "voice-verification", "reference", "small")
        x = np.load(os.path.join(ref_dir, "batch4_mfcc.npy"))
        expected = np.load(os.path.join(ref_dir, "batch4_score.npy"))
        r = requests.post(url + "/v2/models/voice-bf16/infer", json=infer_body([("mfcc", "FP32", x)]),
                          timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["datatype"], "FP32")
        got = np.array(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-2)  # docs/precision.md: measured 0.0035
        config = requests.get(url + "/v2/models/voice-bf16/config").json()
        self.assertEqual(config["parameters"]["precision"]["string_value"], "bf16")
        r = requests.post(url + "/v2/repository/models/voice-fp8/load", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 400)
        self.assertIn("precision", r.json()["error"])
        self.assertIn("fp32 or bf16", r.json()["error"])
        self.assertEqual(requests.get(url + "/v2/models/simple/ready").status_code, 200)
        for name in ("voice-bf16", "voice-fp8"):
            requests.post(url + f"/v2/repository/models/{name}/unload", timeout=REQUEST_TIMEOUT_S)

    def test_load_unknown_model(self):
        r = requests.post(self.server.url + "/v2/repository/models/nosuch/load", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 404)


class QueueTestCase(unittest.TestCase):
    """A slow model with one instance and a queue of two: 503 when full, 504 on timeout, SIGTERM drains."""

    def setUp(self):
        self.repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        e2e_models.write_slow(os.path.join(self.repo, "slow"), max_queue_size=2)
        self.server = Server(self.repo)
        self.server.wait_ready()
        self.body = infer_body([("x", "FP32", np.ones((1, e2e_models.SLOW_WIDTH), dtype=np.float32))])

    def tearDown(self):
        self.server.stop(signal.SIGKILL)
        shutil.rmtree(self.repo, ignore_errors=True)

    def infer(self, headers=None):
        return requests.post(self.server.url + "/v2/models/slow/infer", json=self.body, headers=headers or {},
                             timeout=REQUEST_TIMEOUT_S)

    def wait_for_queue_depth(self, depth):
        """Until the server's own gauge shows `depth` requests queued for the slow model (bounded)."""
        pattern = re.compile(r'^peregrine_queue_depth\{[^}]*model="slow"[^}]*\} (\S+)$', re.M)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            match = pattern.search(requests.get(self.server.url + "/metrics", timeout=REQUEST_TIMEOUT_S).text)
            if match and float(match.group(1)) >= depth:
                return
            self.assertLess(time.monotonic(), deadline, "requests never reached the queue")
            time.sleep(0.02)

    def test_queue_full_is_503_with_retry_after(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: self.infer(), range(8)))
        codes = sorted(r.status_code for r in results)
        self.assertIn(503, codes)
        self.assertGreaterEqual(codes.count(200), 3)  # one running and two queued at the least
        rejected = [r for r in results if r.status_code == 503][0]
        self.assertEqual(rejected.headers["Retry-After"], "1")
        self.assertIn("full", rejected.json()["error"])
        self.assertEqual(self.infer().status_code, 200)

    def test_timeout_in_queue_is_504(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            running = pool.submit(self.infer)
            time.sleep(0.1)  # the slow request now occupies the only instance
            start = time.monotonic()
            timed_out = self.infer({"Timeout": "50ms"})
            waited = time.monotonic() - start
            self.assertEqual(timed_out.status_code, 504, timed_out.text)
            self.assertLess(waited, e2e_models.SLOW_SECONDS_AT_LEAST)  # answered when it expired, not after
            self.assertEqual(running.result().status_code, 200)
        body = dict(self.body, parameters={"timeout": 1})  # Triton's parameter, microseconds
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            running = pool.submit(self.infer)
            time.sleep(0.1)
            r = requests.post(self.server.url + "/v2/models/slow/infer", json=body, timeout=REQUEST_TIMEOUT_S)
            self.assertEqual(r.status_code, 504)
            running.result()

    def test_sigterm_drains_in_flight_requests(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(self.infer) for _ in range(3)]
            self.wait_for_queue_depth(2)  # one running, two queued
            self.server.proc.send_signal(signal.SIGTERM)
            codes = [f.result().status_code for f in futures]
        self.assertEqual(codes, [200, 200, 200])
        self.assertEqual(self.server.proc.wait(timeout=60), 0)
        with self.assertRaises(requests.ConnectionError):
            requests.get(self.server.url + "/v2/health/live", timeout=5)


class PollModeTestCase(unittest.TestCase):
    def test_models_follow_the_repository(self):
        repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        try:
            shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(repo, "simple"))
            server = Server(repo, "--model-control-mode", "poll", "--repository-poll-secs", "1")
            try:
                server.wait_ready()
                e2e_models.write_versioned(os.path.join(repo, "added"), versions=(1,), latest=1)
                server.wait_ready("/v2/models/added/ready", timeout=30)
                shutil.rmtree(os.path.join(repo, "added"))
                deadline = time.monotonic() + 30
                while requests.get(server.url + "/v2/models/added/ready").status_code == 200:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.1)
                self.assertEqual(requests.get(server.url + "/v2/models/simple/ready").status_code, 200)
            finally:
                self.assertEqual(server.stop(), 0)
        finally:
            shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
