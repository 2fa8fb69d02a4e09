"""Building blocks shared by the GAN methods: pix2pix's U-Net and PatchGAN, and
the encoder-decoder (the U-Net without skip connections) of Wan (2019) §3.1.

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


DROPOUT_BLOCKS = 3
"""pix2pix's decoder: "CD512-CD1024-CD1024-C1024-...": dropout in its first 3 blocks (Appendix 6.1.1)."""


def dropout(x: torch.Tensor, p: float, training: bool, noise: torch.Generator | None) -> torch.Tensor:
    """pix2pix's noise: dropout at rate ``p``, in training and, when a generator is
    given, at test time too, its masks drawn from that generator so samples repeat
    with their seed. Without either it is the identity (the expected output)."""
    if not p or not (training or noise is not None):
        return x
    if training:
        return F.dropout(x, p, training=True)
    keep = torch.rand(x.shape, generator=noise, device=x.device) >= p
    return x * keep / (1 - p)


class _Hourglass(nn.Module):
    """What the U-Net and the encoder-decoder share: strided 4x4 convolutions from
    S x S down to 1 x 1, an optional noise vector joined at the 1 x 1 bottleneck,
    and transposed convolutions back up to a tanh output.

    Widths double from ``ngf`` to at most ``8 ngf`` (pix2pix's C64-C128-C256-C512-...).
    Subclasses say only whether each up block also takes its mirror's features
    (``skips``), so the two generators differ in nothing else.
    """

    skips: bool

    def __init__(
        self, *, size: int, in_channels: int = 1, out_channels: int = 2, ngf: int = 64, z_dim: int = 0, dropout: float = 0.0
    ):
        super().__init__()
        depth = int(math.log2(size))
        if 2**depth != size or depth < 2:
            raise ValueError(f"{type(self).__name__} needs a power-of-two size of at least 4, got {size}")
        widths = [ngf * min(2**i, 8) for i in range(depth)]
        self.z_dim = z_dim
        self.dropout = dropout  # after each of the first DROPOUT_BLOCKS up blocks (never the output)
        self.down = nn.ModuleList(
            [_down(in_channels, widths[0], outermost=True)]
            + [_down(widths[i - 1], widths[i], innermost=i == depth - 1) for i in range(1, depth)]
        )
        # The innermost up block takes the bottleneck (and the noise); with skip
        # connections every other one also takes its mirror's features.
        k = 2 if self.skips else 1
        self.up = nn.ModuleList(
            [_up(widths[-1] + z_dim, widths[-2])]
            + [_up(k * widths[i], widths[i - 1]) for i in range(depth - 2, 0, -1)]
            + [_up(k * widths[0], out_channels, outermost=True)]
        )
        init_weights(self)

    def _bottleneck(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The 1 x 1 code with the noise concatenated, when there is noise."""
        if self.z_dim:
            x = torch.cat([x, z.view(len(x), self.z_dim, 1, 1)], dim=1)
        return x

    def _noisy(self, i: int, x: torch.Tensor, noise: torch.Generator | None) -> torch.Tensor:
        """Up block ``i``'s output, with dropout if it is one of the first few."""
        if i < min(DROPOUT_BLOCKS, len(self.up) - 1):
            x = dropout(x, self.dropout, self.training, noise)
        return x


class UNet(_Hourglass):
    """U-Net generator: strided 4x4 convolutions from S x S down to 1 x 1, then
    transposed convolutions back up, each joined to its mirror by a skip connection.

    Widths double from ``ngf`` to at most ``8 ngf`` (pix2pix's C64-C128-C256-C512-...).
    With ``z_dim`` > 0 a noise vector is concatenated to the 1 x 1 bottleneck, so
    the generator can give different colourings of one input; with ``dropout`` > 0
    the first decoder blocks drop units, pix2pix's noise (`dropout`).
    """

    skips = True

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, noise: torch.Generator | None = None) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self._noisy(0, self.up[0](self._bottleneck(x, z)), noise)
        for i, (block, skip) in enumerate(zip(self.up[1:], reversed(skips[:-1])), start=1):
            x = self._noisy(i, block(torch.cat([x, skip], dim=1)), noise)
        return x


class EncoderDecoder(_Hourglass):
    """Encoder-decoder generator: the U-Net without its skip connections.

    The same layers as `UNet`: Conv-BatchNorm-LeakyReLU(0.2) down to 1 x 1 (no
    batch norm on the first and the innermost convolution, as pix2pix),
    ConvTranspose-BatchNorm-ReLU back up, tanh out; the blocks are written
    pre-activation, which is the same sequence. But every up block sees only
    the block below it, so all that reaches the decoder passes through the
    1 x 1 bottleneck, with the noise vector (``z_dim`` > 0) concatenated there.
    """

    skips = False

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, noise: torch.Generator | None = None) -> torch.Tensor:
        for block in self.down:
            x = block(x)
        x = self._bottleneck(x, z)
        for i, block in enumerate(self.up):
            x = self._noisy(i, block(x), noise)
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
