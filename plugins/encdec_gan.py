"""Encoder-decoder GAN: Wan (2019) §3.1, the baseline of its ablation; §3.2's regulariser as an option.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

With unet_gan (§3.3) and wan_unet_cgan (§3.4) it forms Wan's ablation; the three
share `colorbench.methods.wan2019` (RGB output, the objective, the budget) and
differ only in the skip connections and in what D sees.

| the paper says | colorbench does | why |
|---|---|---|
| §3: "reconstruct the RGB space from these grayscale images. The conventional L*a*b* [...] was not used" | G outputs RGB (3 channels, tanh); D judges RGB; scoring keeps the RGB's ab with the input's L, and also scores the RGB itself (`native_output`) | same; the benchmark's contract is kept and both are recorded |
| §3: gray by Eq. 4, L = 0.2125R + 0.7154G + 0.0721B | G's input is colorbench's gray image, CIE L* | deliberate: every method gets the same input; L* is a function of the CIE luminance Y whose weights Eq. 4 gives (on linear, not gamma-encoded, RGB) |
| §3.1: "encoder-decoder structure [...] Convolution-BatchNorm-LeakyReLu blocks in the encoder and Transposed_Convolution-BatchNorm-ReLu blocks in the decoder" | `EncoderDecoder`: 4x4 stride-2 blocks down to 1x1 and back (pix2pix's layers without skips) | same; kernel sizes and widths are not given (Figure A.1 is not in the text): pix2pix's, as for the U-Net |
| §3.1: "An additional noise vector was concatenated with the encoded latent variable [...] in the bottleneck" | a Gaussian vector of 100 at the 1x1 bottleneck; `colorize` draws it from the caller's seed | same; the dimension is not given |
| §3.1: "The colorized image alone was then fed to the discriminator" | a PatchGAN on the RGB output alone | same; D's architecture is not given (pix2pix's PatchGAN) |
| §3.1: "employed the formulation in Equation 3"; Eq. 3's only extra term is l(x, G(x, z)), against the input x | vanilla GAN loss; no L1 to the true colours (`l1_weight` = 0); D's loss halved (pix2pix) | same; the §3.1 model has no regulariser (§3.2 adds it) |
| §3.2: gray of the output by Eq. 4, "compared with the ground truth grayscale image, a Mean Square Error loss"; weighted by "the same learning rate as the generator, and a learning rate of 10 times lower. Adam optimizer was used" | `gray_lr` (off by default): a second Adam over G minimising the MSE between the output's gray and the input's, at `gray_lr` x `lr` (1 or 0.1) | same; gray made as the input's (CIE L*) |
| §3: "Adam, sharing the same learning rate" | Adam 2e-4, betas (0.5, 0.999), for G and D | the rate is not given: pix2pix's |
| §3: "rescaled to 64x64 pixels", "batch size of 64", "at most 10 epochs" on CIFAR-10 | batch 64 in every profile; `full`: 7,820 steps (10 epochs of 50,000 images) | same; the size is the dataset's: `--dataset cifar10 --size 64` for the paper's |
| - | batch norm in eval mode when colourizing | deliberate: an image's colours do not depend on its batch |

Profiles: `smoke` (tests); `quick`: batch 64, 60 steps (minutes on two CPU cores);
`full`: the paper's scale, CIFAR-10 at 64x64 (`--dataset cifar10 --size 64`),
batch 64, 10 epochs (7,820 steps). §3.1 reports that this model's colours "did
not conform with the grayscale image" and that it collapsed "in the later epoch".
"""

from __future__ import annotations

import colorbench
from colorbench.methods.networks import EncoderDecoder
from colorbench.methods.wan2019 import WanGAN


class EncDecGAN(WanGAN):
    name = "encdec_gan"
    version = "2"  # 2: as Wan ran it: RGB output, no L1 to the true colours, batch 64 (1 was pix2pix's Lab + 100 L1)
    description = "Wan's §3.1 baseline: encoder-decoder G (no skips) in RGB with bottleneck noise, PatchGAN on the output alone, GAN loss only"
    paper = (
        'Wan 2019 §3.1: Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative '
        'adversarial networks", HKUST, 2019, §3.1 (encoder-decoder GAN); §3.2 gray regulariser, optional'
    )
    generator = EncoderDecoder  # no skip connections


@colorbench.hookimpl
def register_colorizers(register):
    register(EncDecGAN)
