"""U-Net GAN: Wan (2019) §3.3 (the §3.1 model with skip connections).

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

What it follows:
- Generator (Wan §3.3; pix2pix U-Net): L -> ab, 4x4 stride-2 convolutions
  down to 1x1 and back up, skip connections between mirrored layers, tanh output
  in the shared normalised ab range.
- Noise (Wan §3.3.1): a Gaussian vector concatenated at the 1x1
  bottleneck, so the generator is a sampler; `colorize` draws it from the
  caller's seed, giving reproducible, different samples.
- Discriminator (Wan §3.1, kept in §3.3): a PatchGAN that sees the
  colourized image alone, not conditioned on the grey input.
- Loss: vanilla GAN loss + lambda * L1 on ab with lambda = 100 (pix2pix); the
  discriminator's loss is halved, as pix2pix does, to slow D relative to G.
- Optimiser: Adam, learning rate 2e-4, betas (0.5, 0.999), for G and D alike.

With encdec_gan (§3.1: no skip connections) and unet_cgan (§3.4: D also
conditioned on L) it forms Wan's ablation; all three share
`colorbench.methods.gan` and its defaults, and differ only in those two choices: this
module is encdec_gan with `UNet` for `EncoderDecoder`, and unet_cgan with D
shown ab instead of (L, ab).

What it changes, and why:
- "The colourized image alone" is its ab channels: D sees 2 channels. The
  colourized image's L is the input's own L (the core joins the predicted ab to
  it), so showing D the whole (L, ab) image would condition it on L implicitly
  and make this the same model as §3.4's unet_cgan.
- §3.2's brightness regulariser is not offered: it belongs to the §3.1 model
  (encdec_gan's `brightness_weight`, off by default, so the ablation is unchanged).
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

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.methods.networks import UNet


class UNetGAN(GANColorizer):
    name = "unet_gan"
    description = "U-Net generator with bottleneck noise, PatchGAN on ab alone (not conditioned on L), GAN + 100 L1"
    paper = (
        'Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative adversarial '
        'networks", HKUST, 2019, §3.3 (U-Net GAN, noise §3.3.1; unconditioned D of §3.1)'
    )
    Config = GANConfig
    profiles = PIX2PIX_PROFILES
    d_channels = 2  # ab alone: D is not conditioned on L

    def build_generator(self):
        return UNet(size=self.size, in_channels=1, out_channels=2, ngf=self.config.ngf, z_dim=self.config.z_dim)

    def d_input(self, L, ab):
        return ab


@colorbench.hookimpl
def register_colorizers(register):
    register(UNetGAN)
