"""Colour-histogram conditional GAN: Wan (2019) §4.1 (a U-Net cGAN told which colours to use).

Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional
generative adversarial networks", HKUST, 2019.

What it follows:
- Generator (Wan §4.1, on §3.4's U-Net): L -> ab, pix2pix's U-Net, with a
  colour histogram concatenated at the 1x1 bottleneck where unet_cgan puts its
  noise. The histogram is of ab over the normalised ab square [-1, 1]^2, cut
  into ``hist_bins`` x ``hist_bins`` equal cells, flattened row-major (a, then
  b), normalised to sum to 1 per image, then multiplied by the number of cells
  (see below).
- Where the histogram comes from: in training, the ground truth's own ab (the
  generator learns to colour with the colours it is given); when colourizing,
  a reference image's ab (`colorize --reference IMG`). The benchmark's
  evaluation hands a `hint` method the ground truth as its reference, so its
  scores are those of an oracle hint and results mark it as hint-based: they
  do not compare with automatic methods' on equal terms.
- Discriminator, loss and optimiser as unet_cgan (Wan §3.4; Stancu 2023): a
  PatchGAN on L (plus Gaussian noise of std 0.05, as Wan does) and ab;
  vanilla cGAN loss + lambda * L1 with lambda = 100, D's loss halved; Adam,
  2e-4, betas (0.5, 0.999) for G and D.

What it changes, and why:
- No noise: the histogram takes the noise's place at the bottleneck (`z_dim`
  must stay 0), so the method is deterministic for a given reference. With the
  colours given, little ambiguity is left for noise to express, and pix2pix
  found its generator learns to ignore bottleneck noise anyway.
- 10 x 10 bins (22 CIE units a side), so the code has 100 dimensions, the size
  of unet_cgan's noise vector: the two generators have the same shape and
  differ only in what their code says. The paper's binning could not be
  checked; this one is ours. The histogram is a hard (non-differentiable)
  count: it is computed from data, never from G's output.
- G gets the histogram times the number of cells (bins^2): a density relative
  to the uniform histogram, mean 1 per dimension like the unit-variance noise
  it replaces. Summing to 1, each of 100 inputs is ~0.01 and G learns to use
  them slowly: taught to paint one L with either of two colours that only the
  histogram tells apart, after 30 Adam steps its colours moved 10% of the way
  from one to the other; scaled, 50%.
- A single reference (batch of one) is used for every image of a batch, as
  `colorize --reference` does; otherwise references pair with images.
- Depth follows the working size, batch norm runs in eval mode when
  colourizing, and the profiles match unet_cgan's: `smoke` (tests), `quick`
  (minutes on two CPU cores), `full` (about 200 epochs of CIFAR-10's 50,000
  images at batch 128, the paper's scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import colorbench
from colorbench.methods.gan import GANColorizer, GANConfig, PIX2PIX_PROFILES
from colorbench.methods.networks import UNet


def ab_histogram(ab: torch.Tensor, bins: int) -> torch.Tensor:
    """Normalised ab (B, 2, H, W) -> (B, bins * bins) histograms, each summing to 1.

    Cells split [-1, 1]^2 evenly; the index is a_cell * bins + b_cell, and values
    outside the square count in the edge cells."""
    cells = ((ab.detach() + 1) / 2 * bins).floor().clamp(0, bins - 1).long()  # (B, 2, H, W)
    index = (cells[:, 0] * bins + cells[:, 1]).flatten(1)  # (B, H * W)
    counts = torch.zeros(len(ab), bins * bins, device=ab.device).scatter_add_(1, index, torch.ones_like(index, dtype=torch.float))
    return counts / index.shape[1]


@dataclass
class HistogramCGANConfig(GANConfig):
    z_dim: int = 0  # no noise: the histogram is G's whole bottleneck code (see above)
    hist_bins: int = 10  # cells per ab axis: the code has hist_bins^2 dimensions
    d_input_noise: float = 0.05  # std of the noise on the L that D sees (Wan)


class HistogramCGAN(GANColorizer):
    name = "histogram_cgan"
    description = "U-Net cGAN with a reference's ab colour histogram at the bottleneck, PatchGAN on L, cGAN + 100 L1"
    paper = (
        'Ching Pui Wan, "A Survey on Colorization with cGAN: study report on conditional generative adversarial '
        'networks", HKUST, 2019, §4.1 (colour-histogram conditioning of §3.4\'s U-Net cGAN)'
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
