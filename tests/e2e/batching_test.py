#!/usr/bin/python3
"""End-to-end tests of dynamic batching and the voice-verification service's decision output: the real
`peregrine serve` on 127.0.0.1 with examples/models/voice-verification-small (its committed config: a
tuned dynamic batcher and decision_threshold 0.5), driven by concurrent HTTP clients.

usage: PEREGRINE_BIN=build/release/src/cli/peregrine /usr/bin/python3 tests/e2e/batching_test.py [-v]
"""
import concurrent.futures
import os
import re
import shutil
import sys
import tempfile
import unittest

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_test import EXAMPLES, REQUEST_TIMEOUT_S, SOURCE_DIR, Server, infer_body  # noqa: E402

VOICE = "voice-verification-small"
# A copy whose batcher waits (up to 60 s) until exactly 8 rows are queued: a batch that forms by count
# alone, so the test knows which requests shared an engine call without relying on timing.
BATCH8 = "voice-batch8"
REFERENCE = os.path.join(SOURCE_DIR, "examples", "voice-verification", "reference", "small")


def mfcc_inputs(count, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 1, 40, 241)).astype(np.float32) for _ in range(count)]


class BatchingTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_batching_")
        shutil.copytree(os.path.join(EXAMPLES, VOICE), os.path.join(cls.repo, VOICE))
        batch8 = os.path.join(cls.repo, BATCH8)
        shutil.copytree(os.path.join(EXAMPLES, VOICE), batch8)
        with open(os.path.join(batch8, "config.pbtxt")) as f:
            config = f.read()
        config = config.replace(f'name: "{VOICE}"', f'name: "{BATCH8}"')
        config, n = re.subn(r"dynamic_batching \{.*?\n\}", "dynamic_batching {\n  preferred_batch_size: [ 8 ]\n"
                            "  max_queue_delay_microseconds: 60000000\n}", config, flags=re.S)
        assert n == 1, "the example config has no dynamic_batching block"
        with open(os.path.join(batch8, "config.pbtxt"), "w") as f:
            f.write(config)
        cls.server = Server(cls.repo, "--http-threads", "4")
        cls.server.wait_ready()
        cls.url = cls.server.url
        cls.session = requests.Session()

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.assert_stopped_cleanly(cls.server.stop())
        shutil.rmtree(cls.repo, ignore_errors=True)

    @staticmethod
    def assert_stopped_cleanly(code):
        assert code == 0, f"server exited with {code}"

    def infer(self, x, model=VOICE, outputs=None, session=None, **parameters):
        body = infer_body([("mfcc", "FP32", x)], outputs=outputs, **parameters)
        return (session or self.session).post(f"{self.url}/v2/models/{model}/infer", json=body,
                                              timeout=REQUEST_TIMEOUT_S)

    def infer_alone(self, x, model):
        """From a thread: its own connection (a requests.Session is not thread-safe)."""
        with requests.Session() as session:
            return self.infer(x, model, session=session)

    def outputs_of(self, response):
        self.assertEqual(response.status_code, 200, response.text)
        return {o["name"]: o for o in response.json()["outputs"]}

    def stats(self, model):
        r = self.session.get(f"{self.url}/v2/models/{model}/stats", timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(r.status_code, 200, r.text)
        s = r.json()["model_stats"][0]
        return s["inference_count"], s["execution_count"]

    # ---- the decision output ----

    def test_metadata_and_config_list_the_decision_output(self):
        meta = self.session.get(f"{self.url}/v2/models/{VOICE}", timeout=REQUEST_TIMEOUT_S).json()
        self.assertEqual([(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]],
                         [("score", "FP32", [-1, 1]), ("decision", "BOOL", [-1, 1])])
        config = self.session.get(f"{self.url}/v2/models/{VOICE}/config", timeout=REQUEST_TIMEOUT_S).json()
        self.assertEqual([(o["name"], o["data_type"]) for o in config["output"]],
                         [("score", "TYPE_FP32"), ("decision", "TYPE_BOOL")])
        self.assertEqual(config["parameters"]["decision_threshold"]["string_value"], "0.5")
        self.assertEqual(config["dynamic_batching"]["preferred_batch_size"], [4, 8])

    def test_decision_is_score_at_least_the_model_threshold(self):
        x = np.load(os.path.join(REFERENCE, "batch4_mfcc.npy"))
        expected = np.load(os.path.join(REFERENCE, "batch4_score.npy"))
        out = self.outputs_of(self.infer(x))
        self.assertEqual(list(out), ["score", "decision"])
        score = np.array(out["score"]["data"], dtype=np.float32).reshape(expected.shape)
        np.testing.assert_allclose(score, expected, atol=1e-5)
        self.assertEqual(out["decision"]["datatype"], "BOOL")
        self.assertEqual(out["decision"]["shape"], [4, 1])
        self.assertEqual(out["decision"]["data"], [bool(s >= 0.5) for s in score.flatten()])

    def test_request_parameter_overrides_the_threshold(self):
        x = np.load(os.path.join(REFERENCE, "batch4_mfcc.npy"))
        score = np.array(self.outputs_of(self.infer(x))["score"]["data"])
        self.assertGreater(score.max() - score.min(), 1e-3, "the reference scores should differ")
        middle = float(np.median(score))
        for threshold in (0.0, middle, 1.0, 2):  # 2: an integer parameter
            out = self.outputs_of(self.infer(x, decision_threshold=threshold))
            self.assertEqual(out["decision"]["data"], [bool(s >= threshold) for s in score], threshold)
        mixed = self.outputs_of(self.infer(x, decision_threshold=middle))["decision"]["data"]
        self.assertIn(True, mixed)
        self.assertIn(False, mixed)

    def test_only_the_decision_can_be_requested(self):
        x = mfcc_inputs(1, seed=3)[0]
        out = self.outputs_of(self.infer(x, outputs=["decision"]))
        self.assertEqual(list(out), ["decision"])
        self.assertIsInstance(out["decision"]["data"][0], bool)

    def test_bad_threshold_parameter_is_400_naming_it(self):
        x = mfcc_inputs(1, seed=4)[0]
        for bad in ("high", True):
            r = self.infer(x, decision_threshold=bad)
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("decision_threshold", r.json()["error"])

    # ---- batching ----

    def test_eight_concurrent_requests_share_one_engine_call_and_get_their_own_answers(self):
        xs = mfcc_inputs(8, seed=5)
        # Unbatched answers first: one request at a time, one engine call each (the batcher of the
        # example config sends a lone request after 0.5 ms).
        alone = [np.array(self.outputs_of(self.infer(x))["score"]["data"]) for x in xs]
        inferences, executions = self.stats(BATCH8)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            batched = [self.outputs_of(f.result()) for f in [pool.submit(self.infer_alone, x, BATCH8) for x in xs]]
        self.assertEqual(self.stats(BATCH8), (inferences + 8, executions + 1),
                         "8 single-row requests should have run as one engine call")
        for i, (out, want) in enumerate(zip(batched, alone)):
            np.testing.assert_allclose(out["score"]["data"], want, atol=1e-5, err_msg=f"request {i}")
            self.assertEqual(out["decision"]["data"], [bool(s >= 0.5) for s in out["score"]["data"]])
        self.assertGreater(np.ptp(np.concatenate(alone)), 1e-3, "the answers should differ between requests")

    def test_concurrent_clients_all_succeed_with_their_own_answers(self):
        xs = mfcc_inputs(16, seed=6)
        alone = [np.array(self.outputs_of(self.infer(x))["score"]["data"]) for x in xs]
        inferences, executions = self.stats(VOICE)
        clients, per_client = 32, 8

        def client(c):
            answers = []
            with requests.Session() as session:
                for i in range(per_client):
                    k = (c * per_client + i) % len(xs)
                    r = self.infer(xs[k], session=session, decision_threshold=0.25 + 0.5 * (k % 2))
                    answers.append((k, r.status_code, r.json()))
            return answers

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            answers = [a for f in [pool.submit(client, c) for c in range(clients)] for a in f.result()]
        self.assertEqual(len(answers), clients * per_client)
        for k, status, body in answers:
            self.assertEqual(status, 200, body)
            out = {o["name"]: o for o in body["outputs"]}
            np.testing.assert_allclose(out["score"]["data"], alone[k], atol=1e-5, err_msg=f"input {k}")
            threshold = 0.25 + 0.5 * (k % 2)
            self.assertEqual(out["decision"]["data"], [bool(s >= threshold) for s in out["score"]["data"]])
        after_inferences, after_executions = self.stats(VOICE)
        self.assertEqual(after_inferences - inferences, clients * per_client)
        # Fewer engine calls than requests is what batching is for; not asserted (it depends on timing),
        # but reported.
        print(f"\n{clients * per_client} requests from {clients} clients ran in "
              f"{after_executions - executions} engine calls", file=sys.stderr)

    def test_metrics_count_rows_per_engine_call(self):
        xs = mfcc_inputs(8, seed=7)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for f in [pool.submit(self.infer_alone, x, BATCH8) for x in xs]:
                self.assertEqual(f.result().status_code, 200)
        text = self.session.get(f"{self.url}/metrics", timeout=REQUEST_TIMEOUT_S).text
        labels = f'model="{BATCH8}",version="1"'
        # One engine call of 8 rows: it falls in the le="8" bucket, not in le="4".
        le4 = re.search(r'peregrine_batch_rows_bucket\{' + labels + r',le="4"\} (\d+)', text)
        le8 = re.search(r'peregrine_batch_rows_bucket\{' + labels + r',le="8"\} (\d+)', text)
        self.assertIsNotNone(le8, text)
        self.assertGreaterEqual(int(le8.group(1)) - int(le4.group(1)), 1)

    def test_load_log_states_instances_threads_and_batching(self):
        log = self.server.log()
        self.assertRegex(log, rf"model '{VOICE}' version 1: 1 instance x 1 intra-op thread on \d+ cores? "
                              r"\(--threads-per-instance\)")
        self.assertIn("dynamic batching up to 8 rows, preferred [4, 8], max queue delay 500 us, "
                      "plans warmed for batch sizes [1, 4, 8]", log)
        self.assertIn("derived output 'decision'", log)


if __name__ == "__main__":
    unittest.main()
