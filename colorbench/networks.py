"""Building blocks shared by the GAN methods: pix2pix's U-Net and PatchGAN.

After Isola et al. 2017 (pix2pix), Appendix 6.1, and its reference code
(junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py). A method module
picks and configures these; what makes a method itself stays in its module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def init_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    """pix2pix/DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return net


def _down(cin: int, cout: int, *, outermost=False, innermost=False) -> nn.Sequential:
    layers = [] if outermost else [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=outermost or innermost))
    if not (outermost or innermost):
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, *, outermost=False) -> nn.Sequential:
    layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=outermost)]
    layers.append(nn.Tanh() if outermost else nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net generator: strided 4x4 convolutions from S x S down to 1 x 1, then
    transposed convolutions back up, each joined to its mirror by a skip connection.

    Widths double from ``ngf`` to at most ``8 ngf`` (pix2pix's C64-C128-C256-C512-...).
    With ``z_dim`` > 0 a noise vector is concatenated to the 1 x 1 bottleneck, so
    the generator can give different colourings of one input.
    """

    def __init__(self, *, size: int, in_channels: int = 1, out_channels: int = 2, ngf: int = 64, z_dim: int = 0):
        super().__init__()
        depth = int(math.log2(size))
        if 2**depth != size:
            raise ValueError(f"UNet needs a power-of-two size, got {size}")
        widths = [ngf * min(2**i, 8) for i in range(depth)]
        self.z_dim = z_dim
        self.down = nn.ModuleList(
            [_down(in_channels, widths[0], outermost=True)]
            + [_down(widths[i - 1], widths[i], innermost=i == depth - 1) for i in range(1, depth)]
        )
        # Going up, every block but the innermost also takes its mirror's features.
        self.up = nn.ModuleList(
            [_up(widths[-1] + z_dim, widths[-2])]
            + [_up(2 * widths[i], widths[i - 1]) for i in range(depth - 2, 0, -1)]
            + [_up(2 * widths[0], out_channels, outermost=True)]
        )
        init_weights(self)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        if self.z_dim:
            x = torch.cat([x, z.view(len(x), self.z_dim, 1, 1)], dim=1)
        x = self.up[0](x)
        for block, skip in zip(self.up[1:], reversed(skips[:-1])):
            x = block(torch.cat([x, skip], dim=1))
        return x


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix's 70 x 70 at 256 px, ``n_layers`` = 3): a grid of real/fake
    logits, one per overlapping patch, rather than one per image.

    Below 32 px a stride-2 layer is dropped so its last 4 x 4 convolutions still fit."""

    def __init__(self, *, in_channels: int, size: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        n_layers = max(1, min(n_layers, int(math.log2(size)) - 2))
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = ndf
        for i in range(1, n_layers + 1):
            prev, width = width, ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(prev, width, 4, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The vanilla (cross-entropy) GAN loss of pix2pix, on logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
