"""Colourize a test set and score it: the one evaluation contract for every method.

The ground truth is quantised to 8 bits first (it is an image), its L is what
the method sees, the predicted ab is joined with that same L, and both images
are compared as 8-bit sRGB. Ground-truth images with no chroma at all (R = G = B
everywhere) are left out and counted: against a zero-chroma output their PSNR
is infinite.

Every metric is computed in batches on the method's device; the means come with
bootstrap 95% intervals over images (`colorbench.scoring.bootstrap`). A stochastic
method is scored on its first sample (the same one ``n_samples=1`` gives) and
k samples per image measure its diversity (`colorbench.scoring.diversity`).
"""

from __future__ import annotations

import math
import time

import torch
from torch.utils.data import DataLoader

from colorbench.scoring import bootstrap, diversity, lpips_metric, metrics
from colorbench.methods.colorizer import Colorizer
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized

GRAY_REASON = "ground truth has no chroma (R = G = B)"
IDENTICAL_REASON = "prediction identical to the ground truth: PSNR is +inf, left out of the PSNR mean"
BATCH_SIZE = 64  # test images per step; on a CPU, small enough for the metrics to work in cache
SAMPLE_BYTES = 96
"""Memory one sample of one test pixel takes while diversity is measured (ab in
float32 and float64, RGB in float and 8 bits, LPIPS's inputs): about 80 bytes
measured at 64 px, rounded up. k samples of a batch take k x that x its pixels."""


def is_gray(rgb_u8: torch.Tensor) -> torch.Tensor:
    """(B,) True where an image has R = G = B at every pixel."""
    return ((rgb_u8[:, 0] == rgb_u8[:, 1]) & (rgb_u8[:, 1] == rgb_u8[:, 2])).flatten(1).all(1)


@torch.no_grad()
def grayscale_ids(test_set, *, batch_size: int = BATCH_SIZE) -> list[str]:
    """The ids of the test images `evaluate` leaves out (no chroma at all), found
    the way it finds them: known before training, not after it."""
    gray = []
    for rgb, ids in DataLoader(test_set, batch_size=batch_size):
        gray += [image_id for image_id, g in zip(ids, is_gray(metrics.to_uint8(rgb))) if g]
    return gray


def lpips_possible(height: int, width: int) -> bool:
    from colorbench.scoring.lpips_metric import MIN_SIZE

    return min(height, width) >= MIN_SIZE


def summarize_scores(per_image: dict[str, list], *, seed: int = bootstrap.SEED) -> dict:
    """Per-image values (PSNR inf/None for identical images) -> the result's
    ``metrics`` (means), ``ci95`` ({name: [low, high]}) and what was left out of a mean.

    ``per_image`` is modified in place: infinities become None, for JSON."""
    ids = per_image["id"]
    identical = [i for i, v in zip(ids, per_image["psnr"]) if v is None or not math.isfinite(v)]
    for name in metrics.PER_IMAGE:
        if name in per_image:
            per_image[name] = metrics.finite_or_none(per_image[name])
    means = metrics.summarize(per_image)
    columns = {name: per_image[name] for name in metrics.PER_IMAGE if name in per_image}
    ci = bootstrap.intervals(
        columns,
        {"delta_colourfulness": lambda m: abs(m["colourfulness"] - m["colourfulness_gt"])},
        seed=seed,
    )
    left_out = {}
    if identical:
        left_out["psnr"] = {"count": len(identical), "ids": identical, "reason": IDENTICAL_REASON}
    if "lpips" not in per_image:
        means["lpips"], ci["lpips"] = None, None
    return {"metrics": means, "ci95": {name: ci.get(name) for name in means}, "left_out_of_mean": left_out}


@torch.no_grad()
def evaluate(
    colorizer: Colorizer, test_set, *, seed: int = 0, batch_size: int = BATCH_SIZE, n_samples: int = 8
) -> dict:
    """Per-image scores, their means and intervals, diversity, and what was left out.

    ``n_samples`` (k) is the number of samples per image for a stochastic
    method's diversity; the metrics use the first sample."""
    device = colorizer.device
    per_image: dict[str, list] = {"id": []}
    spread: dict[str, list] = {}
    excluded: list[str] = []
    no_lpips_reason = lpips_metric.unavailable(device)  # offline without weights: scored without LPIPS
    k = n_samples if colorizer.stochastic and n_samples >= 2 else 1
    start = time.perf_counter()
    for i, (rgb, ids) in enumerate(DataLoader(test_set, batch_size=batch_size)):
        gt = metrics.to_uint8(rgb.to(device))
        gray = is_gray(gt).cpu()
        excluded += [image_id for image_id, g in zip(ids, gray) if g]
        gt = gt[~gray.to(device)]
        if not len(gt):
            continue
        with_lpips = lpips_possible(*gt.shape[-2:]) and no_lpips_reason is None
        if not with_lpips and no_lpips_reason is None:
            no_lpips_reason = f"test images of {tuple(gt.shape[-2:])} pixels: LPIPS (AlexNet) needs at least 31x31"
        # a hint-based method is handed the ground truth itself: an oracle hint
        L, reference = rgb_to_normalized(gt) if colorizer.hint else (normalized_lightness(gt), None)
        samples = colorizer.colorize(L, n_samples=k, seed=seed + i, reference=reference)
        pred = metrics.to_uint8(normalized_to_rgb(L, samples[0]))
        per_image["id"] += [image_id for image_id, g in zip(ids, gray) if not g]
        for name, values in metrics.score(gt, pred, with_lpips=with_lpips).items():
            per_image.setdefault(name, []).extend(values.tolist())
        if k >= 2:
            for name, values in diversity.per_image(L, samples, with_lpips=with_lpips).items():
                spread.setdefault(name, []).extend(values.tolist())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if not per_image["id"]:
        from colorbench.errors import UserError

        raise UserError("every test image is grayscale (R = G = B): nothing to score colourization on")
    if no_lpips_reason:  # never a mean over only some of the images
        per_image.pop("lpips", None)
        spread.pop("lpips", None)
    summary = summarize_scores(per_image, seed=bootstrap.SEED)
    if not colorizer.stochastic:
        diverse = diversity.not_applicable("deterministic method: every sample is the same prediction")
    elif k < 2:
        diverse = diversity.not_applicable(f"{n_samples} sample(s) per image requested; diversity needs at least 2")
    else:
        diverse = diversity.summarize(spread, k, seed=bootstrap.SEED)
        per_image |= {f"diversity_{name}": values for name, values in spread.items()}
    seconds = time.perf_counter() - start
    return {
        **summary,
        "per_image": per_image,
        "diversity": diverse,
        "not_computed": {"lpips": no_lpips_reason} if no_lpips_reason else {},
        "scored": len(per_image["id"]),
        "excluded": {"count": len(excluded), "ids": excluded, "reason": GRAY_REASON},
        "seconds": round(seconds, 3),
    }
