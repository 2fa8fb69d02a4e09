"""Score another system's outputs on a named dataset's test set, as a board row.

A system that is not a plugin (DDColor, DeOldify, a new paper's code) colourizes
the test images itself; `colorbench export` hands out those images (the ground
truth and the gray inputs), and ``colorbench score GT PRED --dataset D --name N
--paper P`` turns its outputs into a result of the same kind as `run`'s, so it
shares D's table with colorbench's own methods.

Nothing is taken on trust: GT must hold exactly D's test images (every id, no
other image, each identical pixel for pixel to the ground truth colorbench makes),
and PRED one output of the same size per image. Anything wrong is listed and
nothing is written.

The outputs are scored by the contract every method is scored by: their ab
joined with the ground truth's L, compared as 8-bit sRGB. The outputs as they
came are scored too (`colorbench.scoring.native_output`: their own PSNR, and how
far their lightness strays from the gray input), as for a method that outputs RGB.
"""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from torch.utils.data import DataLoader

from colorbench.data.datasets import Dataset
from colorbench.errors import UsageError
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized
from colorbench.scoring import bootstrap, folder_scoring, native_output
from colorbench.scoring.metrics import to_uint8

EVALUATION_RULE = (
    "outputs submitted by the system's authors or users, one per test image at the test size, read as 8-bit sRGB; "
    "their ab joined with the ground truth's L (CIE Lab, D65) and compared as 8-bit sRGB, as every method's; "
    "the outputs as submitted are scored too (native_output)"
)
PAIRING_RULE = (
    "each test image of the dataset by its id: GT/ID.* must be its ground truth, pixel for pixel, and PRED/ID.* "
    "the system's output at the same size (any image suffix)"
)
NAME_RULE = "lower-case letters, digits and _, starting with a letter"


def key(image_id: str) -> str:
    """An image id or relative path without its suffix: what pairs files across folders."""
    return PurePosixPath(image_id).with_suffix("").as_posix()


def check_name(name: str) -> str:
    import re

    from colorbench import plugins

    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UsageError(f"--name {name!r}: a system's name is {NAME_RULE}, like a method's")
    if name in plugins.colorizers():
        raise UsageError(f"--name {name!r} is a colorbench method: name the submitted system otherwise (e.g. {name}_outputs)")
    return name


@torch.no_grad()
def score(gt_dir: Path, pred_dir: Path, data: Dataset, *, device: torch.device, metrics: dict, batch_size: int = 64) -> dict:
    """Check GT and PRED against ``data``'s test set and score PRED; raises
    `folder_scoring.ScoreProblems` listing everything wrong (nothing scored)."""
    from colorbench.data.image_reading import UnreadableImage, load_rgb
    from colorbench.scoring.evaluate import GRAY_REASON, is_gray
    from colorbench.scoring.scorer import Scorer

    start = time.perf_counter()
    problems = folder_scoring.Problems()
    folder_scoring.check_folders(Path(gt_dir), Path(pred_dir))
    truths, predictions = folder_scoring.images_by_key(Path(gt_dir), problems), folder_scoring.images_by_key(Path(pred_dir), problems)
    scorer = Scorer(device, metrics)
    seen: set[str] = set()
    excluded: list[str] = []
    native: dict[str, list] = {}
    for rgb, ids in DataLoader(data.test, batch_size=batch_size):
        truth = to_uint8(rgb)
        keep, preds = [], []
        for i, image_id in enumerate(ids):
            k = key(image_id)
            seen.add(k)
            if k not in truths:
                problems.not_in_ground_truth.append(f"{image_id}: a test image of {data.name} with no file in {gt_dir}")
                continue
            if k not in predictions:
                problems.missing.append(f"{truths[k]}: no prediction {Path(pred_dir) / k}.*")
                continue
            gt_path, pred_path = truths[k], predictions[k]
            try:
                gt, pred = load_rgb(gt_path), load_rgb(pred_path)
            except UnreadableImage as e:
                problems.unreadable.append(f"{image_id}: {e}")
                continue
            expected = truth[i].permute(1, 2, 0).numpy()
            if gt.shape != expected.shape or not np.array_equal(gt, expected):
                problems.not_the_protocols.append(
                    f"{gt_path}: not {data.name}'s ground truth for {image_id} (export it with `colorbench export {data.name}`)"
                )
            elif pred.shape != gt.shape:
                problems.size_mismatch.append(f"{image_id}: ground truth {gt.shape[1]}x{gt.shape[0]}, prediction {pred.shape[1]}x{pred.shape[0]} ({pred_path})")
            elif is_gray(truth[i : i + 1])[0]:
                excluded.append(image_id)
            else:
                keep.append(i)
                preds.append(pred)
        if not keep or problems.count():  # nothing is scored once anything is wrong; the rest is still checked
            continue
        gt_u8 = truth[keep].to(device)
        pred_u8 = torch.from_numpy(np.stack(preds)).permute(0, 3, 1, 2).to(device)
        joined = to_uint8(normalized_to_rgb(normalized_lightness(gt_u8), rgb_to_normalized(pred_u8)[1]))
        scorer.add(gt_u8, joined, [ids[i] for i in keep])
        for name, values in native_output.per_image(gt_u8, pred_u8.float() / 255).items():
            native.setdefault(name, []).extend(values.tolist())
    problems.extra += [f"{path}: not a test image of {data.name}" for files in (truths, predictions) for k, path in sorted(files.items()) if k not in seen]
    if problems.count():
        raise folder_scoring.ScoreProblems(problems)
    if not scorer.ids:
        from colorbench.errors import UserError

        raise UserError(f"every test image of {data.name} is grayscale ({GRAY_REASON}): nothing to score colourization on")
    scores = scorer.finish(seed=bootstrap.SEED, photo_of=data.photo_of)
    return {
        "metrics": scores.metrics,
        "ci95": scores.ci95,
        "left_out_of_mean": scores.left_out_of_mean,
        "not_computed": scores.not_computed,
        "per_image": scores.per_image | {f"native_{name}": native_output.stored(values) for name, values in native.items()},
        "native_output": native_output.summarize(native, units=[data.photo_of[i] for i in scores.per_image["id"]] if data.photo_of else None),
        "scored": len(scores.per_image["id"]),
        "excluded": {"count": len(excluded), "ids": excluded, "reason": GRAY_REASON},
        "seconds": round(time.perf_counter() - start, 3),
    }
