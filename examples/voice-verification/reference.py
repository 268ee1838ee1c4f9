"""Write reference inputs and PyTorch outputs for the voice-verification model.

    /usr/bin/python3 reference.py --variant full|small [--model PATH] [--seed S]

Writes reference/<variant>/batch1_mfcc.npy, batch1_score.npy, batch4_mfcc.npy,
batch4_score.npy. The PyTorch model is rebuilt with make_model.make() (same seed ->
same weights); the ONNX file given by --model is checked to hold those weights by
comparing its final Gemm initializers, which BatchNorm folding leaves untouched.
"""
import argparse
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from make_model import DEFAULT_OUTPUT, make
from model import VARIANTS, mfcc_like

HERE = os.path.dirname(os.path.abspath(__file__))
INPUT_SEED = 2024  # distinct from the weight seed, so inputs are not calibration data


def check_onnx_matches(path, model):
    graph = onnx.load(path).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    gemm = [n for n in graph.node if n.op_type == "Gemm"]
    assert len(gemm) == 1, "expected exactly one Gemm (the final Linear)"
    weight, bias = inits[gemm[0].input[1]], inits[gemm[0].input[2]]
    if not (np.array_equal(weight, model.fc.weight.detach().numpy())
            and np.array_equal(bias, model.fc.bias.detach().numpy())):
        raise SystemExit(f"{path} was not made with this seed/variant; rerun make_model.py")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="small")
    ap.add_argument("--model", help="ONNX file to check against (default: make_model.py's output)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed given to make_model.py")
    ap.add_argument("--outdir", help="default: reference/<variant>")
    args = ap.parse_args()
    model_path = args.model or DEFAULT_OUTPUT[args.variant]
    outdir = args.outdir or os.path.join(HERE, "reference", args.variant)

    model = make(args.variant, args.seed)
    check_onnx_matches(model_path, model)
    os.makedirs(outdir, exist_ok=True)
    gen = torch.Generator().manual_seed(INPUT_SEED)
    for batch in (1, 4):
        mfcc = mfcc_like(batch, gen)
        with torch.no_grad():
            score = model(mfcc)
        np.save(os.path.join(outdir, f"batch{batch}_mfcc.npy"), mfcc.numpy())
        np.save(os.path.join(outdir, f"batch{batch}_score.npy"), score.numpy())
        print(f"batch {batch}: scores {score.flatten().numpy().round(4).tolist()}")
    print(f"wrote {os.path.normpath(outdir)}")


if __name__ == "__main__":
    main()
