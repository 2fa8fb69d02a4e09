"""GAN with an L1-pretrained generator: Zhu (n.d.).

Zhiyuan Zhu, "Colorization Black and White Images with GAN", Zhejiang University
(no year given). The paper itself was not at hand: this follows the account of it
in the issue that added this method, to be checked against the paper, and every
value the account leaves open is named below as a choice.

What it follows:
- Generator (Zhu, as described): a U-Net of 4x4 stride-2 convolutions
  down and 4x4 stride-2 transposed convolutions up, residual blocks between
  the two, and additive skip connections: each decoder stage's features are
  added to those of the encoder stage at the same size, not concatenated, so
  widths do not double on the way up. Deterministic: no noise input.
- Lab in [0, 1] (Zhu): the generator sees L / 100 and gives ab in [0, 1]
  through a sigmoid; the L1 loss is taken on that scale.
- Discriminator: a PatchGAN (`colorbench.methods.networks.PatchDiscriminator`) that
  sees L and ab concatenated, both on the [0, 1] scale: the conditional,
  pix2pix-style setup the paper describes.
- Training in two phases (Zhu): first the generator alone on L1, then G
  and D together with G's loss = GAN + lambda * L1 (`colorbench.methods.gan`), the
  paper's 20 + 100 epochs, a 1:5 ratio kept at every profile.
- Loss: vanilla GAN loss + lambda * L1 with lambda = 100 on the [0, 1] scale
  (pix2pix's value; the paper's is not given). D's loss is halved as in pix2pix.
- Optimiser: Adam, learning rate 2e-4, betas (0.5, 0.999), for G and D alike.

What it chooses, and why:
- [0, 1] inside the method only: colorbench's shared normalisation is [-1, 1]
  (`colorbench.lab`), so `generate` (the losses' input) and `predict` map L and ab
  with x01 = (x + 1) / 2 on the way in and ab = 2 ab01 - 1 on the way out
  (ab01 = (ab + 110) / 220 in CIE units). The core's contract is unchanged; an
  L1 on this scale is half of the same L1 on the shared scale, so lambda = 100
  here weighs L1 as lambda = 50 would on [-1, 1]. The losses shown and
  recorded are on the [0, 1] scale.
- Depth: three stride-2 stages (down to S/8: 4x4 at 32 px, 8x8 at 64 px,
  2x2 at the smallest working size, 16 px) with widths ngf, 2 ngf, 4 ngf, then
  three residual blocks of two 3x3 convolutions at S/8. Their receptive field
  (about 118 px) covers a whole 64 px crop, which colour needs (sky at the top
  of the image, grass at the bottom), while the residual blocks, not more
  downsampling, supply the context: a 2x2 or 1x1 bottleneck at 32 px would
  keep little spatial layout for the additive skips to refine. Batch norm
  after each convolution but the first and last, LeakyReLU(0.2) down, ReLU up
  and inside the blocks, pix2pix's N(0, 0.02) initialisation.
- One Adam per network for the whole run: the generator's optimiser state
  carries from the L1 phase into the GAN phase; D's starts with the GAN phase.
- Batch norm runs in eval mode (running statistics) when colourizing, so an
  image's colours do not depend on the other images in its batch.
- Profiles: `full` is the paper's 20 + 100 epochs of CIFAR-10's 50,000 images at
  batch 128 (390 full batches an epoch: 7,800 + 39,000 steps; the batch size
  is not given by the paper, 128 is unet_cgan's); `quick` is 60 + 300 steps at
  batch 16 on 64 px crops: a step takes about 0.35 s (L1) and 0.84 s (GAN) on
  one CPU core, about 0.2-0.45 s and 0.46-0.48 s on two, so 150-170 s of
  training (a whole `colorbench run` took 3 minutes); `smoke` is 1 + 5 steps
  at batch 4. `steps` is derived: the sum of the two phases' steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig
from colorbench.methods.networks import init_weights


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Shared normalisation [-1, 1] -> the paper's [0, 1] (L / 100; (ab + 110) / 220)."""
    return (x + 1) / 2


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """The paper's [0, 1] -> shared normalisation [-1, 1]; inverse of `to_unit`."""
    return 2 * x - 1


class ResidualBlock(nn.Module):
    """x + (3x3 conv, BN, ReLU, 3x3 conv, BN)(x), at constant width."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualUNet(nn.Module):
    """L in [0, 1] -> ab in [0, 1]: 4x4 stride-2 convolutions down ``n_down`` times,
    ``n_res`` residual blocks at the bottom, 4x4 stride-2 transposed convolutions
    back up, each decoder stage's output added to its mirror encoder stage's."""

    def __init__(self, *, size: int, ngf: int = 64, n_down: int = 3, n_res: int = 3):
        super().__init__()
        if n_down < 1 or size % 2**n_down or size // 2**n_down < 2:
            raise ValueError(f"{n_down} halvings need a size divisible by {2 ** n_down} and at least {2 ** (n_down + 1)}, got {size}")
        widths = [ngf * min(2**i, 8) for i in range(n_down)]
        self.down = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(1, widths[0], 4, stride=2, padding=1), nn.LeakyReLU(0.2))]
            + [
                nn.Sequential(nn.Conv2d(widths[i - 1], widths[i], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[i]), nn.LeakyReLU(0.2))
                for i in range(1, n_down)
            ]
        )
        self.res = nn.Sequential(*[ResidualBlock(widths[-1]) for _ in range(n_res)])
        # Each up stage gives the width of the encoder stage it is added to.
        self.up = nn.ModuleList(
            [
                nn.Sequential(nn.ConvTranspose2d(widths[i], widths[i - 1], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[i - 1]), nn.ReLU())
                for i in range(n_down - 1, 0, -1)
            ]
        )
        self.out = nn.Sequential(nn.ConvTranspose2d(widths[0], 2, 4, stride=2, padding=1), nn.Sigmoid())
        init_weights(self)

    def forward(self, L: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        if code is not None:
            raise ValueError("this generator is deterministic: it takes no code")
        skips = []
        x = L
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.res(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(x) + skip
        return self.out(x)


@dataclass
class PretrainedGGANConfig(GANConfig):
    steps: int = field(default=0, metadata={"derived": "pretrain_steps + gan_steps"})
    z_dim: int = 0  # deterministic generator: no noise
    n_down: int = 3  # stride-2 stages: the residual blocks work at S / 8
    n_res: int = 3  # residual blocks at the bottom
    pretrain_steps: int = 0  # phase 1: G alone on L1 (the paper's 20 epochs at full)
    gan_steps: int = 0  # phase 2: G and D, GAN + lambda L1 (the paper's 100 epochs at full)

    def __post_init__(self):
        # `steps` is the total, derived so the record shows it; the phases' own fields
        # are what one sets (`from_profile` and --set refuse `steps`).
        self.steps = self.pretrain_steps + self.gan_steps


class PretrainedGGAN(GANColorizer):
    name = "pretrained_g_gan"
    description = "Residual U-Net (additive skips) pre-trained on L1, then PatchGAN on L and ab, GAN + 100 L1 in [0, 1] Lab"
    paper = (
        'Zhiyuan Zhu, "Colorization Black and White Images with GAN", Zhejiang University, n.d. '
        "(GAN with an L1-pretrained generator: residual U-Net, Lab in [0, 1], 20 L1 + 100 GAN epochs)"
    )
    Config = PretrainedGGANConfig
    stochastic = False
    profiles = {
        "smoke": dict(pretrain_steps=1, gan_steps=5, batch_size=4),
        "quick": dict(pretrain_steps=60, gan_steps=300, batch_size=16),
        "full": dict(pretrain_steps=7_800, gan_steps=39_000, batch_size=128),
    }
    d_channels = 3  # L and ab

    def build_generator(self):
        c = self.config
        if c.z_dim:
            raise ValueError(f"{self.name} has a deterministic generator: z_dim must be 0, got {c.z_dim}")
        return ResidualUNet(size=self.size, ngf=c.ngf, n_down=c.n_down, n_res=c.n_res)

    def code(self, L, ab_hint, noise):
        return None

    def d_input(self, L, ab):
        return torch.cat([L, ab], dim=1)  # both on the [0, 1] scale

    def phases(self):
        c = self.config
        return [self.l1_phase("pretrain_L1", c.pretrain_steps), self.gan_phase("gan", c.gan_steps)]

    def generate(self, L, ab):
        """The shared losses, on the paper's [0, 1] scale: their L1 is then the paper's."""
        L, ab = to_unit(L), to_unit(ab)
        return {"L": L, "ab": ab, **super().generate(L, ab)}

    def predict(self, L, noise, reference=None):
        return from_unit(super().predict(to_unit(L), noise))


@colorbench.hookimpl
def register_colorizers(register):
    register(PretrainedGGAN)
