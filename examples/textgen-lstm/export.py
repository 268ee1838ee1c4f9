"""Export the trained checkpoint as the ONNX *step* model served by Peregrine.

    /usr/bin/python3 export.py

Graph interface (opset 14):
  token_ids int64   [batch, seq]        tokens to consume (whole prompt, or 1 token)
  h0, c0    float32 [2, batch, hidden]  LSTM state (zeros at the start of a text)
  -> logits float32 [batch, vocab]      next-token logits after the LAST position
     hn, cn float32 [2, batch, hidden]  state to pass to the next call
"""
import collections
import os

import onnx
import torch

from model import LAYERS, HIDDEN, StepModel, TextGenLSTM

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT = os.path.join(HERE, "checkpoint.pt")
OUTPUT = os.path.join(HERE, "..", "models", "textgen-lstm", "1", "model.onnx")
OPSET = 14  # the server's ONNX parser accepts opsets 7-17


def load_step_model():
    ckpt = torch.load(CHECKPOINT)
    lm = TextGenLSTM(ckpt["vocab_size"])
    lm.load_state_dict(ckpt["state_dict"])
    return StepModel(lm).eval()


def main():
    torch.set_num_threads(1)
    step = load_step_model()
    # Trace with batch 2 / seq 3 and a non-zero state so no size-1 dimension or zero
    # input can be mistaken for a constant; the axes are declared dynamic anyway.
    gen = torch.Generator().manual_seed(0)
    args = (torch.randint(3, step.lm.head.out_features, (2, 3), generator=gen),
            0.1 * torch.randn(LAYERS, 2, HIDDEN, generator=gen),
            0.1 * torch.randn(LAYERS, 2, HIDDEN, generator=gen))
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    torch.onnx.export(step, args, OUTPUT, opset_version=OPSET, do_constant_folding=True,
                      input_names=["token_ids", "h0", "c0"],
                      output_names=["logits", "hn", "cn"],
                      dynamic_axes={"token_ids": {0: "batch", 1: "seq"},
                                    "h0": {1: "batch"}, "c0": {1: "batch"},
                                    "logits": {0: "batch"},
                                    "hn": {1: "batch"}, "cn": {1: "batch"}})
    model = onnx.load(OUTPUT)
    onnx.checker.check_model(model)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    # The LSTM must stay a native ONNX LSTM node per layer, not an unrolled cell loop.
    assert ops["LSTM"] == LAYERS and "Loop" not in ops and "Scan" not in ops, ops
    print(f"wrote {os.path.normpath(OUTPUT)} ({os.path.getsize(OUTPUT) / 1e6:.2f} MB), "
          f"ops: {dict(sorted(ops.items()))}")


if __name__ == "__main__":
    main()
