"""Encoder-decoder GAN: Wan (2019) §3.1, with §3.2's brightness regulariser as an option.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

What it follows:
- Generator (Wan §3.1): L -> ab through an encoder-decoder WITHOUT skip
  connections: 4x4 stride-2 Conv-BatchNorm-LeakyReLU blocks down to 1x1,
  ConvTranspose-BatchNorm-ReLU blocks back up, tanh output in the shared
  normalised ab range (`colorbench.methods.networks.EncoderDecoder`). Its layers are the
  U-Net's of unet_gan, so the two differ only in the skip connections.
- Noise (Wan §3.1): a Gaussian vector concatenated with the encoded latent
  at the 1x1 bottleneck, so the generator is a sampler; `colorize` draws it from
  the caller's seed, giving reproducible, different samples.
- Discriminator (Wan §3.1): a PatchGAN that sees the colourized image alone,
  not conditioned on the grey input.
- Brightness regulariser (Wan §3.2), off by default (`brightness_weight` = 0):
  the mean squared difference between the output image's luminance and the input's.
- Loss: vanilla GAN loss + lambda * L1 on ab with lambda = 100; the
  discriminator's loss is halved, as pix2pix does, to slow D relative to G.
- Optimiser: Adam, learning rate 2e-4, betas (0.5, 0.999), for G and D alike.

With unet_gan (§3.3: skip connections added) and unet_cgan (§3.4: D also
conditioned on L) it forms Wan's ablation; all three share
`colorbench.methods.gan` and its defaults (widths 64, noise of 100 dimensions,
lambda 100, Adam as above), and differ only in those two choices.

What it changes, and why:
- "The colourized image alone" is its ab channels: D sees 2 channels. The
  colourized image's L is the input's own L (the core joins the predicted ab to
  it), so showing D the whole (L, ab) image would condition it on L implicitly
  and make §3.3 the same model as §3.4.
- Brightness: here G predicts only ab and the input's L is kept, so the output's
  luminance can change only where the colour leaves the sRGB gamut and is
  clipped. The regulariser therefore measures exactly that: the output image is
  rendered to sRGB with `normalized_to_rgb(L, ab)` (clipped to [0, 1]), its L is
  read back with `normalized_lightness`, and the MSE against the input L is taken in
  normalised units (L / 50 - 1, the scale the model sees). Both conversions are
  differentiable; clipped channels pass no gradient, the others do.
- Depth follows the working size (down to 1x1 at any power-of-two size), so the
  same module runs on 32 px CIFAR-10 and 64 px crops.
- Batch norm runs in eval mode (running statistics) when colourizing, so an
  image's colours do not depend on the other images in its batch.
- The noise vector has 100 dimensions, as unet_cgan's; the paper does not fix it.
- Profiles: `smoke` (a few steps, tests), `quick` (minutes on two CPU cores),
  `full` (about 200 epochs of CIFAR-10's 50,000 images at batch 128, the paper's
  scale, as unet_cgan).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.lab import normalized_lightness, normalized_to_rgb
from colorbench.methods.networks import EncoderDecoder


@dataclass
class EncDecGANConfig(GANConfig):
    brightness_weight: float = 0.0  # Wan §3.2's regulariser; 0: off (the §3.1 model)


def brightness_error(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """MSE between the input L and the luminance of the image (L, ab) once rendered
    to sRGB (so clipped to the gamut), both normalised (L / 50 - 1)."""
    return F.mse_loss(normalized_lightness(normalized_to_rgb(L, ab)), L)


class EncDecGAN(GANColorizer):
    name = "encdec_gan"
    description = "Encoder-decoder generator (no skips) with bottleneck noise, PatchGAN on ab alone, GAN + 100 L1"
    paper = (
        'Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative adversarial '
        'networks", HKUST, 2019, §3.1 (encoder-decoder GAN); §3.2 brightness regulariser, optional'
    )
    Config = EncDecGANConfig
    profiles = PIX2PIX_PROFILES
    d_channels = 2  # ab alone: D is not conditioned on L

    def build_generator(self):
        return EncoderDecoder(size=self.size, in_channels=1, out_channels=2, ngf=self.config.ngf, z_dim=self.config.z_dim)

    def d_input(self, L, ab):
        return ab

    def extra_generator_losses(self, L, ab, fake):
        weight = self.config.brightness_weight
        return {"brightness": weight * brightness_error(L, fake)} if weight else {}


@colorbench.hookimpl
def register_colorizers(register):
    register(EncDecGAN)
