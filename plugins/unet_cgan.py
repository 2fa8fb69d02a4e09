"""U-Net conditional GAN: Wan (2019) §3.4 and Stancu (2023) (pix2pix for colourization).

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.
Diana-Elena Stancu, "Lab 5-8" (a report on image colourization with a cGAN), 2023.

What it follows:
- Generator (Wan §3.3/§3.4, Stancu; pix2pix U-Net): L -> ab, 4x4 stride-2
  convolutions down to 1x1 and back up, skip connections between mirrored
  layers, tanh output in the shared normalised ab range.
- Noise (Wan §3.3.1): a Gaussian vector concatenated at the 1x1
  bottleneck, so the generator is a sampler; `colorize` draws it from the
  caller's seed, giving reproducible, different samples.
- Discriminator (Wan §3.4, Stancu): a PatchGAN conditioned on the input:
  it sees L and ab concatenated, with a little Gaussian noise added to L as
  Wan does, so D cannot win by matching L's exact pixels.
- Loss: vanilla cGAN loss + lambda * L1 on ab with lambda = 100 (pix2pix); the
  discriminator's loss is halved, as pix2pix does, to slow D relative to G.
- Optimiser: Adam, learning rate 2e-4, betas (0.5, 0.999), for G and D alike.

With encdec_gan (§3.1: no skip connections) and unet_gan (§3.3: D not
conditioned on L) it forms Wan's ablation; all three share
`colorbench.methods.gan` and differ only in those two choices.

What it changes, and why:
- Depth follows the working size (down to 1x1 at any power-of-two size), so the
  same module runs on 32 px CIFAR-10 and 64 px crops.
- Batch norm runs in eval mode (running statistics) when colourizing, so an
  image's colours do not depend on the other images in its batch.
- The noise vector has 100 dimensions and L's noise a standard deviation of 0.05
  (in normalised units); neither value is given by the papers.
- Profiles: `smoke` (a few steps, tests), `quick` (minutes on two CPU cores),
  `full` (about 200 epochs of CIFAR-10's 50,000 images at batch 128, the papers'
  scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.methods.networks import UNet


@dataclass
class UNetCGANConfig(GANConfig):
    d_input_noise: float = 0.05  # std of the noise on the L that D sees (Wan)


class UNetCGAN(GANColorizer):
    name = "unet_cgan"
    description = "U-Net generator with bottleneck noise, PatchGAN conditioned on L, cGAN + 100 L1"
    paper = (
        'Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative adversarial '
        'networks", HKUST, 2019, §3.4 (U-Net cGAN, noise §3.3.1); '
        'Diana-Elena Stancu, "Lab 5-8", 2023 (pix2pix for colourization)'
    )
    Config = UNetCGANConfig
    profiles = PIX2PIX_PROFILES
    d_channels = 3  # L and ab

    def build_generator(self):
        return UNet(size=self.size, in_channels=1, out_channels=2, ngf=self.config.ngf, z_dim=self.config.z_dim)

    def d_input(self, L, ab):
        return torch.cat([L + self.config.d_input_noise * torch.randn_like(L), ab], dim=1)


@colorbench.hookimpl
def register_colorizers(register):
    register(UNetCGAN)
