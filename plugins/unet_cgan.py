"""U-Net conditional GAN as Stancu (2023) ran it: pix2pix for colourization, in Lab, with L1.

Diana-Elena Stancu, "Lab 5-8" (a report on image colourization with a cGAN,
published on GitHub), November 2023; after Isola et al., "Image-to-Image
Translation with Conditional Adversarial Networks" (pix2pix), 2017, which the
report reproduces ("the approached architecture will be reproduced").

This is colorbench's main job (`colorbench run --plugin unet_cgan`). Wan (2019)'s
§3.4 model, the U-Net cGAN in RGB without L1, is wan_unet_cgan.

| the paper says | colorbench does | why |
|---|---|---|
| §4.2: Lab; "the grayscale image (L channel) serves as the input, and the model is tasked with predicting the remaining two channels (a, b)" | L -> ab, joined with the input's L | same |
| §4.3: "The discriminator [...] concatenating the two produced channels with the original grayscale image" | a PatchGAN on (L, ab) | same; D's layers ("stacked Convolutional-Batch Normalization-Leaky ReLU blocks", §4.4) are pix2pix's PatchGAN |
| §4.3, Eq. 1-3: cGAN loss + lambda L1, "the discriminator loss does not incorporate the L1 loss" | vanilla cGAN loss + 100 L1 on ab; D's loss halved | lambda is not given: pix2pix's 100 and its halved D loss |
| §4.3: noise z in G(x, z) | pix2pix's noise: dropout (0.5) in the first 3 decoder blocks, in training and when colourizing, its masks drawn from the caller's seed; no bottleneck vector | the report does not say how z enters; pix2pix, which it reproduces, gives "noise only in the form of dropout [...] at both training and test time" |
| §4.4: "the generator is implemented based on a U-Net architecture" | pix2pix's U-Net: 4x4 stride-2 blocks down to 1x1 and back, skips between mirrored layers, tanh out | same |
| silent on optimiser | Adam 2e-4, betas (0.5, 0.999), for G and D | pix2pix's |
| §5: "a subset of approximately 6000 photos from the extensive COCO dataset", "approximately 90 epochs", PSNR 16.21 | `full`: 33,750 steps at batch 16 (90 epochs of 6,000 images) | the epochs and data are the report's; the batch and size are not given: 16 and 256 px (pix2pix's size) are ours |
| - | batch norm in eval mode when colourizing | deliberate: an image's colours do not depend on its batch (pix2pix used batch 1 at test time) |

Profiles: `smoke` (tests); `quick`: 200 steps at batch 16 (minutes on two CPU
cores); `full`: the report's scale, about 6,000 COCO 2017 photos (`--dataset
folder --data-dir` a folder of them, `--size 256`), 90 epochs at batch 16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.methods.networks import UNet


@dataclass
class UNetCGANConfig(GANConfig):
    z_dim: int = 0  # no bottleneck vector: pix2pix's noise is dropout
    dropout: float = 0.5  # pix2pix: the first 3 decoder blocks, in training and at test time


class UNetCGAN(GANColorizer):
    name = "unet_cgan"
    version = "2"  # 2: as Stancu ran it: pix2pix's dropout noise, no bottleneck vector, no noise on D's L (1 mixed in Wan's)
    description = "pix2pix U-Net cGAN in Lab (Stancu 2023): dropout noise, PatchGAN on (L, ab), cGAN + 100 L1"
    paper = (
        'Stancu 2023: Diana-Elena Stancu, "Lab 5-8", November 2023 (image colourization with a cGAN); after '
        'Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", 2017 (pix2pix)'
    )
    Config = UNetCGANConfig
    profiles = PIX2PIX_PROFILES | {"full": dict(steps=33_750, batch_size=16)}  # §5: about 90 epochs of about 6,000 COCO photos
    d_channels = 3  # L and ab

    def build_generator(self):
        c = self.config
        return UNet(size=self.size, in_channels=1, out_channels=2, ngf=c.ngf, z_dim=c.z_dim, dropout=c.dropout)

    def d_input(self, L, ab):
        return torch.cat([L, ab], dim=1)

    def predict(self, L, noise, reference=None):
        return self.nets["G"](L, self.code(L, reference, noise), noise)  # dropout masks drawn from the caller's seed


@colorbench.hookimpl
def register_colorizers(register):
    register(UNetCGAN)
