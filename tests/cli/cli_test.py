#!/usr/bin/python3
"""Black-box tests of the `peregrine` command line: the real binary on real files.

Bad input must give one clear "error: ..." line on stderr naming the node or input, and a non-zero
exit that is not a signal; good input must give the right numbers. The models are written here with
the onnx helper; reference data comes from Debian's libonnx-testdata.

usage: PEREGRINE_BIN=build/x/src/cli/peregrine /usr/bin/python3 tests/cli/cli_test.py [-v]
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BIN = os.environ.get("PEREGRINE_BIN", "peregrine")
NODE_DATA = "/usr/share/libonnx-testdata/data/node"
CONV_TEST = os.path.join(NODE_DATA, "test_conv_with_strides_padding")
TIMEOUT_S = 120


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def save_model(path, nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, os.path.basename(path).split(".")[0], inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def pb_to_array(path):
    tensor = TensorProto()
    with open(path, "rb") as f:
        tensor.ParseFromString(f.read())
    return numpy_helper.to_array(tensor)


class CliTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="peregrine_cli_test_")
        d = cls.dir
        # y = Relu(x) with x fixed at [1, 3, 4].
        cls.relu = save_model(os.path.join(d, "relu.onnx"), [helper.make_node("Relu", ["x"], ["y"], name="relu")],
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4])])
        # NonMaxSuppression: valid ONNX that Peregrine has no kernel for.
        cls.nms = save_model(
            os.path.join(d, "nms.onnx"),
            [helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"], name="nms_node")],
            [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 6, 4]),
             helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 6])],
            [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])], opset=11)
        cls.fused = save_model(os.path.join(d, "conv_bn_relu.onnx"), *cls.conv_bn_relu_graph())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @staticmethod
    def conv_bn_relu_graph():
        rng = np.random.default_rng(0)
        inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
            ("w", rng.standard_normal((2, 2, 3, 3))), ("b", rng.standard_normal(2)), ("s", rng.standard_normal(2)),
            ("bb", rng.standard_normal(2)), ("m", rng.standard_normal(2)), ("v", np.ones(2))]]
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                 helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
                 helper.make_node("Relu", ["n"], ["y"], name="relu")]
        return (nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4, 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 4, 4])], inits)

    def path(self, name):
        return os.path.join(self.dir, name)

    def npy(self, name, array):
        path = self.path(name)
        np.save(path, array)
        return path

    def assertCleanError(self, result, *needles):
        """One "error: ..." line on stderr containing every needle; non-zero exit, not a signal."""
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertGreater(result.returncode, 0, "killed by a signal: " + result.stderr)
        self.assertLess(result.returncode, 128, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "expected one line on stderr, got:\n" + result.stderr)
        self.assertTrue(lines[0].startswith("error: "), lines[0])
        for needle in needles:
            self.assertIn(needle, lines[0])
        return lines[0]


class BadInputTest(CliTestCase):
    def test_truncated_model(self):
        with open(os.path.join(CONV_TEST, "model.onnx"), "rb") as f:
            data = f.read()
        path = self.path("truncated.onnx")
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assertCleanError(run("run", path, "--random"), "truncated.onnx")
        self.assertCleanError(run("inspect", path), "truncated.onnx")

    def test_not_an_onnx_file(self):
        for name, data in [("text.onnx", b"this is not a model\n"), ("png.onnx", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))]:
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(data)
            self.assertCleanError(run("run", path, "--random"), name)
            self.assertCleanError(run("inspect", path), name)

    def test_unsupported_op(self):
        line = self.assertCleanError(run("run", self.nms, "--random"), "NonMaxSuppression", "nms_node")
        self.assertIn("not supported", line)

    def test_missing_input(self):
        self.assertCleanError(run("run", self.relu), "missing input 'x'")

    def test_unknown_input_name(self):
        x = self.npy("x_ok.npy", np.zeros((1, 3, 4), np.float32))
        self.assertCleanError(run("run", self.relu, "--input", "z=" + x), "'z'")

    def test_wrong_dtype(self):
        x = self.npy("x_f64.npy", np.zeros((1, 3, 4), np.float64))
        self.assertCleanError(run("run", self.relu, "--input", "x=" + x), "input 'x'", "float32", "float64")

    def test_wrong_rank(self):
        x = self.npy("x_rank2.npy", np.zeros((3, 4), np.float32))
        self.assertCleanError(run("run", self.relu, "--input", "x=" + x), "input 'x'", "[3, 4]")

    def test_shape_contradicting_fixed_dims(self):
        x = self.npy("x_bad_dim.npy", np.zeros((1, 5, 4), np.float32))
        self.assertCleanError(run("run", self.relu, "--input", "x=" + x), "input 'x'", "[1, 3, 4]", "[1, 5, 4]")

    def test_missing_and_corrupt_npy(self):
        self.assertCleanError(run("run", self.relu, "--input", "x=" + self.path("nope.npy")), "nope.npy")
        bad = self.path("corrupt.npy")
        with open(bad, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00garbage")
        self.assertCleanError(run("run", self.relu, "--input", "x=" + bad), "corrupt.npy")

    def test_bad_dim_flag(self):
        self.assertCleanError(run("inspect", self.fused, "--dim", "batch"), "--dim", "'batch'")
        self.assertCleanError(run("inspect", self.fused, "--dim", "nosuch=3"), "'nosuch'", "batch")


class UsageTest(CliTestCase):
    def assertUsage(self, result):
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertTrue(result.stderr.startswith("error: "), result.stderr)
        self.assertIn("Usage:", result.stderr)

    def test_no_arguments(self):
        result = run()
        self.assertUsage(result)
        self.assertIn("run", result.stderr)
        self.assertIn("inspect", result.stderr)

    def test_bad_flags(self):
        self.assertUsage(run("--no-such-flag"))
        self.assertUsage(run("frobnicate"))
        self.assertUsage(run("run", self.relu, "--no-such-flag"))
        self.assertUsage(run("run", self.path("missing.onnx")))
        self.assertUsage(run("run", self.relu, "--threads", "many"))
        for command in ("run", "inspect"):
            result = run(command, self.relu, "--precision", "fp16")
            self.assertUsage(result)
            self.assertIn("expected fp32 or bf16", result.stderr)

    def test_version_and_help(self):
        result = run("--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout.strip(), r"^peregrine \d+\.\d+\.\d+")
        result = run("inspect", "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("--json", result.stdout)


class RunTest(CliTestCase):
    def conv_inputs(self):
        model = onnx.load(os.path.join(CONV_TEST, "model.onnx"))
        args = []
        for i, value in enumerate(model.graph.input):
            array = pb_to_array(os.path.join(CONV_TEST, "test_data_set_0", f"input_{i}.pb"))
            args += ["--input", f"{value.name}={self.npy(f'conv_in_{i}.npy', array)}"]
        return model, args

    def test_conv_output_matches_reference(self):
        model, args = self.conv_inputs()
        out_dir = self.path("conv_out")
        result = run("run", os.path.join(CONV_TEST, "model.onnx"), *args, "--output-dir", out_dir)
        self.assertEqual(result.returncode, 0, result.stderr)
        name = model.graph.output[0].name
        self.assertIn(name + ": float32 [1, 1, 4, 3]", result.stdout)
        expected = pb_to_array(os.path.join(CONV_TEST, "test_data_set_0", "output_0.pb"))
        actual = np.load(os.path.join(out_dir, name + ".npy"))
        self.assertEqual(actual.shape, expected.shape)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)

    def test_profile_has_one_event_per_step(self):
        _, args = self.conv_inputs()
        model_path = os.path.join(CONV_TEST, "model.onnx")
        trace = self.path("trace.json")
        result = run("run", model_path, *args, "--profile", trace)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(trace) as f:
            events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
        info = json.loads(run("inspect", model_path, "--json").stdout)
        self.assertTrue(info["plan"]["compiled"], info["plan"])
        self.assertEqual(len(events), info["plan"]["steps"])
        self.assertIn("Conv", [e["args"]["op_type"] for e in events])
        for e in events:
            self.assertTrue(e["name"])
            self.assertIn("[", e["args"]["shapes"])
            self.assertGreaterEqual(e["dur"], 0)

    def test_bf16_precision(self):
        """bf16 where the CPU has it (the timing line names what ran), float32 elsewhere; within bf16 rounding."""
        _, args = self.conv_inputs()
        model_path = os.path.join(CONV_TEST, "model.onnx")
        out_dir = self.path("conv_bf16")
        result = run("run", model_path, *args, "--precision", "bf16", "--output-dir", out_dir)
        self.assertEqual(result.returncode, 0, result.stderr)
        ran = re.search(r"threads, (fp32|bf16)\)", result.stdout)
        self.assertIsNotNone(ran, result.stdout)
        expected = pb_to_array(os.path.join(CONV_TEST, "test_data_set_0", "output_0.pb"))
        name = onnx.load(model_path).graph.output[0].name
        np.testing.assert_allclose(np.load(os.path.join(out_dir, name + ".npy")), expected, rtol=2e-2, atol=2e-2)
        plan = json.loads(run("inspect", model_path, "--precision", "bf16", "--json").stdout)["plan"]
        self.assertEqual(plan["bf16_steps"] > 0, ran.group(1) == "bf16", plan)
        self.assertEqual(json.loads(run("inspect", model_path, "--json").stdout)["plan"]["bf16_steps"], 0)

    def test_random_inputs_with_dims(self):
        result = run("run", self.fused, "--random", "--dim", "batch=3", "--repeat", "2")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("y: float32 [3, 2, 4, 4]", result.stdout)


class InspectTest(CliTestCase):
    def test_text_output(self):
        result = run("inspect", os.path.join(CONV_TEST, "model.onnx"))
        self.assertEqual(result.returncode, 0, result.stderr)
        for field in ["model:", "opset", "inputs:", "outputs:", "ops in file:", "optimised:", "parameters:",
                      "FLOPs:", "plan:", "arena", "steps", "reorders", "scratch"]:
            self.assertIn(field, result.stdout)

    def test_conv_flops_and_shapes(self):
        info = json.loads(run("inspect", os.path.join(CONV_TEST, "model.onnx"), "--json").stdout)
        self.assertEqual(info["inputs"][0]["shape"], [1, 1, 7, 5])
        self.assertEqual(info["ops_in_file"], {"Conv": 1})
        # Y [1, 1, 4, 3], 3x3 kernel, one input channel, no bias: 2 * 12 * 9.
        self.assertEqual(info["flops"]["total"], 216)
        self.assertEqual(info["unsupported"], [])

    def test_fusion_counts_dims_and_parameters(self):
        result = run("inspect", self.fused, "--json", "--dim", "batch=4")
        self.assertEqual(result.returncode, 0, result.stderr)
        info = json.loads(result.stdout)
        self.assertEqual(info["inputs"][0]["shape"], ["batch", 2, 4, 4])
        self.assertEqual(info["dims"], {"batch": 4})
        self.assertEqual(info["ops_in_file"], {"BatchNormalization": 1, "Conv": 1, "Relu": 1})
        self.assertEqual(info["ops_optimized"], {"Conv": 1})
        self.assertEqual(info["optimize"]["batchnorms_folded"], 1)
        self.assertEqual(info["optimize"]["activations_fused"], 1)
        self.assertEqual(info["parameters"], 36 + 5 * 2)
        self.assertEqual(info["parameter_bytes"], 4 * 46)
        # |Y| = 4*2*4*4 = 128: Conv 2*128*18 + 128 (bias), BatchNorm 128, Relu 128.
        self.assertEqual(info["flops"]["total"], 2 * 128 * 18 + 3 * 128)
        self.assertTrue(info["plan"]["compiled"], info["plan"])
        self.assertGreater(info["plan"]["arena_bytes"] + info["plan"]["steps"], 0)

    def test_unsupported_op_is_listed(self):
        result = run("inspect", self.nms, "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        info = json.loads(result.stdout)
        self.assertEqual(info["unsupported"], [{"op_type": "NonMaxSuppression", "node": "nms_node"}])
        self.assertFalse(info["plan"]["compiled"])
        self.assertIn("nms_node", info["plan"]["error"])
        text = run("inspect", self.nms).stdout
        self.assertIn("unsupported: NonMaxSuppression 'nms_node'", text)


if __name__ == "__main__":
    unittest.main()
