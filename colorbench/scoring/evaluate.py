"""Colourize a test set and score it: the one evaluation contract for every method.

The ground truth is quantised to 8 bits first (it is an image), its L is what
the method sees, the predicted ab is joined with that same L, and both images
are compared as 8-bit sRGB. Ground-truth images with no chroma at all (R = G = B
everywhere) are left out and counted: against a zero-chroma output their PSNR
is infinite. Test images larger than the working size (a published protocol's
256 px) are scored at full resolution, as richzhang/colorization does: the
method sees them at its working size, its ab is upsampled and joined with the
full-resolution L (`FULL_RESOLUTION`).

Every registered metric is computed in batches on the method's device by the
scoring core `score` shares (`colorbench.scoring.scorer`); the means come with
bootstrap 95% intervals over images (`colorbench.scoring.bootstrap`). A stochastic
method is scored on its first sample (the same one ``n_samples=1`` gives) and
k samples per image measure its diversity (`colorbench.scoring.diversity`). A
method whose network outputs RGB has that RGB scored too (`native_output`).
"""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader

from colorbench.scoring import bootstrap, diversity, native_output
from colorbench.scoring.metrics import to_uint8
from colorbench.scoring.scorer import Scorer
from colorbench.methods.colorizer import Colorizer
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized

GRAY_REASON = "ground truth has no chroma (R = G = B)"
BATCH_SIZE = 64  # test images per step; on a CPU, small enough for the metrics to work in cache
SAMPLE_BYTES = 96
"""Memory one sample of one test pixel takes while diversity is measured (ab in
float32 and float64, RGB in float and 8 bits, LPIPS's inputs): about 80 bytes
measured at 64 px, rounded up. k samples of a batch take k x that x its pixels."""


def is_gray(rgb_u8: torch.Tensor) -> torch.Tensor:
    """(B,) True where an image has R = G = B at every pixel."""
    return ((rgb_u8[:, 0] == rgb_u8[:, 1]) & (rgb_u8[:, 1] == rgb_u8[:, 2])).flatten(1).all(1)


FULL_RESOLUTION = (
    "ground truth quantised to 8-bit sRGB at the test size {test}x{test}; resized to the working size {size}x{size} "
    "with PIL's bicubic filter on 8 bits, the method sees its L (CIE Lab, D65); its ab is upsampled to {test}x{test} "
    "(bilinear, align_corners=False) and joined with the ground truth's own L, and both images are compared as 8-bit sRGB "
    "at {test}x{test} (richzhang/colorization, colorizers/util.py: preprocess_img, postprocess_tens); diversity is measured "
    "on the samples at the working size"
)
"""How a method is evaluated when the test images are larger than its working size."""


def at_working_size(rgb_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 RGB (B, 3, T, T) -> (B, 3, S, S): the images themselves when T = S, else each
    resized with PIL's bicubic filter, as richzhang/colorization's ``preprocess_img``."""
    if rgb_u8.shape[-1] == size:
        return rgb_u8
    import numpy as np
    from PIL import Image

    small = [np.asarray(Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).resize((size, size), Image.BICUBIC)) for image in rgb_u8]
    return torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2).to(rgb_u8.device)


def upsampled(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, S, S) -> (B, C, size, size), bilinear as richzhang/colorization's
    ``postprocess_tens``; ``x`` itself when it is that size already."""
    if x.shape[-1] == size:
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@torch.no_grad()
def grayscale_ids(test_set, *, batch_size: int = BATCH_SIZE) -> list[str]:
    """The ids of the test images `evaluate` leaves out (no chroma at all), found
    the way it finds them: known before training, not after it."""
    gray = []
    for rgb, ids in DataLoader(test_set, batch_size=batch_size):
        gray += [image_id for image_id, g in zip(ids, is_gray(to_uint8(rgb))) if g]
    return gray


def _test_batches(test_set, batch_size: int, workers: int):
    """The test set's batches in order, read by ``workers`` processes. A user error
    raised in a worker (a test image changed since it was listed) comes back from
    torch as "Caught UserError ... Original Traceback ...": its last line, the error
    itself, is raised instead."""
    from colorbench.errors import UserError

    try:
        yield from DataLoader(test_set, batch_size=batch_size, num_workers=workers)
    except UserError as e:
        message = str(e)
        if not (message.startswith("Caught ") and "Traceback" in message):
            raise
        raise UserError(message.rstrip().splitlines()[-1].split(": ", 1)[-1]) from None


@torch.no_grad()
def evaluate(
    colorizer: Colorizer, test_set, *, seed: int = 0, batch_size: int = BATCH_SIZE, n_samples: int = 8, metrics=None,
    photo_of: dict[str, str] | None = None, workers: int = 0,
) -> dict:
    """Per-image scores, their means and intervals, diversity, and what was left out.

    ``n_samples`` (k) is the number of samples per image for a stochastic
    method's diversity; the metrics use the first sample. ``metrics``: {name: Metric}
    to compute (default: `colorbench.scoring.selection.select`). ``photo_of``:
    {test image id: the photo it is cut from}, when several are crops of one
    photo: intervals resample photos (`colorbench.scoring.bootstrap`). ``workers``:
    processes reading the test images (0: this one); the test set's order, and so
    the numbers, are the same with any count."""
    from colorbench.scoring import selection

    device = colorizer.device
    scorer = Scorer(device, selection.select() if metrics is None else metrics)
    spread: dict[str, list] = {}
    native: dict[str, list] = {}  # scores of a method's own RGB (`native_output`), if it makes one
    excluded: list[str] = []
    k = n_samples if colorizer.stochastic and n_samples >= 2 else 1
    start = time.perf_counter()
    for i, (rgb, ids) in enumerate(_test_batches(test_set, batch_size, workers)):
        gt = to_uint8(rgb.to(device))
        gray = is_gray(gt).cpu()
        excluded += [image_id for image_id, g in zip(ids, gray) if g]
        gt = gt[~gray.to(device)]
        if not len(gt):
            continue
        seen = at_working_size(gt, colorizer.size)  # gt itself unless the test size is larger
        # a hint-based method is handed the ground truth itself: an oracle hint
        L, reference = rgb_to_normalized(seen) if colorizer.hint else (normalized_lightness(seen), None)
        samples = colorizer.colorize(L, n_samples=k, seed=seed + i, reference=reference)
        if seen is gt:
            pred = to_uint8(normalized_to_rgb(L, samples[0]))
        else:  # full resolution: its ab upsampled, joined with the test image's own L
            pred = to_uint8(normalized_to_rgb(normalized_lightness(gt), upsampled(samples[0], gt.shape[-1])))
        scorer.add(gt, pred, [image_id for image_id, g in zip(ids, gray) if not g])
        rgb = colorizer.predict_rgb(L, torch.Generator(device=device).manual_seed(seed + i))  # the first sample's RGB
        if rgb is not None:
            for name, values in native_output.per_image(gt, upsampled(rgb, gt.shape[-1])).items():
                native.setdefault(name, []).extend(values.tolist())
        if k >= 2:
            for name, values in diversity.per_image(L, samples, with_lpips=scorer.computes("lpips")).items():
                spread.setdefault(name, []).extend(values.tolist())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if not scorer.ids:
        from colorbench.errors import UserError

        raise UserError("every test image is grayscale (R = G = B): nothing to score colourization on")
    scores = scorer.finish(seed=bootstrap.SEED, photo_of=photo_of)
    units = [photo_of[i] for i in scores.per_image["id"]] if photo_of else None  # the scored images' photos, in their order
    if "lpips" in scores.not_computed:  # never a mean over only some of the images
        spread.pop("lpips", None)
    per_image = scores.per_image
    if not colorizer.stochastic:
        diverse = diversity.not_applicable("deterministic method: every sample is the same prediction")
    elif k < 2:
        diverse = diversity.not_applicable(f"{n_samples} sample(s) per image requested; diversity needs at least 2")
    else:
        diverse = diversity.summarize(spread, k, seed=bootstrap.SEED, units=units)
        per_image |= {f"diversity_{name}": values for name, values in spread.items()}
    if native:
        per_image |= {f"native_{name}": native_output.stored(values) for name, values in native.items()}
    seconds = time.perf_counter() - start
    return {
        **({"native_output": native_output.summarize(native, units=units)} if native else {}),
        "metrics": scores.metrics,
        "ci95": scores.ci95,
        "left_out_of_mean": scores.left_out_of_mean,
        "per_image": per_image,
        "diversity": diverse,
        "not_computed": scores.not_computed,
        "scored": len(per_image["id"]),
        "excluded": {"count": len(excluded), "ids": excluded, "reason": GRAY_REASON},
        "seconds": round(seconds, 3),
    }
