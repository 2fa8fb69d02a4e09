"""Oracle colour-histogram cGAN: a pix2pix U-Net cGAN in Lab told which colours to use (a hint-based option).

Not a paper's method: Wan (2019) §4.1's proposal, a histogram predicted from
the gray image by a classifier, is class_histogram_gan. This one is given the
histogram of a reference image and, in the benchmark, of the ground truth
itself, so it measures what a perfect colour hint is worth. Results mark it
hint-based and the board shows it apart from the automatic methods.

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019 (the idea, §4.1).

| the paper says | colorbench does | why |
|---|---|---|
| §4.1: "incorporate the color histogram of similar images into the latent variable in the bottleneck of the 'encoder-decoder' styled generator" | the ab histogram of a reference image at the 1x1 bottleneck of a pix2pix U-Net (Lab, L1) | deliberate: an upper bound for histogram conditioning, on the U-Net of the 2019 version of unet_cgan |
| §4.1: the histogram is "a weighted color histogram among the classes predicted by the classifier" | the reference's own histogram: in training the ground truth's, when colourizing `colorize --reference IMG`, in the benchmark the ground truth's (an oracle) | deliberate: this is the oracle option; the paper's version is class_histogram_gan |
| §4.1: "the color histogram in the ab space of the L*a*b* color space" | ab over [-1, 1]^2 (normalised), 10 x 10 equal cells, row-major (a, then b), summing to 1, times the number of cells | the binning is not given: 100 dimensions, the size of the noise vector it replaces; times bins^2 so each input has mean 1 like unit-variance noise (summing to 1, G learned from them 5x slower in a test of 30 steps) |
| §3.4: D conditioned on the gray image, with noise on it | a PatchGAN on (L + N(0, 0.05^2), ab) | as the 2019 unet_cgan this was built on |
| Eq. 3: no L1 to the true colours | vanilla cGAN loss + 100 L1 on ab (pix2pix), D's loss halved; Adam 2e-4, betas (0.5, 0.999) | deliberate: a pix2pix model, trained as unet_cgan's version 1 |
| - | no noise vector: the histogram takes its place (`z_dim` must stay 0); deterministic for a given reference | with the colours given, little ambiguity is left for noise |
| - | one reference (a batch of one) serves every image of a batch, as `colorize --reference` does; otherwise references pair with images | - |

Profiles: `smoke` (tests); `quick`: 200 steps at batch 16 (minutes on two CPU
cores); `full`: 78,000 steps at batch 128 (about 200 epochs of CIFAR-10's
50,000 images; no paper fixes this option's scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.methods.histograms import ab_histogram
from colorbench.methods.networks import UNet


@dataclass
class HistogramCGANConfig(GANConfig):
    z_dim: int = 0  # no noise: the histogram is G's whole bottleneck code (see above)
    hist_bins: int = 10  # cells per ab axis: the code has hist_bins^2 dimensions
    d_input_noise: float = 0.05  # std of the noise on the L that D sees (Wan)


class HistogramCGAN(GANColorizer):
    name = "histogram_cgan"
    description = "Oracle hint: pix2pix U-Net cGAN in Lab given a reference's ab colour histogram at the bottleneck, cGAN + 100 L1"
    paper = (
        'oracle hint, no paper (idea from Wan 2019 §4.1): Ching Pui Wan, "A Survey on Colorization with cGAN: '
        'study report on conditional generative adversarial networks", HKUST, 2019'
    )
    stochastic = False
    hint = "colour histogram of a reference image (default: the ground truth itself: an oracle hint)"
    Config = HistogramCGANConfig
    profiles = PIX2PIX_PROFILES
    d_channels = 3  # L and ab

    def build_generator(self):
        c = self.config
        if c.z_dim:
            raise ValueError(f"{self.name} takes no bottleneck noise (z_dim = {c.z_dim}): its code is the colour histogram")
        return UNet(size=self.size, in_channels=1, out_channels=2, ngf=c.ngf, z_dim=c.hist_bins**2)

    def code(self, L, ab_hint, noise):
        """The ab histogram of the hint (the ground truth in training, the reference when
        colourizing), scaled by bins^2: a density relative to the uniform histogram."""
        if ab_hint is None:
            raise ValueError(f"{self.name} needs a reference's ab: {self.hint}")
        bins = self.config.hist_bins
        hist = ab_histogram(ab_hint.to(L.device), bins) * bins**2
        if len(hist) == 1 and len(L) > 1:
            hist = hist.expand(len(L), -1)  # one reference for the whole batch
        elif len(hist) != len(L):
            raise ValueError(f"{len(hist)} references for {len(L)} images: give one, or one per image")
        return hist

    def d_input(self, L, ab):
        return torch.cat([L + self.config.d_input_noise * torch.randn_like(L), ab], dim=1)


@colorbench.hookimpl
def register_colorizers(register):
    register(HistogramCGAN)
