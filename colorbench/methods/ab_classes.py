"""Colour as classes: ab quantised into the bins of Zhang, Isola and Efros, "Colorful Image
Colorization" (ECCV 2016), soft-encoded targets, class rebalancing and the annealed mean.

Everything here works in CIE ab units (normalised ab times `colorbench.lab.AB_SCALE`), as the
paper states its grid (10), kernel widths (σ = 5) and bins. Ports of a classification
colouriser to other bins or another dataset share this; plugins/zhang_eccv16.py is its user.

The bins: the points of the 10-unit grid that are needed to cover the sRGB gamut, that is the
four corners of every grid square holding an sRGB colour (every in-gamut colour then lies inside
a square of bins). In colorbench's Lab conversion that gives 309 bins, every one of them among the
313 of the authors' ``pts_in_hull.npy`` (richzhang/colorization). The published file holds four
more, in the red-magenta and orange corners, 11 to 13 units beyond the nearest sRGB colour
(by the larger of the a and b distances). Widening the squares by any tolerance, or taking
another white point, never gives exactly the published set (and the bins whose own square, centred
on them, holds an sRGB colour are only 262), so the four are added by name (`PUBLISHED_EXTRA`):
Q = 313, in the published order (by a, then b), so class q is the same colour as in the authors'
models.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from colorbench.lab import rgb_to_lab

GRID = 10.0  # ab units between bin centres (§2: "grid size 10")
PUBLISHED_EXTRA = ((40, 90), (100, -90), (100, -10), (100, 0))  # in pts_in_hull.npy, beyond the sRGB squares
GAMUT_SAMPLES = 257  # per side of each face of the RGB cube: the gamut's ab outline is the faces'


@functools.cache
def srgb_square_corners(grid: float = GRID) -> torch.Tensor:
    """Grid points (K, 2), in CIE ab, that are corners of a grid square holding an sRGB colour.

    The ab projection of the sRGB solid is the projection of its surface, so the faces of the
    RGB cube, sampled finely, find every square (the same set as all 16.7M 8-bit colours)."""
    t = torch.linspace(0, 1, GAMUT_SAMPLES, dtype=torch.float64)
    u, v = (x.flatten() for x in torch.meshgrid(t, t, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, torch.full_like(u, value))
            faces.append(torch.stack(channels))
    ab = rgb_to_lab(torch.cat(faces, dim=1).unsqueeze(-1))[1:, :, 0].T  # (N, 2)
    cell = torch.floor(ab / grid).long() + 1000  # lower-left corners, made positive for one key
    squares = torch.unique(cell[:, 0] * 10_000 + cell[:, 1])
    low = torch.stack([squares // 10_000, squares % 10_000], dim=1) - 1000
    corners = torch.cat([low + torch.tensor(step) for step in ((0, 0), (0, 1), (1, 0), (1, 1))])
    return _sorted(torch.unique(corners, dim=0).double() * grid)


@functools.cache
def gamut_bins() -> torch.Tensor:
    """The Q = 313 bin centres (Q, 2) in CIE ab, ordered by a, then b (the published order)."""
    extra = torch.tensor(PUBLISHED_EXTRA, dtype=torch.float64)
    return _sorted(torch.unique(torch.cat([srgb_square_corners(), extra]), dim=0))


def _sorted(points: torch.Tensor) -> torch.Tensor:
    key = points[:, 0] * 1e4 + points[:, 1]
    return points[key.argsort()]


def nearest_bins(ab: torch.Tensor, bins: torch.Tensor, k: int = 1, chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices), each (N, k): the ``k`` bins nearest each ab point (N, 2), nearest first."""
    found = [torch.cdist(part, bins).topk(k, dim=1, largest=False) for part in ab.split(chunk)]
    return torch.cat([d for d, _ in found]), torch.cat([i for _, i in found])


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, *, neighbours: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """ab (B, 2, H, W) in CIE units -> targets Z (B, Q, H, W): the ``neighbours`` nearest bins,
    weighted by a Gaussian of their distance (width ``sigma``), summing to 1 at each pixel (§2.1)."""
    B, _, H, W = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2).to(bins.dtype)
    distances, indices = nearest_bins(points, bins, neighbours)
    weights = torch.softmax(-distances.square() / (2 * sigma**2), dim=1)  # exp(-d²/2σ²), normalised
    Z = torch.zeros(len(points), len(bins), dtype=ab.dtype, device=ab.device).scatter_(1, indices, weights.to(ab.dtype))
    return Z.view(B, H, W, -1).permute(0, 3, 1, 2)


def bin_counts(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """How many of the ab points (N, 2) fall nearest each bin: (Q,), float64."""
    _, nearest = nearest_bins(ab.to(bins.dtype), bins)
    return torch.bincount(nearest.flatten(), minlength=len(bins)).double()


def smoothed_distribution(counts: torch.Tensor, bins: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """The empirical distribution over the bins, smoothed by a Gaussian kernel of width ``sigma``
    (ab units) between bin centres, and normalised over the bins: p̃ of Eq. 4."""
    kernel = torch.exp(-torch.cdist(bins, bins).square() / (2 * sigma**2))
    smoothed = kernel @ (counts / counts.sum())
    return smoothed / smoothed.sum()


def rebalancing_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Eq. 4: w ∝ ((1 - λ) p̃ + λ / Q)^-1, normalised so that E_p̃[w] = Σ_q p̃_q w_q = 1."""
    w = 1.0 / ((1 - lam) * prior + lam / len(prior))
    return w / (prior * w).sum()


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, T: float = 0.38) -> torch.Tensor:
    """Eq. 5: the mean of f_T(z) = exp(log z / T) / Σ_q exp(log z_q / T), z = softmax(logits),
    over the class dim (1): logits (B, Q, H, W) -> ab (B, 2, H, W) in CIE units. f_T(softmax(x))
    is softmax(x / T): T = 1 gives the mean, T -> 0 the mode."""
    probs = torch.softmax(logits / T, dim=1)
    return torch.einsum("bqhw,qc->bchw", probs, bins.to(probs.dtype))


class ABClasses(nn.Module):
    """The bins and the training data's smoothed colour distribution, as buffers, so a
    checkpoint carries them and a loaded model needs no data. The prior is uniform until
    `set_prior` is given the training data's colours."""

    def __init__(self):
        super().__init__()
        bins = gamut_bins().float()
        self.register_buffer("bins", bins)
        self.register_buffer("prior", torch.full((len(bins),), 1.0 / len(bins)))

    def set_prior(self, counts: torch.Tensor, sigma: float) -> None:
        self.prior.copy_(smoothed_distribution(counts, self.bins.double(), sigma))
