#!/usr/bin/python3
"""End-to-end tests of Triton's system shared memory extension in `peregrine serve`: POSIX shared-memory objects
made here with multiprocessing.shared_memory, registered over HTTP, and named in inference requests of the
`simple` example model (INT32 [-1, 16] INPUT0/INPUT1 -> OUTPUT0 = sum, OUTPUT1 = difference).

usage: PEREGRINE_BIN=build/release/src/cli/peregrine /usr/bin/python3 tests/e2e/shm_test.py [-v]
"""
import http.client
import json
import os
import shutil
import sys
import tempfile
import unittest
import uuid
from multiprocessing import shared_memory

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_test import EXAMPLES, REQUEST_TIMEOUT_S, Server, simple_inputs  # noqa: E402

ROW_BYTES = 16 * 4  # one [1, 16] INT32 row


class SharedMemoryTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="peregrine_repo_")
        shutil.copytree(os.path.join(EXAMPLES, "simple"), os.path.join(cls.repo, "simple"))
        cls.server = Server(cls.repo)
        cls.server.wait_ready()
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.repo, ignore_errors=True)

    def setUp(self):
        self.objects = []

    def tearDown(self):
        self.post("/v2/systemsharedmemory/unregister")
        for shm in self.objects:
            shm.close()
            shm.unlink()

    # ---- helpers ----

    def make_object(self, size):
        shm = shared_memory.SharedMemory(name="peregrine_e2e_" + uuid.uuid4().hex[:12], create=True, size=size)
        self.objects.append(shm)
        return shm, "/" + shm.name  # the POSIX key has the leading slash

    def post(self, path, body=None):
        return requests.post(self.url + path, json=body, timeout=REQUEST_TIMEOUT_S)

    def register(self, name, key, byte_size, offset=None):
        body = {"key": key, "byte_size": byte_size}
        if offset is not None:
            body["offset"] = offset
        return self.post(f"/v2/systemsharedmemory/region/{name}/register", body)

    def status(self, name=None):
        path = f"/v2/systemsharedmemory/region/{name}/status" if name else "/v2/systemsharedmemory/status"
        return requests.get(self.url + path, timeout=REQUEST_TIMEOUT_S)

    def infer(self, body):
        return self.post("/v2/models/simple/infer", body)

    @staticmethod
    def shm_tensor(name, region, byte_size, offset=None, shape=(1, 16), datatype="INT32"):
        params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
        if offset is not None:
            params["shared_memory_offset"] = offset
        return {"name": name, "datatype": datatype, "shape": list(shape), "parameters": params}

    @staticmethod
    def shm_output(name, region, byte_size, offset=None):
        params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
        if offset is not None:
            params["shared_memory_offset"] = offset
        return {"name": name, "parameters": params}

    def setup_io(self, batch=1):
        """Inputs at offsets 0 and 1 * size of region 'in', outputs in region 'out'; returns (a, b, in, out)."""
        a, b = simple_inputs(batch)
        size = a.nbytes
        shm_in, key_in = self.make_object(2 * size)
        shm_out, key_out = self.make_object(4096)
        shm_in.buf[:size] = a.tobytes()
        shm_in.buf[size:2 * size] = b.tobytes()
        self.assertEqual(self.register("in", key_in, 2 * size).status_code, 200)
        self.assertEqual(self.register("out", key_out, 2 * size + 100, offset=8).status_code, 200)
        return a, b, shm_in, shm_out

    def assert_error(self, response, fragments, status=400):
        self.assertEqual(response.status_code, status, response.text)
        message = response.json()["error"]
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assert_still_serving()

    def assert_still_serving(self):
        a, b = simple_inputs()
        body = {"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a.flatten().tolist()},
                           {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": b.flatten().tolist()}]}
        r = self.infer(body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["data"], (a + b).flatten().tolist())

    # ---- endpoints ----

    def test_server_metadata_lists_the_extension(self):
        meta = requests.get(self.url + "/v2", timeout=REQUEST_TIMEOUT_S).json()
        self.assertIn("system_shared_memory", meta["extensions"])
        self.assertNotIn("cuda_shared_memory", meta["extensions"])

    def test_register_status_unregister(self):
        _, key = self.make_object(8192)
        self.assertEqual(self.status().json(), [])
        r = self.register("r1", key, 4096)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.register("r2", key, 100, offset=5000).status_code, 200)
        self.assertEqual(self.status().json(), [{"name": "r1", "key": key, "offset": 0, "byte_size": 4096},
                                                {"name": "r2", "key": key, "offset": 5000, "byte_size": 100}])
        self.assertEqual(self.status("r2").json(), [{"name": "r2", "key": key, "offset": 5000, "byte_size": 100}])
        self.assertEqual(self.post("/v2/systemsharedmemory/region/r1/unregister").status_code, 200)
        self.assertEqual([r["name"] for r in self.status().json()], ["r2"])
        # Unregistering an unknown region is not an error (as in Triton).
        self.assertEqual(self.post("/v2/systemsharedmemory/region/r1/unregister").status_code, 200)
        self.assertEqual(self.post("/v2/systemsharedmemory/unregister").status_code, 200)
        self.assertEqual(self.status().json(), [])

    def test_register_errors(self):
        shm, key = self.make_object(4096)
        self.assert_error(self.register("r", "/peregrine_e2e_no_such_object", 64),
                          ["'r'", "/peregrine_e2e_no_such_object", "no such shared-memory object"])
        self.assert_error(self.register("r", key, 4097), ["'r'", "beyond the 4096 bytes"])
        self.assert_error(self.register("r", key, 100, offset=4000), ["'r'", "offset 4000"])
        self.assert_error(self.register("r", key, 0), ["'r'", "byte_size must be positive"])
        self.assert_error(self.register("r", "", 16), ["'r'", "key"])
        r = requests.post(self.url + "/v2/systemsharedmemory/region/r/register", data="{not json",
                          timeout=REQUEST_TIMEOUT_S)
        self.assert_error(r, ["'r'", "JSON object"])
        self.assert_error(self.post("/v2/systemsharedmemory/region/r/register", {"key": key}), ["\"byte_size\""])
        self.assert_error(self.post("/v2/systemsharedmemory/region/r/register", {"byte_size": 4}), ["\"key\""])
        self.assert_error(self.post("/v2/systemsharedmemory/region/r/register", {"key": key, "byte_size": -4}),
                          ["\"byte_size\""])
        self.assert_error(self.post("/v2/systemsharedmemory/register", {"key": key, "byte_size": 4}),
                          ["region name"])
        self.assertEqual(self.status().json(), [])  # nothing half-registered
        self.assertEqual(self.register("r", key, 16).status_code, 200)
        self.assert_error(self.register("r", key, 32), ["'r'", "already registered"])
        self.assertEqual(self.status("r").json()[0]["byte_size"], 16)
        self.assert_error(self.status("nope"), ["'nope'", "not registered"])
        self.assert_error(requests.get(self.url + "/v2/systemsharedmemory/region/r/register",
                                       timeout=REQUEST_TIMEOUT_S), ["use POST"])
        self.assert_error(self.post("/v2/systemsharedmemory/status"), ["use GET"])
        self.assert_error(requests.get(self.url + "/v2/systemsharedmemory/regions/r/status",
                                       timeout=REQUEST_TIMEOUT_S), ["no such endpoint"], status=404)

    def test_cuda_shared_memory_is_refused_clearly(self):
        r = self.post("/v2/cudasharedmemory/region/c/register",
                      {"raw_handle": {"b64": "AAAA"}, "device_id": 0, "byte_size": 64})
        self.assert_error(r, ["'c'", "CUDA shared memory is not supported by this server"])
        # As Triton without GPUs: no CUDA regions to list, and nothing to unregister.
        self.assertEqual(requests.get(self.url + "/v2/cudasharedmemory/status", timeout=REQUEST_TIMEOUT_S).json(), [])
        self.assertEqual(self.post("/v2/cudasharedmemory/unregister").status_code, 200)
        self.assert_error(requests.get(self.url + "/v2/cudasharedmemory/region/c/status", timeout=REQUEST_TIMEOUT_S),
                          ["CUDA shared memory is not supported by this server"])

    # ---- inference ----

    def test_inputs_and_outputs_in_shared_memory(self):
        a, b, shm_in, shm_out = self.setup_io(batch=2)
        size = a.nbytes
        body = {"inputs": [self.shm_tensor("INPUT0", "in", size, shape=(2, 16)),
                           self.shm_tensor("INPUT1", "in", size, offset=size, shape=(2, 16))],
                "outputs": [self.shm_output("OUTPUT0", "out", size),
                            self.shm_output("OUTPUT1", "out", size + 100, offset=size)]}
        r = self.infer(body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("Inference-Header-Content-Length", r.headers)
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        self.assertEqual(outputs["OUTPUT0"], {"name": "OUTPUT0", "datatype": "INT32", "shape": [2, 16], "parameters": {
            "shared_memory_region": "out", "shared_memory_byte_size": size}})
        self.assertEqual(outputs["OUTPUT1"]["parameters"], {"shared_memory_region": "out",
                                                            "shared_memory_byte_size": size,
                                                            "shared_memory_offset": size})
        self.assertNotIn("data", outputs["OUTPUT1"])
        # Region 'out' starts at byte 8 of its object.
        got0 = np.frombuffer(bytes(shm_out.buf[8:8 + size]), dtype=np.int32).reshape(2, 16)
        got1 = np.frombuffer(bytes(shm_out.buf[8 + size:8 + 2 * size]), dtype=np.int32).reshape(2, 16)
        np.testing.assert_array_equal(got0, a + b)
        np.testing.assert_array_equal(got1, a - b)

        # The server reads the region on every request: new contents, new results.
        shm_in.buf[:size] = (a * 10).tobytes()
        self.assertEqual(self.infer(body).status_code, 200)
        got0 = np.frombuffer(bytes(shm_out.buf[8:8 + size]), dtype=np.int32).reshape(2, 16)
        np.testing.assert_array_equal(got0, a * 10 + b)

    def test_mixed_with_json_and_binary_tensors(self):
        a, b, _, shm_out = self.setup_io()
        # INPUT0 from shared memory, INPUT1 as binary data; OUTPUT0 into shared memory, OUTPUT1 as JSON.
        header = {"inputs": [self.shm_tensor("INPUT0", "in", ROW_BYTES),
                             {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                              "parameters": {"binary_data_size": ROW_BYTES}}],
                  "outputs": [self.shm_output("OUTPUT0", "out", ROW_BYTES, offset=4), {"name": "OUTPUT1"}]}
        head = json.dumps(header).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=REQUEST_TIMEOUT_S)
        other = np.full((1, 16), 100, dtype=np.int32)
        conn.request("POST", "/v2/models/simple/infer", head + other.tobytes(),
                     {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        self.assertEqual(r.status, 200, data)
        outputs = {o["name"]: o for o in json.loads(data)["outputs"]}
        np.testing.assert_array_equal(outputs["OUTPUT1"]["data"], (a - other).flatten())
        got0 = np.frombuffer(bytes(shm_out.buf[12:12 + ROW_BYTES]), dtype=np.int32)
        np.testing.assert_array_equal(got0, (a + other).flatten())

    def test_reregistering_a_name_switches_objects(self):
        a, b, _, _ = self.setup_io()
        other, other_key = self.make_object(2 * ROW_BYTES)
        other.buf[:ROW_BYTES] = np.full(16, 7, dtype=np.int32).tobytes()
        other.buf[ROW_BYTES:2 * ROW_BYTES] = np.full(16, 2, dtype=np.int32).tobytes()
        body = {"inputs": [self.shm_tensor("INPUT0", "in", ROW_BYTES),
                           self.shm_tensor("INPUT1", "in", ROW_BYTES, offset=ROW_BYTES)],
                "outputs": [{"name": "OUTPUT0"}]}
        self.assertEqual(self.infer(body).json()["outputs"][0]["data"], (a + b).flatten().tolist())
        self.assertEqual(self.post("/v2/systemsharedmemory/region/in/unregister").status_code, 200)
        self.assert_error(self.infer(body), ["input 'INPUT0'", "'in'", "not registered"])
        self.assertEqual(self.register("in", other_key, 2 * ROW_BYTES).status_code, 200)
        self.assertEqual(self.infer(body).json()["outputs"][0]["data"], [9] * 16)

    def test_inference_errors_name_the_tensor(self):
        a, b, _, _ = self.setup_io()
        good0 = self.shm_tensor("INPUT0", "in", ROW_BYTES)
        good1 = self.shm_tensor("INPUT1", "in", ROW_BYTES, offset=ROW_BYTES)

        def body(input0=good0, outputs=None):
            b = {"inputs": [input0, good1]}
            if outputs is not None:
                b["outputs"] = outputs
            return b

        cases = [
            (self.shm_tensor("INPUT0", "nope", ROW_BYTES), ["input 'INPUT0'", "'nope'", "not registered"]),
            (self.shm_tensor("INPUT0", "in", ROW_BYTES - 4), ["input 'INPUT0'", "shared_memory_byte_size 60",
                                                              "does not match shape [1, 16]"]),
            (self.shm_tensor("INPUT0", "in", ROW_BYTES, offset=ROW_BYTES + 4), ["input 'INPUT0'", "runs past its end"]),
            (self.shm_tensor("INPUT0", "in", ROW_BYTES, shape=(2, 16)), ["input 'INPUT0'", "does not match"]),
            ({"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
              "parameters": {"shared_memory_region": "in"}}, ["input 'INPUT0'", "shared_memory_byte_size"]),
            ({"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
              "parameters": {"shared_memory_byte_size": ROW_BYTES}}, ["input 'INPUT0'", "shared_memory_region"]),
            ({"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a.flatten().tolist(),
              "parameters": {"shared_memory_region": "in", "shared_memory_byte_size": ROW_BYTES}},
             ["input 'INPUT0'", "both"]),
            ({"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
              "parameters": {"shared_memory_region": "in", "shared_memory_byte_size": "64"}},
             ["input 'INPUT0'", "non-negative integer"]),
        ]
        for input0, fragments in cases:
            with self.subTest(input0=input0):
                self.assert_error(self.infer(body(input0)), fragments)
        # Outputs: checked before inference (region, range), and the result's size after it.
        self.assert_error(self.infer(body(outputs=[self.shm_output("OUTPUT0", "nope", ROW_BYTES)])),
                          ["output 'OUTPUT0'", "'nope'", "not registered"])
        past_end = self.shm_output("OUTPUT0", "out", ROW_BYTES, offset=4 * ROW_BYTES)
        self.assert_error(self.infer(body(outputs=[past_end])), ["output 'OUTPUT0'", "runs past its end"])
        self.assert_error(self.infer(body(outputs=[self.shm_output("OUTPUT1", "out", ROW_BYTES - 1)])),
                          ["output 'OUTPUT1'", "too small", "64 bytes"])
        out = self.shm_output("OUTPUT0", "out", ROW_BYTES)
        out["parameters"]["binary_data"] = True
        self.assert_error(self.infer(body(outputs=[out])), ["output 'OUTPUT0'", "exclude each other"])
        # Model validation still applies to shared-memory inputs.
        wrong_type = self.shm_tensor("INPUT0", "in", ROW_BYTES, datatype="FP32")
        self.assert_error(self.infer(body(wrong_type)), ["INPUT0"])


if __name__ == "__main__":
    unittest.main()
