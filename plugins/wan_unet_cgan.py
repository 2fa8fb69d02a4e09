"""U-Net cGAN as Wan ran it: Wan (2019) §3.4, §3.3's model with D conditioned on the gray image.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

The third model of Wan's ablation (with encdec_gan and unet_gan; the shared rows
are in encdec_gan). pix2pix's U-Net cGAN in Lab with L1, as Stancu (2023) ran it,
is unet_cgan.

| the paper says | colorbench does | why |
|---|---|---|
| §3.4: "the same setup as in section 3.3 except that the discriminator was conditioned to the grayscale image" | unet_gan's G (RGB, bottleneck noise), GAN loss only | same |
| §3.4: "the grayscale image was concatenated as an additional channel to the colorized images" | D sees (gray, R, G, B): 4 channels | same |
| §3.4: "Noise was added to the grayscale image before feeding to the discriminator" | Gaussian noise of std 0.05 (normalised units) on the gray D sees | same; the amount is not given |
| §3 scale: 64x64, batch 64, at most 10 epochs of CIFAR-10 | as encdec_gan | same |

Profiles as encdec_gan's. §3.4 reports sharper but noisy colours in the first
epoch, and that "the model did not diverge during 10 epochs of training": the
conditioned D "is stabler".
"""

from __future__ import annotations

from dataclasses import dataclass

import colorbench
from colorbench.methods.wan2019 import WanGAN, WanGANConfig


@dataclass
class WanUNetCGANConfig(WanGANConfig):
    d_input_noise: float = 0.05  # std of the noise on the gray image D sees (§3.4; amount not given)


class WanUNetCGAN(WanGAN):
    name = "wan_unet_cgan"
    description = "Wan's §3.4: U-Net G in RGB with bottleneck noise, PatchGAN conditioned on the (noised) gray image, cGAN loss only"
    paper = (
        'Wan 2019 §3.4: Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative '
        'adversarial networks", HKUST, 2019, §3.4 (U-Net with conditioned discriminator, noise §3.3.1)'
    )
    Config = WanUNetCGANConfig
    conditioned = True


@colorbench.hookimpl
def register_colorizers(register):
    register(WanUNetCGAN)
