"""Colour as classification: Richard Zhang, Phillip Isola, Alexei A. Efros, "Colorful Image
Colorization", ECCV 2016.

A CNN maps L to a distribution over Q = 313 quantised ab colours at each pixel, trained by a
class-rebalanced multinomial cross-entropy against soft-encoded targets, and read out by the
annealed mean. The field's reference method: colourization papers compare against it.

| the paper says (section, short quote) | colorbench does | why |
|---|---|---|
| §2.1: "We quantize the ab output space into bins with grid size 10 and keep the Q = 313 values which are in-gamut" | bins on the 10-unit ab grid: the corners of every grid square that holds an sRGB colour (309 in colorbench's Lab), plus the 4 further bins of the authors' `pts_in_hull.npy`: Q = 313, in the published order (`colorbench.methods.ab_classes`) | the paper does not say how "in-gamut" was decided: the bins whose own square holds an sRGB colour are only 262; covering every sRGB colour with a square of bins gives 309, all in the published set, whose 4 others lie 11 to 13 units outside sRGB and match no tolerance; they are added by name so Q and class q are the paper's |
| §2.1: "we find the 5-nearest neighbors to Y_{h,w} in the output space and weight them proportionally to their distance from the ground truth using a Gaussian kernel with σ = 5" | the 5 nearest bins, weights exp(-d²/50), normalised to sum 1 | same (the authors' training layer uses 10 neighbours; we follow the paper) |
| §2.1, Eq. 2: L_cl = -Σ_{h,w} v(Z_{h,w}) Σ_q Z_{h,w,q} log Ẑ_{h,w,q} | that sum, divided by the pixels in the batch | the mean keeps the scale of the loss (and of the learning rate) independent of batch and size |
| §2.2, Eq. 3: v(Z_{h,w}) = w_{q*}, q* = argmax_q Z_{h,w,q} | the weight of the nearest bin (the soft target's largest) | same |
| §2.2, Eq. 4: w ∝ ((1 − λ) p̃ + λ/Q)^-1, E[w] = Σ_q p̃_q w_q = 1; λ = 1/2, σ = 5 | same, from the training data's colours: p̃ is their distribution over the bins, each pixel counted at its nearest bin, smoothed by a Gaussian kernel of σ = 5 ab units between bin centres | the paper's p̃ is ImageNet's; colorbench measures it on whatever it trains on (`prepare_training`, up to 2,048 training images), and keeps it in the checkpoint |
| §2.3 (Eq. 5): H(Z) = E[f_T(Z)], f_T(z) = exp(log(z)/T) / Σ_q exp(log(z_q)/T); "T = 0.38" | the annealed mean, softmax(logits / T) times the bin centres | same: f_T(softmax(x)) = softmax(x/T) |
| Fig. 2 and its caption: 8 conv blocks of 2 or 3 "conv and ReLU layers, followed by a BatchNorm layer", no pooling; dilated conv5 and conv6 | `full`: conv1-conv8 of 64, 128, 256, 512, 512, 512, 512, 256 channels (2, 2, 3, 3, 3, 3, 3, 3 layers), 3x3; stride 2 at the last layer of conv1-conv3; dilation 2 in conv5 and conv6; BatchNorm after conv1-conv7; conv8 opens with a 4x4 stride-2 transposed convolution; a 1x1 convolution to 313 logits at 1/4 of the input's size | same layout as the authors' released model (their `eccv16`), which fills in what the figure leaves out (kernel sizes, the transposed convolution) |
| (the ground truth at the output's resolution) | ab of every 4th pixel in each direction | the authors' training network subsamples ab by 4 (`data_ab_ss`, a stride-4 1x1 convolution) |
| (from 1/4 resolution to the image) | the annealed mean's ab, upsampled 4x bilinearly, joined with the input's L | as the authors' released model |
| (the L given to the network) | (L − 50) / 100 | as the authors' code; colorbench's normalised L halved |
| training: Adam, β = (0.9, 0.99), weight decay 10^-3; learning rate 3·10^-5, dropped to 10^-5 and 3·10^-6 at 200k and 375k of about 450k iterations; ImageNet's 1.3M training images | Adam with those betas and (L2) weight decay; the three rates over 200 : 175 : 75 shares of the steps; `full`: 450,000 steps at batch 40 | batch 40 is the authors' training file's; the rates fall where the paper's loss plateaued, as shares of any run |
| (noise) | none: one colouring per input | same |

Profiles: `smoke` (tests). `quick`: the same network with an eighth of the channels (8 ... 32),
the paper's loss and decoding, 300 steps at batch 40 at 64 px on builtin, and learning rate 1e-3
instead of 3e-5 (then 3.3e-4, 1e-4 on the same schedule): after 300 steps the training loss is
3.7 at the paper's rates, 2.3 at these. `full`: the paper's network and schedule, 450,000 steps of batch 40:
``--profile full --size 256 --dataset folder:PATH`` with ImageNet's training images.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.lab import AB_SCALE, rgb_to_normalized
from colorbench.methods import ab_classes
from colorbench.methods.colorizer import Colorizer, TrainConfig

PRIOR_IMAGES = 2048  # training images the colour distribution is measured on (evenly spaced)
STRIDED_BLOCKS = 3  # conv1-conv3 halve the size: the logits are at 1/4 after conv8's doubling


class ColorizationNet(nn.Module):
    """L (B, 1, S, S) -> class logits (B, Q, S/4, S/4): conv1-conv8 as the paper's Fig. 2.

    ``widths`` and ``layers`` give each block's channels and 3x3 convolutions (each with ReLU);
    conv1-conv3 end with stride 2, conv5 and conv6 are dilated by 2, conv1-conv7 end with
    BatchNorm, conv8 starts with a 4x4 stride-2 transposed convolution, and a 1x1 convolution
    gives the ``classes`` logits."""

    DILATIONS = (1, 1, 1, 1, 2, 2, 1, 1)

    def __init__(self, *, widths, layers, classes: int):
        super().__init__()
        if len(widths) != 8 or len(layers) != 8 or min(widths) < 1 or min(layers) < 1:
            raise ValueError(f"widths {tuple(widths)} and layers {tuple(layers)}: 8 blocks (conv1-conv8), each at least 1 layer of 1 channel")
        blocks, cin = [], 1
        for i, (width, n, dilation) in enumerate(zip(widths, layers, self.DILATIONS)):
            block: list[nn.Module] = []
            for j in range(n):
                if i == 7 and j == 0:  # conv8 doubles the size back to 1/4
                    block += [nn.ConvTranspose2d(cin, width, 4, stride=2, padding=1), nn.ReLU()]
                else:
                    stride = 2 if i < STRIDED_BLOCKS and j == n - 1 else 1
                    block += [nn.Conv2d(cin, width, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU()]
                cin = width
            if i < 7:
                block.append(nn.BatchNorm2d(width))
            blocks.append(nn.Sequential(*block))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, classes, 1)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        if L.shape[-1] % 8 or L.shape[-2] % 8:
            raise ValueError(f"the network halves its input 3 times: sides must be multiples of 8, got {tuple(L.shape[-2:])}")
        return self.head(self.blocks(L / 2))  # colorbench's L / 2 = (L - 50) / 100, the authors' input


@dataclass
class ZhangConfig(TrainConfig):
    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 256)  # conv1-conv8 (Fig. 2)
    layers: tuple[int, ...] = (2, 2, 3, 3, 3, 3, 3, 3)  # 3x3 convolutions in each block
    neighbours: int = 5  # soft encoding: nearest bins (§2.1)...
    sigma: float = 5.0  # ...weighted by a Gaussian of this width (ab units)
    prior_sigma: float = 5.0  # smoothing of the training data's colour distribution (Eq. 4)
    rebalance: float = 0.5  # λ, the uniform distribution's share (Eq. 4); 0: weights 1/p̃; 1: no rebalancing
    temperature: float = 0.38  # T of the annealed mean (Eq. 5)
    lrs: tuple[float, ...] = (3e-5, 1e-5, 3e-6)  # Adam's learning rate in turn...
    lr_iterations: tuple[int, ...] = (200_000, 375_000, 450_000)  # ...until these of the paper's iterations
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-3

    def __post_init__(self):
        if len(self.lrs) != len(self.lr_iterations) or list(self.lr_iterations) != sorted(set(self.lr_iterations)) or self.lr_iterations[0] <= 0:
            raise ValueError(f"lrs {tuple(self.lrs)}, lr_iterations {tuple(self.lr_iterations)}: one rate per increasing end iteration")
        if any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs {tuple(self.lrs)}: positive rates")
        if not 0 <= self.rebalance <= 1 or self.temperature <= 0 or self.sigma <= 0 or self.prior_sigma <= 0:
            raise ValueError("rebalance in [0, 1]; temperature, sigma and prior_sigma positive")
        if not 1 <= self.neighbours <= 313:
            raise ValueError(f"neighbours {self.neighbours}: from 1 to the 313 bins")


class ZhangECCV16(Colorizer):
    name = "zhang_eccv16"
    description = (
        "Classification over 313 quantised ab bins (VGG-style CNN, dilated conv5/6): soft-encoded targets, "
        "class-rebalanced cross-entropy, annealed-mean decoding (T = 0.38)"
    )
    paper = (
        'Zhang et al. 2016: Richard Zhang, Phillip Isola and Alexei Efros, "Colorful Image Colorization", ECCV 2016 '
        "(§2.1 quantised ab classes and soft encoding, §2.2 class rebalancing, §2.3 annealed mean, Fig. 2 network)"
    )
    version = "1"
    stochastic = False
    Config = ZhangConfig
    profiles = {
        "smoke": dict(steps=3, batch_size=4, widths=(4, 4, 8, 8, 8, 8, 8, 8)),
        "quick": dict(steps=300, batch_size=40, widths=(8, 16, 32, 64, 64, 64, 64, 32), lrs=(1e-3, 3.3e-4, 1e-4)),
        "full": dict(steps=450_000, batch_size=40),
    }

    def build(self):
        if self.size % 2**STRIDED_BLOCKS:  # said when built, not at the first step
            raise ValueError(f"conv1-conv3 halve the size: it must be a multiple of {2**STRIDED_BLOCKS}")
        classes = ab_classes.ABClasses()
        c = self.config
        return {"net": ColorizationNet(widths=c.widths, layers=c.layers, classes=len(classes.bins)), "classes": classes}

    def prepare_training(self, data):
        """p̃: the training images' colours over the bins, smoothed (Eq. 4); kept in the checkpoint.
        Measured on every 4th pixel in each direction, the pixels whose weights the loss uses."""
        classes = self.nets["classes"]
        picks = torch.linspace(0, len(data) - 1, min(len(data), PRIOR_IMAGES)).long().unique()
        counts = torch.zeros(len(classes.bins), dtype=torch.float64, device=self.device)
        with torch.random.fork_rng(devices=[]):  # a crop's draw must not move the run's random stream
            for chunk in picks.split(64):
                rgb = torch.stack([data[int(i)] for i in chunk]).to(self.device)
                ab = rgb_to_normalized(rgb)[1][..., ::4, ::4] * AB_SCALE  # the pixels the loss sees
                counts += ab_classes.bin_counts(ab.permute(0, 2, 3, 1).reshape(-1, 2), classes.bins.double())
        classes.set_prior(counts, self.config.prior_sigma)

    def class_weights(self) -> torch.Tensor:
        """w of Eq. 4, one per bin."""
        return ab_classes.rebalancing_weights(self.nets["classes"].prior, self.config.rebalance)

    def optimizers(self):
        c = self.config
        return {"net": torch.optim.Adam(self.nets["net"].parameters(), lr=c.lrs[0], betas=c.betas, weight_decay=c.weight_decay)}

    def schedulers(self, optimizers):
        lrs, ends = self.config.lrs, self.config.lr_iterations
        changes = [round(self.config.steps * end / ends[-1]) for end in ends[:-1]]

        def factor(step: int) -> float:  # of the first rate, at this step
            return lrs[bisect.bisect_right(changes, step)] / lrs[0]

        return {"net": torch.optim.lr_scheduler.LambdaLR(optimizers["net"], factor)}

    def loss(self, L, ab):
        c, bins = self.config, self.nets["classes"].bins
        logits = self.nets["net"](L).float()
        target_ab = (ab[..., ::4, ::4] * AB_SCALE).float()  # every 4th pixel, as the logits' grid
        Z = ab_classes.soft_encode(target_ab, bins, neighbours=c.neighbours, sigma=c.sigma)
        weight = self.class_weights()[Z.argmax(1)]  # v(Z) = w_{q*} (Eq. 3)
        loss = -(weight * (Z * F.log_softmax(logits, dim=1)).sum(1)).mean()
        return loss, {"rebalanced_cross_entropy": loss}

    def predict(self, L, noise, reference=None):
        logits = self.nets["net"](L).float()
        ab = ab_classes.annealed_mean(logits, self.nets["classes"].bins, self.config.temperature) / AB_SCALE
        return F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False).to(L.dtype)


@colorbench.hookimpl
def register_colorizers(register):
    register(ZhangECCV16)
