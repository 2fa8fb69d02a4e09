"""Colourize a test set and score it: the one evaluation contract for every method.

The ground truth is quantised to 8 bits first (it is an image), its L is what
the method sees, the predicted ab is joined with that same L, and both images
are compared as 8-bit sRGB. Ground-truth images with no chroma at all (R = G = B
everywhere) are left out and counted: against a zero-chroma output their PSNR
is infinite.
"""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader

from colorbench import metrics
from colorbench.colorizer import Colorizer
from colorbench.lab import normalized_to_rgb, rgb_to_normalized


def is_gray(rgb_u8: torch.Tensor) -> torch.Tensor:
    """(B,) True where an image has R = G = B at every pixel."""
    return ((rgb_u8[:, 0] == rgb_u8[:, 1]) & (rgb_u8[:, 1] == rgb_u8[:, 2])).flatten(1).all(1)


@torch.no_grad()
def evaluate(colorizer: Colorizer, test_set, *, seed: int = 0, batch_size: int = 64) -> dict:
    """Per-image scores, their means, and what was left out."""
    device = colorizer.device
    per_image: dict[str, list] = {"id": [], **{k: [] for k in metrics.PER_IMAGE}}
    excluded: list[str] = []
    start = time.perf_counter()
    for i, (rgb, ids) in enumerate(DataLoader(test_set, batch_size=batch_size)):
        gt = metrics.to_uint8(rgb.to(device))
        gray = is_gray(gt).cpu()
        excluded += [image_id for image_id, g in zip(ids, gray) if g]
        gt = gt[~gray.to(device)]
        if not len(gt):
            continue
        L, ab_true = rgb_to_normalized(gt.float() / 255)
        # a hint-based method is handed the ground truth itself: an oracle hint
        reference = ab_true if colorizer.hint else None
        ab = colorizer.colorize(L, n_samples=1, seed=seed + i, reference=reference)[0]
        pred = metrics.to_uint8(normalized_to_rgb(L, ab))
        per_image["id"] += [image_id for image_id, g in zip(ids, gray) if not g]
        for name, values in metrics.score(gt, pred).items():
            per_image[name] += values.tolist()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if not per_image["id"]:
        from colorbench.errors import UserError

        raise UserError("every test image is grayscale (R = G = B): nothing to score colourization on")
    return {
        "metrics": metrics.summarize(per_image),
        "per_image": per_image,
        "scored": len(per_image["id"]),
        "excluded": {"count": len(excluded), "ids": excluded, "reason": "ground truth has no chroma (R = G = B)"},
        "seconds": round(seconds, 3),
    }
