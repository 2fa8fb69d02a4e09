"""What the GAN colourizers share: pix2pix's objective, as losses and training phases.

G maps L (and a code: noise, or a hint such as a colour histogram, at the
bottleneck) to ab; D is a PatchGAN on whatever `d_input` shows it. G's loss is
the GAN loss plus lambda * L1 on ab (pix2pix, lambda = 100); D's loss is halved.
A method module picks the generator, what D sees, and anything of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from colorbench.methods.colorizer import Colorizer, Phase, TrainConfig, Update
from colorbench.methods.networks import PatchDiscriminator, gan_loss


@dataclass
class GANConfig(TrainConfig):
    ngf: int = 64  # generator width (pix2pix)
    ndf: int = 64  # discriminator width (pix2pix)
    z_dim: int = 100  # bottleneck noise; 0 for a deterministic generator
    l1_weight: float = 100.0  # lambda (pix2pix)
    lr: float = 2e-4  # Adam, for G and D (pix2pix)
    beta1: float = 0.5
    beta2: float = 0.999


PIX2PIX_PROFILES = {
    "smoke": dict(steps=3, batch_size=4),  # seconds: what the tests use
    "quick": dict(steps=200, batch_size=16),  # about two minutes of training at 64 px on two CPU cores
    "full": dict(steps=78_000, batch_size=128),  # about 200 epochs of CIFAR-10's 50,000 images at batch 128
}
"""pix2pix-style budgets in Lab: unet_cgan's quick profile and histogram_cgan's."""


class GANColorizer(Colorizer):
    """Base of the GAN methods; subclasses give `build_generator`, `d_channels` and `d_input`."""

    Config = GANConfig
    stochastic = True
    d_channels: ClassVar[int]  # channels of what D sees

    # ------------------------------------------------------------ to override
    def build_generator(self) -> nn.Module:
        """A module called as ``G(L, code)`` with code (B, code_dim) or None."""
        raise NotImplementedError

    def d_input(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """What the discriminator judges, for a real or a generated ab."""
        raise NotImplementedError

    def code(self, L: torch.Tensor, ab_hint: torch.Tensor | None, noise: torch.Generator | None) -> torch.Tensor | None:
        """What G gets at its bottleneck: Gaussian noise of `z_dim` (or None). ``ab_hint``
        is the ground truth in training and the reference when colourizing."""
        z_dim = self.config.z_dim
        return torch.randn(len(L), z_dim, device=L.device, generator=noise) if z_dim else None

    def extra_generator_losses(self, L: torch.Tensor, ab: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms a method adds to G's loss (a regulariser, say), by name."""
        return {}

    def real(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """What G learns to produce and D is shown as real: the true ab (a method
        whose G reconstructs RGB, as Wan 2019's, gives the true RGB)."""
        return ab

    # ------------------------------------------------------------ provided
    def build(self):
        return {
            "G": self.build_generator(),
            "D": PatchDiscriminator(in_channels=self.d_channels, size=self.size, ndf=self.config.ndf),
        }

    def optimizers(self):
        c = self.config
        return {
            "G": torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2)),
            "D": torch.optim.Adam(self.nets["D"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2)),
        }

    def phases(self):
        return [self.gan_phase("train", self.config.steps)]

    def gan_phase(self, name: str, steps: int) -> Phase:
        """pix2pix's step: G's output once, D on real and generated, then G on GAN + lambda L1."""
        return Phase(name, steps, [Update("D", self.d_loss), Update("G", self.g_loss)], shared=self.generate)

    def l1_phase(self, name: str, steps: int) -> Phase:
        """G alone on L1: the pre-training phase of an L1-pretrained generator."""
        return Phase(name, steps, [Update("G", self.l1_loss)], shared=self.generate)

    # ------------------------------------------------------------ losses
    def generate(self, L, ab):
        """G's output for a training batch, shared by the step's losses."""
        return {"fake": self.nets["G"](L, self.code(L, ab, None))}

    def d_loss(self, L, ab, fake):
        D = self.nets["D"]
        loss = 0.5 * (gan_loss(D(self.d_input(L, self.real(L, ab))), True) + gan_loss(D(self.d_input(L, fake.detach())), False))
        return loss, {"D": loss}

    def g_loss(self, L, ab, fake):
        terms = {"G_gan": gan_loss(self.nets["D"](self.d_input(L, fake)), True)}
        loss = terms["G_gan"]
        if self.config.l1_weight:  # 0: no term at all (Wan 2019's objective has none)
            terms["L1"] = F.l1_loss(fake, self.real(L, ab))
            loss = loss + self.config.l1_weight * terms["L1"]
        extra = self.extra_generator_losses(L, ab, fake)
        return loss + sum(extra.values()), {**terms, **extra}

    def l1_loss(self, L, ab, fake):
        loss = F.l1_loss(fake, ab)
        return loss, {"L1": loss}

    def predict(self, L, noise, reference=None):
        return self.nets["G"](L, self.code(L, reference, noise))
