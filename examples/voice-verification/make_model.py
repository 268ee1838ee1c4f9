"""Build the voice-verification ResNet with seeded weights and export it to ONNX.

    /usr/bin/python3 make_model.py --variant full|small [--output PATH] [--seed S]

There is no trained checkpoint, so the weights are random but made numerically sane:
BatchNorm running statistics are calibrated on MFCC-like inputs (so every layer sees
roughly unit-scale activations, as in a trained net) and the final Linear layer is
rescaled so sigmoid scores spread over (0, 1) instead of saturating. Everything is
seeded and single-threaded, so the same seed gives a byte-identical ONNX file.
"""
import argparse
import os
import time

import onnx
import torch
from torch import nn

from model import VARIANTS, build, mfcc_like

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")
DEFAULT_OUTPUT = {"full": os.path.join(MODELS, "voice-verification", "1", "model.onnx"),
                  "small": os.path.join(MODELS, "voice-verification-small", "1", "model.onnx")}
OPSET = 14
CALIB_BATCHES, CALIB_SIZE = 4, 16
LOGIT_STD = 1.5  # target spread of the pre-sigmoid score over random inputs


def init_weights(model, gen):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            # He init (fan_out) as in torchvision; the BN calibration fixes the scale anyway.
            std = (2.0 / (m.out_channels * m.kernel_size[0] * m.kernel_size[1])) ** 0.5
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * std
        elif isinstance(m, nn.BatchNorm2d):
            # Non-trivial affine parameters so the folded Conv weights are not plain copies.
            m.weight.data = 0.5 + torch.rand(m.num_features, generator=gen)
            m.bias.data = 0.1 * torch.randn(m.num_features, generator=gen)
        elif isinstance(m, nn.Linear):
            m.weight.data = torch.randn(m.weight.shape, generator=gen) / m.in_features ** 0.5
            m.bias.data.zero_()
    # Residual branches end with a smaller gain, like trained ResNets, so the 36-block
    # stage does not grow its activations 6x through the skip sums.
    for block in model.stages:
        block.body[-1].weight.data *= 0.3


@torch.no_grad()
def calibrate_batchnorm(model, gen):
    """momentum=None makes running_mean/var the cumulative average of the batch statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for _ in range(CALIB_BATCHES):
        model(mfcc_like(CALIB_SIZE, gen))
    model.eval()


@torch.no_grad()
def calibrate_head(model, gen):
    """Scale/shift the final Linear so logits over random inputs have mean 0, std LOGIT_STD."""
    feats = model.pool(model.stages(model.stem(mfcc_like(CALIB_SIZE * 2, gen)))).flatten(1)
    z = feats @ model.fc.weight.t()
    model.fc.weight.mul_(LOGIT_STD / z.std())
    model.fc.bias.fill_(-(z.mean() * LOGIT_STD / z.std()).item())


def make(variant, seed=0):
    """The calibrated PyTorch model; reference.py rebuilds it through this function."""
    torch.set_num_threads(1)  # thread count changes float reduction order
    gen = torch.Generator().manual_seed(seed)
    model = build(variant)
    init_weights(model, gen)
    calibrate_batchnorm(model, gen)
    calibrate_head(model, gen)
    return model.eval()


def export(model, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model, mfcc_like(1, torch.Generator().manual_seed(0)), path,
                      opset_version=OPSET, do_constant_folding=True,
                      input_names=["mfcc"], output_names=["score"],
                      dynamic_axes={"mfcc": {0: "batch"}, "score": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="small")
    ap.add_argument("--output", help="default: examples/models/<name>/1/model.onnx")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    output = args.output or DEFAULT_OUTPUT[args.variant]

    t0 = time.time()
    model = make(args.variant, args.seed)
    with torch.no_grad():
        # Fresh inputs (another seed) to check the scores are spread, not saturated.
        scores = model(mfcc_like(32, torch.Generator().manual_seed(args.seed + 1000))).flatten()
    print(f"{args.variant}: {sum(p.numel() for p in model.parameters()):,} parameters; "
          f"scores on 32 random inputs: min {scores.min():.3f} max {scores.max():.3f} "
          f"mean {scores.mean():.3f} std {scores.std():.3f}")
    t1 = time.time()
    export(model, output)
    print(f"wrote {os.path.normpath(output)} ({os.path.getsize(output) / 1e6:.1f} MB); "
          f"build {t1 - t0:.1f}s, export {time.time() - t1:.1f}s")


if __name__ == "__main__":
    main()
