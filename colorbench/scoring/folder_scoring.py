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
the device, by the scoring core `run` shares (`colorbench.scoring.scorer`); an
image larger than a batch is scored in tiles
(`colorbench.scoring.tiled_scoring`), to the same numbers. Checking keeps sizes, not
pixels, and scoring reads a batch at a time, so memory is bounded by the
largest image or batch, never by how many images there are.

Worker processes (``workers``; a `torch.utils.data.DataLoader`) decode the
images in both passes while the main process scores, each holding at most one
batch; results come back in the pairs' order, so the numbers are the same with
any number of workers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from colorbench.scoring import metrics
from colorbench.data.datasets import IMAGE_SUFFIXES, image_files
from colorbench.errors import UsageError, UserError

PAIRING_RULE = (
    "ground truth and prediction paired by relative path without the file suffix "
    "(cat/1.jpg pairs with cat/1.png); image ids are the ground truth's relative paths"
)
EVALUATION_RULE = (
    "both images read as 8-bit sRGB by colorbench.data.image_reading (EXIF orientation applied, transparency over white, "
    "grayscale replicated to RGB) and compared at their own size; no resizing, no Lab round trip; an image over "
    "16 Mpx is scored in tiles that give the whole image's values (PSNR exactly, SSIM and colourfulness to float64 "
    "rounding, LPIPS to float32 rounding: colorbench.scoring.tiled_scoring)"
)
_TILE_PIXELS = 1 << 24  # 16 Mpx: a larger image is scored in tiles of at most this (the rule above names it)
_BATCH_PIXELS = {"cpu": 1 << 20}
"""Pixels of equal-size images scored together, by device type (others: as many as a
tile). On a CPU, 1 Mpx (16 images of 256 x 256): peak memory grows with the batch,
about 100 bytes a pixel (LPIPS keeps each image's AlexNet features), and speed does
not. 200 pairs of 256 x 256 on two cores peaked at 2.9 GB with 16 Mpx, 1.65 GB with
4 Mpx and 1.0-1.07 GB with 1 Mpx (building the LPIPS network alone peaks at 1.0 GB,
a torchmetrics loop at 1.23 GB), in 14-15 s with 16 Mpx (page faults) and 10-13 s
with 4 Mpx or less."""


@dataclass
class Problems:
    missing: list[str] = field(default_factory=list)  # ground truth without a prediction
    extra: list[str] = field(default_factory=list)  # prediction without a ground truth
    ambiguous: list[str] = field(default_factory=list)  # two files pairing to one name
    unreadable: list[str] = field(default_factory=list)  # images, and folders that cannot be listed
    size_mismatch: list[str] = field(default_factory=list)
    too_small: list[str] = field(default_factory=list)
    # against a named dataset's test set (`colorbench.scoring.submitted`):
    not_in_ground_truth: list[str] = field(default_factory=list)  # a test image GT lacks
    not_the_protocols: list[str] = field(default_factory=list)  # GT's pixels differ from the dataset's

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


def images_by_key(root: Path, problems: Problems) -> dict[str, Path]:
    """{relative path without suffix: file} of every image under ``root``."""
    found: dict[str, Path] = {}
    for path in image_files(root, unreadable=problems.unreadable):
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in found:
            problems.ambiguous.append(f"{found[key]} and {path} both pair as {key!r}")
            continue
        found[key] = path
    return found


def check_folders(gt_dir: Path, pred_dir: Path) -> None:
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise UsageError(f"{what} folder {d} does not exist or is not a directory")


def pair(gt_dir: Path, pred_dir: Path, problems: Problems) -> list[tuple[str, Path, Path]]:
    """(image id, ground truth, prediction) for every pair; what does not pair goes to ``problems``."""
    check_folders(gt_dir, pred_dir)
    truth, predicted = images_by_key(gt_dir, problems), images_by_key(pred_dir, problems)
    if not truth and not problems.unreadable:  # else those are listed: the truth may be in them
        raise UserError(f"no images in {gt_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    problems.missing += [f"{truth[k]}: no prediction {pred_dir / k}.*" for k in sorted(truth.keys() - predicted.keys())]
    problems.extra += [f"{predicted[k]}: no ground truth {gt_dir / k}.*" for k in sorted(predicted.keys() - truth.keys())]
    return [(truth[k].relative_to(gt_dir).as_posix(), truth[k], predicted[k]) for k in sorted(truth.keys() & predicted.keys())]


@dataclass
class Checked:
    """A pair read whole once and found scorable; its pixels are read again when scored."""

    id: str
    gt: Path
    pred: Path
    shape: tuple[int, int]  # (H, W)
    gray: bool  # the ground truth has no chroma: left out of scoring

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """Both images, as they were when checked (a file changed since is a UserError)."""
        from colorbench.data.image_reading import UnreadableImage, load_rgb

        images = []
        for path in (self.gt, self.pred):
            try:
                image = load_rgb(path)
            except UnreadableImage as e:
                raise UserError(f"{path}: {e} (it was readable when checked: changed while being scored?)") from None
            if image.shape[:2] != self.shape:
                raise UserError(f"{path}: now {image.shape[1]}x{image.shape[0]}, was {self.shape[1]}x{self.shape[0]} when checked: changed while being scored?")
            images.append(image)
        return images[0], images[1]


def default_workers() -> int:
    """Decoding processes `score` starts unless told: one per CPU this process may
    use, at most 4 (more hardly helps: scoring, not decoding, takes most of the time)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return min(4, cpus)


def _loader(dataset: Dataset, workers: int, **kwargs) -> DataLoader:
    """``dataset``'s items in order, made by ``workers`` processes (0: this one)."""
    if workers < 0:
        raise UsageError(f"workers must be 0 (decode in this process) or more, not {workers}")
    return DataLoader(dataset, num_workers=workers, **kwargs)


def _as_is(item):
    """A DataLoader's collate_fn for items that are already what the caller wants."""
    return item


def _check(pair: tuple[str, Path, Path]) -> tuple[Checked | None, list[tuple[str, str]]]:
    """One pair read whole: scorable (its size and whether it is gray, never its
    pixels), or its problems as (kind in `Problems`, message)."""
    from colorbench.scoring.evaluate import is_gray
    from colorbench.data.image_reading import UnreadableImage, load_rgb

    image_id, gt_path, pred_path = pair
    images, found = [], []
    for path in (gt_path, pred_path):
        try:
            images.append(load_rgb(path))
        except UnreadableImage as e:
            found.append(("unreadable", f"{path}: {e}"))
    if found:
        return None, found
    gt, pred = images
    if gt.shape != pred.shape:
        return None, [("size_mismatch", f"{image_id}: ground truth {gt.shape[1]}x{gt.shape[0]}, prediction {pred.shape[1]}x{pred.shape[0]} ({pred_path})")]
    if min(gt.shape[:2]) < metrics.SSIM_WIN:
        return None, [("too_small", f"{image_id}: {gt.shape[1]}x{gt.shape[0]} px; SSIM needs at least {metrics.SSIM_WIN}x{metrics.SSIM_WIN}")]
    gray = bool(is_gray(torch.from_numpy(gt).permute(2, 0, 1)[None]))
    return Checked(image_id, gt_path, pred_path, gt.shape[:2], gray), []


class _Checks(Dataset):
    """`_check` of each pair, by index."""

    def __init__(self, pairs: list[tuple[str, Path, Path]]):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return _check(self.pairs[i])


def load(pairs: list[tuple[str, Path, Path]], problems: Problems, *, workers: int = 0) -> list[Checked]:
    """Read every pair fully (a truncated file fails here, before any scoring), in
    ``workers`` processes. Only sizes are kept, not pixels: memory holds one batch,
    however many images there are."""
    loaded = []
    for checked, found in _loader(_Checks(pairs), workers, batch_size=None, collate_fn=_as_is):
        for kind, message in found:
            getattr(problems, kind).append(message)
        if checked is not None:
            loaded.append(checked)
    return loaded


class _Pixels(Dataset):
    """A checked pair's pixels by index, uint8 (H, W, 3) each; or, for a file changed
    since it was checked, its one-line error, which the main process raises (raised
    in a worker, torch would re-raise it with the worker's traceback as its message)."""

    def __init__(self, loaded: list[Checked]):
        self.loaded = loaded

    def __len__(self):
        return len(self.loaded)

    def __getitem__(self, i):
        try:
            gt, pred = self.loaded[i].read()
        except UserError as e:
            return str(e)
        return torch.from_numpy(gt), torch.from_numpy(pred)


def _stacked(items: list) -> tuple[torch.Tensor, torch.Tensor] | str:
    """A batch of `_Pixels` items as (ground truth, prediction), uint8 (B, H, W, 3)
    each (in a worker: in shared memory), or the first error among them."""
    changed = [item for item in items if isinstance(item, str)]
    return changed[0] if changed else tuple(default_collate(items))


def _batches(loaded: list[Checked], max_pixels: int, batch_pixels: int = _TILE_PIXELS):
    """(indices of images of equal size, in batches of at most ``batch_pixels`` (and
    ``max_pixels``); tiled): an image larger than ``max_pixels`` comes alone, to be
    scored in tiles, and one larger than ``batch_pixels`` alone, whole."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, item in enumerate(loaded):
        by_size.setdefault(item.shape, []).append(i)
    for (h, w), indices in sorted(by_size.items()):
        step = max(1, min(batch_pixels, max_pixels) // (h * w))
        for start in range(0, len(indices), step):
            yield indices[start : start + step], h * w > max_pixels


@torch.no_grad()
def score_folders(
    gt_dir: Path, pred_dir: Path, *, device: torch.device, strict: bool = False, max_pixels: int = _TILE_PIXELS,
    batch_pixels: int | None = None, metrics=None, workers: int = 0,
) -> dict:
    """Check, then score; raises `ScoreProblems` (nothing scored) if anything is
    wrong, and with ``strict`` a `UserError` if any image would be left out
    (grayscale ground truth). An image over ``max_pixels`` is scored in tiles;
    equal-size images are scored ``batch_pixels`` at a time (default: `_BATCH_PIXELS`).
    ``metrics``: {name: Metric} to compute (default: `colorbench.scoring.selection.select`).
    ``workers``: processes decoding images, in both passes (0: this one); the
    numbers are the same with any number."""
    from colorbench.scoring import bootstrap, selection
    from colorbench.scoring.evaluate import GRAY_REASON
    from colorbench.scoring.scorer import Scorer

    start = time.perf_counter()
    problems = Problems()
    pairs = pair(Path(gt_dir), Path(pred_dir), problems)
    loaded = load(pairs, problems, workers=workers)
    if problems.count():
        raise ScoreProblems(problems)

    left_out = [item.id for item in loaded if item.gray]
    if len(left_out) == len(loaded):  # refused before any scoring, not after it
        raise UserError(f"every ground-truth image ({len(loaded)}) is grayscale ({GRAY_REASON}): nothing to score colourization on")
    if strict and left_out:
        raise UserError(
            f"--strict: {len(left_out)} ground-truth image(s) would not be scored ({GRAY_REASON}): "
            + ", ".join(left_out[:5]) + (" ..." if len(left_out) > 5 else "")
        )
    colour = [item for item in loaded if not item.gray]
    scorer = Scorer(device, selection.select() if metrics is None else metrics, sizes={item.id: item.shape for item in colour})
    batch_pixels = batch_pixels or _BATCH_PIXELS.get(device.type, max_pixels)
    plan = [([i for i in indices if not loaded[i].gray], tiled) for indices, tiled in _batches(loaded, max_pixels, batch_pixels)]
    plan = [(keep, tiled) for keep, tiled in plan if keep]  # each batch as scored: its colour images
    # one batch in flight per worker (each holds its pixels), besides the one being scored
    batches = _loader(_Pixels(loaded), workers, batch_sampler=[keep for keep, _ in plan], collate_fn=_stacked, prefetch_factor=1 if workers else None)
    for (keep, tiled), batch in zip(plan, batches):
        if isinstance(batch, str):
            raise UserError(batch)
        gt, pred = (x.permute(0, 3, 1, 2).to(device) for x in batch)
        del batch
        scorer.add(gt, pred, [loaded[i].id for i in keep], tiles_of=max_pixels if tiled else None)
        del gt, pred
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    scores = scorer.finish(order=[item.id for item in colour], seed=bootstrap.SEED)  # the pairs' order: by ground-truth path
    sizes = sorted({f"{item.shape[1]}x{item.shape[0]}" for item in loaded})
    return {
        "gt_dir": str(gt_dir),
        "pred_dir": str(pred_dir),
        "count": len(loaded),
        "scored": len(scores.per_image["id"]),
        "excluded": {"count": len(left_out), "ids": sorted(left_out), "reason": GRAY_REASON},
        "sizes": sizes,
        "metrics": scores.metrics,
        "ci95": scores.ci95,
        "left_out_of_mean": scores.left_out_of_mean,
        "not_computed": scores.not_computed,
        "per_image": scores.per_image,
        "seconds": round(time.perf_counter() - start, 3),
    }
