#!/usr/bin/python3
"""Writes the hand-made seeds of fuzz/corpus/: small models with initializers and the patterns the
optimiser rewrites (Conv+BatchNorm+Relu+Add, Gemm+Sigmoid, a symbolic batch dimension). The other
seeds are copied from Debian's libonnx-testdata (see fuzz/README.md)."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def init(name, shape, seed):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def conv_bn_relu_add():
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "x"], ["y"], name="residual"),
    ]
    inits = [init("w", [2, 2, 3, 3], 1), init("b", [2], 2), init("s", [2], 3), init("bb", [2], 4),
             init("m", [2], 5), numpy_helper.from_array(np.ones(2, np.float32), "v")]
    graph = helper.make_graph(nodes, "conv_bn_relu_add",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 4, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def gemm_sigmoid_reshape():
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], name="fc", transB=1),
        helper.make_node("Sigmoid", ["g"], ["s"], name="act"),
        helper.make_node("Reshape", ["s", "shape"], ["y"], name="reshape"),
    ]
    inits = [init("w", [6, 4], 6), init("b", [6], 7),
             numpy_helper.from_array(np.array([-1, 2, 3], np.int64), "shape")]
    graph = helper.make_graph(nodes, "gemm_sigmoid_reshape",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("seed_conv_bn_relu_add", conv_bn_relu_add), ("seed_gemm_sigmoid_reshape", gemm_sigmoid_reshape)]:
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(make().SerializeToString())
