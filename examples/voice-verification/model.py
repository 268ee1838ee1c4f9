"""Voice-verification ResNet (seed 001): Bottleneck blocks over an MFCC "image".

Input  mfcc  [batch, 1, 40, 241]  (40 coefficients x 241 frames)
Output score [batch, 1]           sigmoid probability that the voice matches

The blocks follow torchvision's ResNet v1.5 Bottleneck (stride on the 3x3 conv) so the
ONNX graph is the familiar Conv/Relu/Add pattern once BatchNorm is folded into the convs.
"""
import torch
from torch import nn

EXPANSION = 4
VARIANTS = {
    # layers [8, 8, 36, 3] at width 64: ~58.5M parameters, ~234 MB of fp32 weights.
    "full": {"layers": (8, 8, 36, 3), "width": 64},
    # Same topology, one block per stage and a quarter of the width: a <1 MB test model.
    "small": {"layers": (1, 1, 1, 1), "width": 16},
}


def conv_bn(cin, cout, kernel, stride=1):
    return [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout)]


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        cout = mid * EXPANSION
        self.body = nn.Sequential(*conv_bn(cin, mid, 1), nn.ReLU(inplace=True),
                                  *conv_bn(mid, mid, 3, stride), nn.ReLU(inplace=True),
                                  *conv_bn(mid, cout, 1))
        # Projection shortcut only where the shape changes (first block of a stage).
        self.shortcut = (nn.Sequential(*conv_bn(cin, cout, 1, stride))
                         if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class VoiceResNet(nn.Module):
    def __init__(self, layers=(8, 8, 36, 3), width=64):
        super().__init__()
        # Stem as in torchvision but with 1 input channel (the MFCC matrix).
        self.stem = nn.Sequential(*conv_bn(1, width, 7, 2), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin = [], width
        for i, blocks in enumerate(layers):
            mid = width * 2 ** i
            for b in range(blocks):
                stages.append(Bottleneck(cin, mid, stride=2 if (b == 0 and i > 0) else 1))
                cin = mid * EXPANSION
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, 1)

    def forward(self, mfcc):
        x = self.pool(self.stages(self.stem(mfcc))).flatten(1)
        return self.fc(x).sigmoid()


def build(variant):
    return VoiceResNet(**VARIANTS[variant])


def mfcc_like(batch, generator):
    """Seeded random inputs with MFCC-like structure, for calibration and reference data.

    Unlike i.i.d. noise, each sample gets its own per-coefficient offset ("speaker
    profile") and gain, values are smooth along time, and magnitude falls with the
    coefficient index, so different samples produce clearly different scores."""
    coeffs, frames, smooth = 40, 241, 5
    noise = torch.randn(batch, 1, coeffs, frames + smooth - 1, generator=generator)
    # Moving average over 5 frames (scaled back to unit variance).
    x = noise.unfold(3, smooth, 1).mean(-1) * smooth ** 0.5
    x = x + 0.8 * torch.randn(batch, 1, coeffs, 1, generator=generator)
    x = x * torch.exp(0.3 * torch.randn(batch, 1, 1, 1, generator=generator))
    decay = 1.5 / (1 + torch.arange(coeffs, dtype=torch.float32) / 10)
    return x * decay.view(1, 1, coeffs, 1)
