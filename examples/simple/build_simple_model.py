"""Build Triton's classic `simple` example model as ONNX, with its config.pbtxt.

    /usr/bin/python3 examples/simple/build_simple_model.py

Inputs INPUT0, INPUT1: INT32 [batch, 16]. Outputs OUTPUT0 = INPUT0 + INPUT1 and OUTPUT1 = INPUT0 - INPUT1.
Triton's client examples (simple_http_infer_client and friends) and perf_analyzer's quick start use it.
The output is deterministic: running this again writes byte-identical files.
"""
import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(HERE, "..", "models", "simple")
OPSET = 13

CONFIG = """\
# Triton's `simple` example: two INT32 vectors in, their sum and difference out.
name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
instance_group [ { count: 1 kind: KIND_CPU } ]
"""


def build():
    def tensor(name):
        return helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", 16])

    graph = helper.make_graph(
        [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"], name="add"),
         helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"], name="sub")],
        "simple",
        [tensor("INPUT0"), tensor("INPUT1")],
        [tensor("OUTPUT0"), tensor("OUTPUT1")])
    model = helper.make_model(graph, producer_name="peregrine-examples",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 7  # readable by every ONNX runtime of the last years
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    os.makedirs(os.path.join(MODEL_DIR, "1"), exist_ok=True)
    path = os.path.join(MODEL_DIR, "1", "model.onnx")
    onnx.save(build(), path)
    with open(os.path.join(MODEL_DIR, "config.pbtxt"), "w") as f:
        f.write(CONFIG)
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes) and config.pbtxt")


if __name__ == "__main__":
    main()
