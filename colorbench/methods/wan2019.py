"""What Wan (2019)'s GANs share: a generator that reconstructs RGB from the gray
image, no L1 to the true colours, and §3.2's gray regulariser weighted through
the learning rate of its own Adam.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

§3: "The task is to reconstruct the RGB space from these grayscale images. The
conventional L*a*b* used for colorization was not used": G outputs RGB (tanh,
[-1, 1]) and D judges RGB. The benchmark's contract is unchanged: `predict` keeps
the ab of G's RGB and the core joins it with the input's L; `predict_rgb` gives
the RGB itself, which evaluation scores too (`colorbench.scoring.native_output`),
so a result records both, including how far G's own lightness strays from the
gray image (§3.1's "did not conform with the grayscale image").

Eq. 3 is the whole objective: the (c)GAN loss plus lambda * l(x, G(x, z)), a term
that compares G's output with the INPUT gray image x (§3.2), never with the true
colours. §3.2: "To control the weight of the regularization, different learning
rate was attempted: the same learning rate as the generator, and a learning rate of
10 times lower. Adam optimizer was used": here a second Adam over G's weights (``gray_lr``: its rate as a fraction of ``lr``;
1 or 0.1 as the paper tried; 0, the default of §3.1/§3.3/§3.4's models: off).

Scale (§3): 64x64 images, batch 64, Adam with one rate for G and D, "at most 10
epochs". The paper does not give the rate: 2e-4 and betas (0.5, 0.999) are those
of pix2pix (Isola et al. 2017), whose blocks and U-Net the paper takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized
from colorbench.methods.colorizer import Update
from colorbench.methods.gan import GANColorizer, GANConfig
from colorbench.methods.networks import UNet


@dataclass
class WanGANConfig(GANConfig):
    batch_size: int = 64  # §3: "A batch size of 64 was used"
    l1_weight: float = 0.0  # Eq. 3 has no L1 to the true colours
    gray_lr: float = 0.0  # §3.2's regulariser: its Adam's rate / lr (1 or 0.1 in the paper); 0: off
    d_input_noise: float = 0.0  # std of the noise on the gray image a conditioned D sees (§3.4; unused otherwise)


WAN_PROFILES = {
    "smoke": dict(steps=3, batch_size=4),  # seconds: what the tests use
    "quick": dict(steps=60, batch_size=64),  # the paper's batch; about two minutes at 64 px on two CPU cores
    "full": dict(steps=7_820, batch_size=64),  # §3: 10 epochs of CIFAR-10's 50,000 training images at batch 64, 64 px
}
"""One budget for Wan (2019)'s models, so the ablation compares architectures, not budgets."""


def rgb_of(output: torch.Tensor) -> torch.Tensor:
    """G's tanh output -> sRGB in [0, 1]."""
    return (output + 1) / 2


def gray_error(L: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """§3.2's regulariser: MSE between the input gray image and the gray image of
    G's RGB, both as colorbench makes gray (CIE L*, normalised: L / 50 - 1)."""
    return F.mse_loss(normalized_lightness(rgb), L)


class WanGAN(GANColorizer):
    """A GAN of Wan (2019)'s ablation; subclasses pick the generator and whether D sees the gray image."""

    Config = WanGANConfig
    profiles = WAN_PROFILES
    generator: ClassVar[type] = UNet  # §3.3, §3.4; §3.1's is the EncoderDecoder
    conditioned: ClassVar[bool] = False  # §3.4: D also sees the gray image

    def code_dim(self) -> int:
        """What G takes at its bottleneck: the noise vector (a method may add to it)."""
        return self.config.z_dim

    def build_generator(self):
        c = self.config
        return self.generator(size=self.size, in_channels=1, out_channels=3, ngf=c.ngf, z_dim=self.code_dim())

    @property
    def d_channels(self) -> int:  # RGB, and the gray image when conditioned
        return 4 if self.conditioned else 3

    def real(self, L, ab):
        """The true image in RGB, scaled to G's tanh range."""
        return normalized_to_rgb(L, ab) * 2 - 1

    def d_input(self, L, rgb):
        if not self.conditioned:
            return rgb  # §3.1: "The colorized image alone was then fed to the discriminator"
        return torch.cat([L + self.config.d_input_noise * torch.randn_like(L), rgb], dim=1)

    def optimizers(self):
        c, optimizers = self.config, super().optimizers()
        if c.gray_lr:
            optimizers["G_gray"] = torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr * c.gray_lr, betas=(c.beta1, c.beta2))
        return optimizers

    def phases(self):
        phase = self.gan_phase("train", self.config.steps)
        if self.config.gray_lr:
            phase.updates.append(Update("G_gray", self.gray_loss))
        return [phase]

    def gray_loss(self, L, ab, fake):
        """§3.2's step, after G's: a fresh output (G has just changed), its gray against the input's."""
        loss = gray_error(L, rgb_of(self.nets["G"](L, self.code(L, ab, None))))
        return loss, {"gray": loss}

    def predict_rgb(self, L, noise, reference=None):
        return rgb_of(self.nets["G"](L, self.code(L, reference, noise)))

    def predict(self, L, noise, reference=None):
        return rgb_to_normalized(self.predict_rgb(L, noise, reference))[1]
