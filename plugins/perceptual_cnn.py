"""Perceptual-loss CNN: Vangapelli and Kuppam (n.d.), a fully convolutional colourizer
trained on VGG16 features.

Santosh Vangapelli, Satya Kuppam, "Colour Image Synthesis using CNNs" (no year given).

What it follows:
- Network (Vangapelli and Kuppam): a fully convolutional encoder-decoder from L to ab. The
  encoder is 3x3 convolutions, each stage opened by a stride-2 one that halves
  the resolution; the decoder mirrors it with nearest-neighbour upsampling
  followed by 3x3 convolutions (no transposed convolutions, so no checkerboard
  artefacts). Every convolution but the last is followed by BatchNorm and ReLU;
  the last gives ab through tanh, in the shared normalised range.
- Loss (Vangapelli and Kuppam): a perceptual loss, not a per-pixel one. The predicted ab is
  joined with the input's L, converted (differentiably) to RGB, and compared
  with the ground-truth RGB on activations of a frozen ImageNet VGG16: a
  weighted sum over several layers of the mean squared difference
  (`colorbench.methods.perceptual`, which does VGG's ImageNet normalisation). The VGG
  is a loss network: it is built in `prepare_training`, it is not one of `nets`,
  and checkpoints and colourizing never need it.
- Saturation boost (the paper's optional post-processing): at prediction time ab
  is multiplied by ``saturation_boost`` and clamped back to [-1, 1]; in Lab this
  scales chroma and leaves hue and lightness alone, countering the washed-out
  colours a regression loss averages towards. Off (1.0) by default, so the
  benchmark scores the network itself; the paper's exact formulation could not
  be checked, so this one is ours.
- Deterministic: no noise, one colouring per input.

Defaults taken, and what changed and why:
- Layers relu1_2, relu2_2, relu3_3 and relu4_3, weighted 1, 1, 0.5, 1: on the
  built-in photos the four squared differences between a gray and a true
  colouring are of the same order (0.7, 1.8, 4.9, 2.1 per element), so the
  weights only halve relu3_3, the largest, and no layer dominates. Shallow
  layers carry colour and edges, relu4_3 the semantics that say which colour.
  The paper's weights could not be checked; these are ours.
- Width 32 doubling to 256 over 4 stride-2 stages (down to S/16): the
  colourizer then costs less than the VGG passes its loss needs, so a CPU run
  of a few minutes still takes ~150 steps; the paper's widths could not be
  checked.
- Optimiser: Adam with Kingma and Ba's defaults, learning rate 1e-3 and betas
  (0.9, 0.999). The GANs' lowered 2e-4 and beta1 0.5 are there to keep G and D
  in balance; a single BatchNorm-ed regression network has no adversary, and
  the default's larger steps suit the quick profile's short budget.
- Profiles: `smoke` (3 steps, batch 4: tests), `quick` (150 steps at batch 16
  and 64 px: about 150 s of training on two CPU cores, where a step costs about
  1.8 s of one core, three fifths of it in VGG16), `full` (100,000 steps at batch
  32 on a GPU: 64 epochs of CIFAR-10's 50,000 images; the paper's own budget
  could not be checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

import colorbench
from colorbench.methods.colorizer import Colorizer, TrainConfig
from colorbench.lab import normalized_to_rgb


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class EncoderDecoder(nn.Module):
    """L (B, 1, S, S) -> ab (B, 2, S, S) in [-1, 1]; S must be a multiple of 2^depth.

    Encoder: a 3x3 stem, then ``depth`` stages of a stride-2 3x3 convolution and
    a 3x3 one, widths doubling from ``width`` to at most ``8 width``. Decoder:
    ``depth`` stages of nearest-neighbour 2x upsampling and two 3x3
    convolutions, back to ``width``; a 3x3 convolution and tanh give ab.
    """

    def __init__(self, *, width: int = 32, depth: int = 4):
        super().__init__()
        widths = [width * min(2**i, 8) for i in range(depth + 1)]
        self.depth = depth
        encoder = _conv(1, widths[0])
        for i in range(depth):
            encoder += _conv(widths[i], widths[i + 1], stride=2) + _conv(widths[i + 1], widths[i + 1])
        decoder: list[nn.Module] = []
        for i in reversed(range(depth)):
            decoder += [nn.Upsample(scale_factor=2, mode="nearest")] + _conv(widths[i + 1], widths[i]) + _conv(widths[i], widths[i])
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)
        self.head = nn.Sequential(nn.Conv2d(widths[0], 2, 3, padding=1), nn.Tanh())

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        if L.shape[-1] % 2**self.depth or L.shape[-2] % 2**self.depth:
            raise ValueError(f"EncoderDecoder of depth {self.depth} needs sides divisible by {2**self.depth}, got {tuple(L.shape[-2:])}")
        return self.head(self.decoder(self.encoder(L)))


@dataclass
class PerceptualCNNConfig(TrainConfig):
    width: int = 32  # channels of the first stage, doubling per stage up to 8x
    depth: int = 4  # stride-2 stages: the bottleneck is S / 2^depth
    layer_weights: dict[str, float] = field(
        default_factory=lambda: {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 0.5, "relu4_3": 1.0}
    )  # VGG16 layer -> weight of its mean squared difference
    lr: float = 1e-3  # Adam (Kingma and Ba's default)
    beta1: float = 0.9
    beta2: float = 0.999
    saturation_boost: float = 1.0  # post-processing: ab *= boost, clamped to [-1, 1]; 1.0 = off


class PerceptualCNN(Colorizer):
    name = "perceptual_cnn"
    description = "Fully convolutional encoder-decoder (stride-2 down, nearest-neighbour up) trained on a VGG16 perceptual loss"
    paper = (
        'Santosh Vangapelli, Satya Kuppam, "Colour Image Synthesis using CNNs", n.d. '
        "(CNN colourizer with a VGG16 perceptual loss; optional saturation boost, off by default)"
    )
    stochastic = False
    Config = PerceptualCNNConfig
    profiles = {
        "smoke": dict(steps=3, batch_size=4),
        "quick": dict(steps=150, batch_size=16),
        "full": dict(steps=100_000, batch_size=32),
    }

    def build(self):
        return {"net": EncoderDecoder(width=self.config.width, depth=self.config.depth)}

    def prepare_training(self, data):
        from colorbench.methods.perceptual import PerceptualLoss

        self.vgg_loss = PerceptualLoss(self.config.layer_weights).to(self.device)  # a loss network, not one of `nets`

    def optimizers(self):
        c = self.config
        return {"net": torch.optim.Adam(self.nets["net"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2))}

    def perceptual_loss(self, L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
        """The weighted VGG16 feature loss between (L, ab_pred) and (L, ab_true) as RGB."""
        return self.vgg_loss(normalized_to_rgb(L, ab_pred), normalized_to_rgb(L, ab_true))

    def loss(self, L, ab):
        loss = self.perceptual_loss(L, self.nets["net"](L), ab)
        return loss, {"perceptual": loss}

    def predict(self, L, noise, reference=None):
        ab = self.nets["net"](L)
        boost = self.config.saturation_boost
        return ab if boost == 1.0 else (ab * boost).clamp(-1, 1)


@colorbench.hookimpl
def register_colorizers(register):
    register(PerceptualCNN)
