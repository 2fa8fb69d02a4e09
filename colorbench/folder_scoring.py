"""Score a folder of colourized images against a folder of ground truth.

So that a method that is not a plugin (another lab's code, a web service) gets
the same numbers as `colorbench run`: the same metrics, the same rounding, the
same exclusions, the same intervals.

Pairing: by relative path without the suffix, so ``cat/1.jpg`` in the ground
truth pairs with ``cat/1.png`` among the predictions (outputs are often saved
as PNG whatever the input was); suffixes are matched case-insensitively and
only image files count (other files are ignored). An image is identified by
its ground truth's relative path (as `run` on ``folder:PATH`` names it).

Everything is checked before anything is scored: a missing or extra file, two
files that pair to the same name, an unreadable image or folder, a size
mismatch or an image too small for SSIM (7 px) is listed, and nothing is
scored. Images are scored at their own size (no resizing), batched by size on
the device; an image larger than a batch is scored in tiles
(`colorbench.tiled_scoring`), to the same numbers, so memory stays bounded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from colorbench import metrics, tiled_scoring
from colorbench.datasets import IMAGE_SUFFIXES, image_files
from colorbench.errors import UsageError, UserError

PAIRING_RULE = (
    "ground truth and prediction paired by relative path without the file suffix "
    "(cat/1.jpg pairs with cat/1.png); image ids are the ground truth's relative paths"
)
EVALUATION_RULE = (
    "both images read as 8-bit sRGB by colorbench.imagefile (EXIF orientation applied, transparency over white, "
    "grayscale replicated to RGB) and compared at their own size; no resizing, no Lab round trip; an image over "
    "16 Mpx is scored in tiles that give the whole image's values (PSNR exactly, SSIM and colourfulness to float64 "
    "rounding, LPIPS to float32 rounding: colorbench.tiled_scoring)"
)
_BATCH_PIXELS = 1 << 24  # 16 Mpx per batch, or per tile of a larger image (the rule above names it)


@dataclass
class Problems:
    missing: list[str] = field(default_factory=list)  # ground truth without a prediction
    extra: list[str] = field(default_factory=list)  # prediction without a ground truth
    ambiguous: list[str] = field(default_factory=list)  # two files pairing to one name
    unreadable: list[str] = field(default_factory=list)  # images, and folders that cannot be listed
    size_mismatch: list[str] = field(default_factory=list)
    too_small: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.__dict__.items() if v}

    def count(self) -> int:
        return sum(len(v) for v in self.__dict__.values())

    def summary(self) -> str:
        parts = [f"{len(v)} {k.replace('_', ' ')}" for k, v in self.as_dict().items()]
        return f"{self.count()} problem(s), nothing scored: " + ", ".join(parts)


class ScoreProblems(UserError):
    """The folders cannot be scored as they are; ``problems`` lists why."""

    def __init__(self, problems: Problems):
        super().__init__(problems.summary())
        self.problems = problems


def _images_by_key(root: Path, problems: Problems) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in image_files(root, unreadable=problems.unreadable):
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in found:
            problems.ambiguous.append(f"{found[key]} and {path} both pair as {key!r}")
            continue
        found[key] = path
    return found


def pair(gt_dir: Path, pred_dir: Path, problems: Problems) -> list[tuple[str, Path, Path]]:
    """(image id, ground truth, prediction) for every pair; what does not pair goes to ``problems``."""
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise UsageError(f"{what} folder {d} does not exist or is not a directory")
    truth, predicted = _images_by_key(gt_dir, problems), _images_by_key(pred_dir, problems)
    if not truth and not problems.unreadable:  # else those are listed: the truth may be in them
        raise UserError(f"no images in {gt_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    problems.missing += [f"{truth[k]}: no prediction {pred_dir / k}.*" for k in sorted(truth.keys() - predicted.keys())]
    problems.extra += [f"{predicted[k]}: no ground truth {gt_dir / k}.*" for k in sorted(predicted.keys() - truth.keys())]
    return [(truth[k].relative_to(gt_dir).as_posix(), truth[k], predicted[k]) for k in sorted(truth.keys() & predicted.keys())]


def load(pairs: list[tuple[str, Path, Path]], problems: Problems) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Read every pair fully (a truncated file fails here, before any scoring)."""
    from colorbench.imagefile import UnreadableImage, load_rgb

    loaded = []
    for image_id, gt_path, pred_path in pairs:
        images = []
        for path in (gt_path, pred_path):
            try:
                images.append(load_rgb(path))
            except UnreadableImage as e:
                problems.unreadable.append(f"{path}: {e}")
        if len(images) < 2:
            continue
        gt, pred = images
        if gt.shape != pred.shape:
            problems.size_mismatch.append(
                f"{image_id}: ground truth {gt.shape[1]}x{gt.shape[0]}, prediction {pred.shape[1]}x{pred.shape[0]} ({pred_path})"
            )
        elif min(gt.shape[:2]) < metrics.SSIM_WIN:
            problems.too_small.append(f"{image_id}: {gt.shape[1]}x{gt.shape[0]} px; SSIM needs at least {metrics.SSIM_WIN}x{metrics.SSIM_WIN}")
        else:
            loaded.append((image_id, gt, pred))
    return loaded


def _batches(loaded: list[tuple[str, np.ndarray, np.ndarray]], max_pixels: int):
    """(indices of images of equal size, in batches of at most ``max_pixels``; tiled):
    an image larger than that comes alone, to be scored in tiles."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, (_, gt, _) in enumerate(loaded):
        by_size.setdefault(gt.shape[:2], []).append(i)
    for (h, w), indices in sorted(by_size.items()):
        step = max(1, max_pixels // (h * w))
        for start in range(0, len(indices), step):
            yield indices[start : start + step], h * w > max_pixels


@torch.no_grad()
def score_folders(gt_dir: Path, pred_dir: Path, *, device: torch.device, strict: bool = False, max_pixels: int = _BATCH_PIXELS) -> dict:
    """Check, then score; raises `ScoreProblems` (nothing scored) if anything is
    wrong, and with ``strict`` a `UserError` if any image would be left out
    (grayscale ground truth). An image over ``max_pixels`` is scored in tiles."""
    from colorbench import bootstrap, lpips_metric
    from colorbench.evaluate import GRAY_REASON, is_gray, summarize_scores

    start = time.perf_counter()
    problems = Problems()
    pairs = pair(Path(gt_dir), Path(pred_dir), problems)
    loaded = load(pairs, problems)
    if problems.count():
        raise ScoreProblems(problems)

    smallest = min(min(gt.shape[:2]) for _, gt, _ in loaded)
    no_lpips = lpips_metric.unavailable(device) or (
        f"an image of {smallest} px on its shorter side: LPIPS (AlexNet) needs at least {lpips_metric.MIN_SIZE}"
        if smallest < lpips_metric.MIN_SIZE else None
    )
    with_lpips = no_lpips is None
    if strict:  # refused before any scoring, not after it
        left_out = [image_id for image_id, gt, _ in loaded if is_gray(torch.from_numpy(gt).permute(2, 0, 1)[None])]
        if left_out:
            raise UserError(
                f"--strict: {len(left_out)} ground-truth image(s) would not be scored ({GRAY_REASON}): "
                + ", ".join(left_out[:5]) + (" ..." if len(left_out) > 5 else "")
            )
    values: dict[int, dict[str, float]] = {}
    excluded: list[str] = []
    for indices, tiled in _batches(loaded, max_pixels):
        gt = torch.from_numpy(np.stack([loaded[i][1] for i in indices])).permute(0, 3, 1, 2).to(device)
        pred = torch.from_numpy(np.stack([loaded[i][2] for i in indices])).permute(0, 3, 1, 2).to(device)
        gray = is_gray(gt).cpu()
        excluded += [loaded[i][0] for i, g in zip(indices, gray) if g]
        keep = [i for i, g in zip(indices, gray) if not g]
        if not keep:
            continue
        if tiled:  # one image, in colour
            scores = tiled_scoring.score(gt, pred, with_lpips=with_lpips, max_pixels=max_pixels)
        else:
            colour = ~gray.to(device)
            scores = metrics.score(gt[colour], pred[colour], with_lpips=with_lpips)
        for name, v in scores.items():
            for i, x in zip(keep, v.tolist()):
                values.setdefault(i, {})[name] = x
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if not values:
        raise UserError("every ground-truth image is grayscale (R = G = B): nothing to score colourization on")
    order = sorted(values)  # the pairs' order: by ground-truth path
    names = [n for n in metrics.PER_IMAGE if n in values[order[0]]]
    per_image = {"id": [loaded[i][0] for i in order], **{n: [values[i][n] for i in order] for n in names}}
    summary = summarize_scores(per_image, seed=bootstrap.SEED)
    sizes = sorted({f"{gt.shape[1]}x{gt.shape[0]}" for _, gt, _ in loaded})
    not_computed = {"lpips": no_lpips} if no_lpips else {}
    return {
        "gt_dir": str(gt_dir),
        "pred_dir": str(pred_dir),
        "count": len(loaded),
        "scored": len(per_image["id"]),
        "excluded": {"count": len(excluded), "ids": sorted(excluded), "reason": GRAY_REASON},
        "sizes": sizes,
        **summary,
        "not_computed": not_computed,
        "per_image": per_image,
        "seconds": round(time.perf_counter() - start, 3),
    }
