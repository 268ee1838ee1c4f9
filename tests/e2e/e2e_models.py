"""Small ONNX models and repository folders for the end-to-end server tests, written with the onnx helper."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The slow model: x [1, SLOW_WIDTH] expanded to SLOW_ROWS rows, then SLOW_LAYERS MatMuls with one shared
# [SLOW_WIDTH, SLOW_WIDTH] weight, then a sum over rows. About 2 * ROWS * WIDTH^2 * LAYERS flops,
# a few hundred milliseconds on one core (~50 GFLOP) - long enough to queue behind, on any machine this runs on.
SLOW_WIDTH = 512
SLOW_ROWS = 2048
SLOW_LAYERS = 48
SLOW_SECONDS_AT_LEAST = 0.1  # what every machine we run on takes at least (timing is never asserted upward)


def _save(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_versioned(model_dir, versions, latest, bad_warmup=False):
    """y = x + version for x FP32 [batch, 4]; config.pbtxt serves the `latest` highest versions.

    The config gives only the version policy (and a warm-up), so the rest is completed from the model.
    bad_warmup: the warm-up reads a file of the wrong size, so loading must fail."""
    for v in versions:
        _save(os.path.join(model_dir, str(v), "model.onnx"), [helper.make_node("Add", ["x", "c"], ["y"])],
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
              [numpy_helper.from_array(np.full((4,), v, dtype=np.float32), "c")])
    config = f"version_policy {{ latest {{ num_versions: {latest} }} }}\n"
    if bad_warmup:
        _write(os.path.join(model_dir, "warmup", "x.bin"), "too short")
        config += ('model_warmup { name: "from_file" batch_size: 1 inputs { key: "x" value { data_type: TYPE_FP32 '
                   'dims: [4] input_data_file: "x.bin" } } }\n')
    _write(os.path.join(model_dir, "config.pbtxt"), config)


def write_slow(model_dir, max_queue_size=0, warmup_count=0):
    """The slow model, one instance; a queue of `max_queue_size`; `warmup_count` random warm-up runs."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((SLOW_WIDTH, SLOW_WIDTH)) / np.sqrt(SLOW_WIDTH)).astype(np.float32)
    nodes = [helper.make_node("Expand", ["x", "rows"], ["h0"])]
    for i in range(SLOW_LAYERS):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"h{SLOW_LAYERS}", "axes"], ["y"], keepdims=1))
    _save(os.path.join(model_dir, "1", "model.onnx"), nodes,
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SLOW_WIDTH])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SLOW_WIDTH])],
          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([SLOW_ROWS, SLOW_WIDTH], np.int64), "rows"),
           numpy_helper.from_array(np.array([0], np.int64), "axes")])
    config = "max_batch_size: 0\ninstance_group { count: 1 kind: KIND_CPU }\n"
    if max_queue_size:
        config += f"queue_policy {{ max_queue_size: {max_queue_size} }}\n"
    if warmup_count:
        config += ('model_warmup { name: "random" batch_size: 1 count: %d inputs { key: "x" value { '
                   'data_type: TYPE_FP32 dims: [1, %d] random_data: true } } }\n' % (warmup_count, SLOW_WIDTH))
    _write(os.path.join(model_dir, "config.pbtxt"), config)


def write_broken_config(model_dir):
    """A valid model whose config.pbtxt has a field that does not exist."""
    write_versioned(model_dir, versions=(1,), latest=1)
    _write(os.path.join(model_dir, "config.pbtxt"), "max_batch_size: 4\nno_such_field: 1\n")
