"""U-Net GAN: Wan (2019) §3.3, the §3.1 baseline with skip connections.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

Everything but the generator is encdec_gan's (`colorbench.methods.wan2019`: RGB
output, GAN loss only, batch 64, the budget); see encdec_gan for those rows.

| the paper says | colorbench does | why |
|---|---|---|
| §3.3: "add skip-connections to the encoder-decoder structure by stacking the states in the previous layer" | `UNet`: `EncoderDecoder` with each up block also taking its mirror's features | same (the layers are pix2pix's: Figure A.1 is not in the text) |
| §3.3: "the discriminator was kept the same as in the baseline model, feeding the colorized image alone" | a PatchGAN on the RGB output alone | same |
| §3.3: "A noise vector was introduced in the bottleneck" | a Gaussian vector of 100 at the 1x1 bottleneck | same; the dimension is not given |
| §3.3 says nothing of §3.2's regulariser | off (`gray_lr` = 0), available as in encdec_gan | paper silent: the ablation changes one thing at a time |
| §3 scale: 64x64, batch 64, at most 10 epochs of CIFAR-10 | as encdec_gan | same |

Profiles as encdec_gan's. §3.3 reports that this model's colours conform to the
gray image's edges after one epoch, that it "diverged at later epochs" and
"retrained itself", and that the noise made little difference in the first
epochs (§3.3.1).
"""

from __future__ import annotations

import colorbench
from colorbench.methods.wan2019 import WanGAN


class UNetGAN(WanGAN):
    name = "unet_gan"
    version = "2"  # 2: as Wan ran it: RGB output, no L1 to the true colours, batch 64 (1 was pix2pix's Lab + 100 L1)
    description = "Wan's §3.3: U-Net G in RGB with bottleneck noise, PatchGAN on the output alone (not conditioned), GAN loss only"
    paper = (
        'Wan 2019 §3.3: Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative '
        'adversarial networks", HKUST, 2019, §3.3 (U-Net GAN, noise §3.3.1; unconditioned D of §3.1)'
    )


@colorbench.hookimpl
def register_colorizers(register):
    register(UNetGAN)
