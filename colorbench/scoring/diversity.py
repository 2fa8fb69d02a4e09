"""Sample diversity of a stochastic colourizer: do different noises give different colours?

For each test image the method draws k samples (k noises, one seeded
generator). Two numbers per image, then their means over images:

- ``lpips``: the mean LPIPS v0.1 (alex) over all k(k-1)/2 pairs of samples, as
  8-bit sRGB images (the same L, each sample's ab);
- ``ab_std``: the standard deviation of the predicted a and b across the k
  samples (population std, CIE ab units, before gamut clipping), averaged over
  pixels and both channels.

A stochastic method whose samples barely differ ignores its noise (the mode
collapse Wan (2019) describes: pix2pix's generator learns to ignore z). It is
flagged ``noise_ignored`` when the mean pairwise LPIPS is below
`NOISE_IGNORED_LPIPS` (0.01: a fraction of the LPIPS of JPEG-level artefacts; two
samples differing only by 8-bit rounding score ~1e-4). Where LPIPS cannot be
computed (images under 31 pixels) the flag falls back to ``ab_std`` below
`NOISE_IGNORED_AB_STD` CIE units.

A deterministic method has no diversity to measure: it is reported as not
applicable, with the reason, never as 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from colorbench.lab import AB_SCALE, normalized_to_rgb

NOISE_IGNORED_LPIPS = 0.01
NOISE_IGNORED_AB_STD = 0.5
SAMPLES = {"smoke": 3, "quick": 8, "full": 8}
"""k, the samples per test image, by profile."""

RULE = (
    f"noise_ignored when the mean pairwise LPIPS between samples is below {NOISE_IGNORED_LPIPS} "
    f"(or, without LPIPS, the mean ab std across samples is below {NOISE_IGNORED_AB_STD} CIE units)"
)


def not_applicable(reason: str) -> dict:
    return {"applicable": False, "reason": reason}


def samples_for(profile: str) -> int:
    return SAMPLES.get(profile, SAMPLES["quick"])


@torch.no_grad()
def per_image(L: Tensor, ab_samples: Tensor, *, with_lpips: bool = True) -> dict[str, Tensor]:
    """{"lpips": (B,), "ab_std": (B,)} for samples ab (k, B, 2, H, W) of inputs L (B, 1, H, W)."""
    from colorbench.scoring.metrics import to_uint8

    k = ab_samples.shape[0]
    if k < 2:
        raise ValueError("diversity needs at least two samples per image")
    ab_cie = ab_samples.double() * AB_SCALE
    found = {"ab_std": ab_cie.std(dim=0, correction=0).mean(dim=(1, 2, 3))}
    if with_lpips:
        from colorbench.scoring import lpips_metric

        rgb = to_uint8(normalized_to_rgb(L.unsqueeze(0).expand(k, *L.shape), ab_samples))
        found["lpips"] = lpips_metric.mean_pairwise(rgb)
    return found


def summarize(values: dict[str, list[float]], k: int, *, seed: int = 0, units: list[str] | None = None) -> dict:
    """The diversity section of a result: means, their 95% intervals (``units``:
    each image's photo, resampled together), the flag."""
    from colorbench.scoring import bootstrap

    ci = bootstrap.intervals(values, seed=seed, units=units)
    means = {name: float(torch.tensor(v, dtype=torch.float64).mean()) for name, v in values.items()}
    lpips_mean = means.get("lpips")
    ignored = lpips_mean < NOISE_IGNORED_LPIPS if lpips_mean is not None else means["ab_std"] < NOISE_IGNORED_AB_STD
    return {
        "applicable": True,
        "samples": k,
        "lpips": lpips_mean,
        "lpips_ci95": ci.get("lpips"),
        "ab_std": means["ab_std"],
        "ab_std_ci95": ci["ab_std"],
        "noise_ignored": bool(ignored),
        "rule": RULE,
        "definition": "per image: mean LPIPS v0.1 (alex) over all pairs of its k samples, and the "
        "std of ab across samples (population, CIE units) averaged over pixels and channels; then mean over images",
    }
