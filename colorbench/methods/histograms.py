"""Colour histograms of ab, and the k-means that groups images by them: what the
histogram-conditioned methods share (histogram_cgan, class_histogram_gan)."""

from __future__ import annotations

import torch


def ab_histogram(ab: torch.Tensor, bins: int) -> torch.Tensor:
    """Normalised ab (B, 2, H, W) -> (B, bins * bins) histograms, each summing to 1.

    Cells split [-1, 1]^2 evenly; the index is a_cell * bins + b_cell, and values
    outside the square count in the edge cells."""
    cells = ((ab.detach() + 1) / 2 * bins).floor().clamp(0, bins - 1).long()  # (B, 2, H, W)
    index = (cells[:, 0] * bins + cells[:, 1]).flatten(1)  # (B, H * W)
    counts = torch.zeros(len(ab), bins * bins, device=ab.device).scatter_add_(1, index, torch.ones_like(index, dtype=torch.float))
    return counts / index.shape[1]


def kmeans(points: torch.Tensor, k: int, *, seed: int = 0, iterations: int = 30) -> torch.Tensor:
    """(k, D) centres of ``points`` (N, D): k-means++ seeding (Arthur and Vassilvitskii
    2007) from its own seeded generator, then Lloyd's iterations. A centre left
    without points keeps its place."""
    if len(points) < k:
        raise ValueError(f"{len(points)} points cannot make {k} clusters")
    rng = torch.Generator().manual_seed(seed)
    centres = points[torch.randint(len(points), (1,), generator=rng)]
    while len(centres) < k:
        d2 = torch.cdist(points, centres).min(1).values.pow(2)
        pick = torch.multinomial(d2 if d2.sum() > 0 else torch.ones_like(d2), 1, generator=rng)
        centres = torch.cat([centres, points[pick]])
    for _ in range(iterations):
        nearest = torch.cdist(points, centres).argmin(1)
        counts = torch.bincount(nearest, minlength=k).unsqueeze(1)
        sums = torch.zeros_like(centres).index_add_(0, nearest, points)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    return centres
