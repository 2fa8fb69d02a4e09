"""Scores of a method's own output, for a method that reconstructs RGB (Wan 2019).

The benchmark scores every method the same way: its ab, joined with the input's
L. A network that outputs RGB can also change the lightness, and whether its
colours "conform with the grayscale image" (Wan 2019, §3.1) is what its own RGB
shows and the contract hides. So a result records both: the contract's metrics,
and these, of G's RGB as it came out (8-bit sRGB, as every scored image):

- ``psnr``: PSNR of that RGB against the ground truth;
- ``lightness_error``: mean |L*(output) - L*(input)| over pixels, in CIE L* units
  (0: the output keeps the gray image's lightness exactly).
"""

from __future__ import annotations

import math

import torch

from colorbench.lab import lightness
from colorbench.scoring import bootstrap, metrics

SPACE = "rgb"
DEFINITION = (
    "the method's own RGB output, 8-bit sRGB, before the contract keeps its ab: psnr against the ground truth; "
    "lightness_error = mean |L*(output) - L*(ground truth)| over pixels (CIE units)"
)


def per_image(gt_u8: torch.Tensor, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B,) scores of one batch: ground truth and the method's RGB in [0, 1]."""
    out_u8 = metrics.to_uint8(rgb)
    drift = (lightness(out_u8) - lightness(gt_u8)).abs().flatten(1).mean(1)
    return {"psnr": metrics.psnr(gt_u8, out_u8), "lightness_error": drift}


def stored(values: list[float]) -> list[float | None]:
    """Per-image values as a result stores them: the PSNR of an output identical to its
    truth (+inf) as null, left out of the mean, as the contract's PSNR is."""
    return [v if math.isfinite(v) else None for v in values]


def summarize(values: dict[str, list[float]], *, seed: int = bootstrap.SEED, units: list[str] | None = None) -> dict:
    """The result's ``native_output`` section: means (of the finite values) with their 95 % intervals
    (``units``: each image's photo, resampled together)."""
    kept = {name: stored(v) for name, v in values.items()}
    means = {name: math.fsum(f := [x for x in v if x is not None]) / len(f) for name, v in kept.items() if any(x is not None for x in v)}
    return {"space": SPACE, "metrics": means, "ci95": bootstrap.intervals({n: kept[n] for n in means}, seed=seed, units=units), "definition": DEFINITION}
