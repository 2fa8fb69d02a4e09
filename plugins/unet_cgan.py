"""U-Net conditional GAN: seed 000 §3.4 and seed 001 (pix2pix for colourization).

What it follows:
- Generator (seed 000 §3.3/§3.4, seed 001; pix2pix U-Net): L -> ab, 4x4 stride-2
  convolutions down to 1x1 and back up, skip connections between mirrored
  layers, tanh output in the shared normalised ab range.
- Noise (seed 000 §3.3.1): a Gaussian vector concatenated at the 1x1
  bottleneck, so the generator is a sampler; `colorize` draws it from the
  caller's seed, giving reproducible, different samples.
- Discriminator (seed 000 §3.4, seed 001): a PatchGAN conditioned on the input:
  it sees L and ab concatenated, with a little Gaussian noise added to L as
  seed 000 does, so D cannot win by matching L's exact pixels.
- Loss: vanilla cGAN loss + lambda * L1 on ab with lambda = 100 (pix2pix); the
  discriminator's loss is halved, as pix2pix does, to slow D relative to G.
- Optimiser: Adam, learning rate 2e-4, betas (0.5, 0.999), for G and D alike.

What it changes, and why:
- Depth follows the working size (down to 1x1 at any power-of-two size), so the
  same module runs on 32 px CIFAR-10 and 64 px crops.
- Batch norm runs in eval mode (running statistics) when colourizing, so an
  image's colours do not depend on the other images in its batch.
- The noise vector has 100 dimensions and L's noise a standard deviation of 0.05
  (in normalised units); neither value is given by the seeds.
- Profiles: `smoke` (a few steps, tests), `quick` (minutes on two CPU cores),
  `full` (about 200 epochs of CIFAR-10's 50,000 images at batch 128, the seeds'
  scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

import colorbench
from colorbench.colorizer import Colorizer, TrainConfig
from colorbench.networks import PatchDiscriminator, UNet, gan_loss


@dataclass
class UNetCGANConfig(TrainConfig):
    ngf: int = 64  # generator width (pix2pix)
    ndf: int = 64  # discriminator width (pix2pix)
    z_dim: int = 100  # bottleneck noise (seed 000 §3.3.1)
    l1_weight: float = 100.0  # lambda (pix2pix)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_input_noise: float = 0.05  # std of the noise on the L that D sees (seed 000)


class UNetCGAN(Colorizer):
    name = "unet_cgan"
    description = "U-Net generator with bottleneck noise, PatchGAN conditioned on L, cGAN + 100 L1"
    paper = "seed 000 §3.4 (U-Net cGAN, noise §3.3.1); seed 001 (pix2pix for colourization)"
    stochastic = True
    Config = UNetCGANConfig
    profiles = {
        "smoke": dict(steps=3, batch_size=4),
        "quick": dict(steps=200, batch_size=16),
        "full": dict(steps=78_000, batch_size=128),
    }

    def build(self):
        c = self.config
        return {
            "G": UNet(size=self.size, in_channels=1, out_channels=2, ngf=c.ngf, z_dim=c.z_dim),
            "D": PatchDiscriminator(in_channels=3, size=self.size, ndf=c.ndf),
        }

    def setup_training(self):
        c = self.config
        self.opt_G = torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_D = torch.optim.Adam(self.nets["D"].parameters(), lr=c.lr, betas=(c.beta1, c.beta2))

    def noise(self, n: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.z_dim, device=device, generator=generator)

    def train_step(self, L, ab):
        G, D, c = self.nets["G"], self.nets["D"], self.config
        fake = G(L, self.noise(len(L), L.device))
        L_seen = L + c.d_input_noise * torch.randn_like(L)  # what D is conditioned on

        loss_D = 0.5 * (
            gan_loss(D(torch.cat([L_seen, ab], 1)), True) + gan_loss(D(torch.cat([L_seen, fake.detach()], 1)), False)
        )
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()

        loss_gan = gan_loss(D(torch.cat([L_seen, fake], 1)), True)
        loss_l1 = F.l1_loss(fake, ab)
        self.opt_G.zero_grad(set_to_none=True)
        (loss_gan + c.l1_weight * loss_l1).backward()
        self.opt_G.step()
        return {"D": loss_D.item(), "G_gan": loss_gan.item(), "L1": loss_l1.item()}

    def predict(self, L, noise):
        return self.nets["G"](L, self.noise(len(L), L.device, noise))


@colorbench.hookimpl
def register_colorizers(register):
    register(UNetCGAN)
