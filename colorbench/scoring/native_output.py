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


def summarize(values: dict[str, list[float]], *, seed: int = bootstrap.SEED) -> dict:
    """The result's ``native_output`` section: means with their 95 % intervals."""
    means = {name: float(torch.tensor(v, dtype=torch.float64).mean()) for name, v in values.items()}
    return {"space": SPACE, "metrics": means, "ci95": bootstrap.intervals(values, seed=seed), "definition": DEFINITION}
