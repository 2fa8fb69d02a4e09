"""A few colourized test images kept with each result, for the board's pictures.

Per run, one small PNG: the ground truth on the top row, the method's first
sample below it, on the same fixed test images for every method; and for a
stochastic method a second PNG: k samples (rows) of the first few images. The
leaderboard composes its grids from these, so it needs no checkpoint or dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colorbench.methods.colorizer import Colorizer
from colorbench.lab import normalized_to_rgb, rgb_to_normalized
from colorbench.scoring.evaluate import at_working_size
from colorbench.scoring.metrics import to_uint8

N_IMAGES = 8  # test images shown per method
N_DIVERSE = 4  # images in a stochastic method's strip of samples


def pick(n_test: int, n: int = N_IMAGES) -> list[int]:
    """Evenly spread, fixed test indices: the same images for every method."""
    return sorted({round(i * (n_test - 1) / max(1, n - 1)) for i in range(min(n, n_test))})


def _row(images: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) uint8 -> one (S, N*S, 3) row."""
    return torch.cat(list(images), dim=-1).permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def save(colorizer: Colorizer, test_set, *, out_dir: Path, run_id: str, seed: int, n_samples: int) -> dict:
    """Write the run's sample PNGs under ``out_dir/samples``; returns their record."""
    from colorbench.methods.colorize_files import write_png

    indices = pick(len(test_set))
    # at the working size, as the method sees them (a larger test size is scored, not shown, at full resolution)
    gt = at_working_size(to_uint8(torch.stack([test_set[i][0] for i in indices]).to(colorizer.device)), colorizer.size)
    ids = [test_set[i][1] for i in indices]
    L, ab_true = rgb_to_normalized(gt)
    reference = ab_true if colorizer.hint else None
    k = n_samples if colorizer.stochastic else 1
    ab = colorizer.colorize(L, n_samples=k, seed=seed, reference=reference)  # (k, N, 2, S, S)
    rgb = [to_uint8(normalized_to_rgb(L, sample)) for sample in ab]
    folder = Path(out_dir) / "samples"
    grid = write_png(folder / f"{run_id}.png", np.concatenate([_row(gt), _row(rgb[0])], axis=0))
    record = {"ids": ids, "grid": grid.relative_to(out_dir).as_posix(), "diversity": None}
    if colorizer.stochastic:
        strip = np.concatenate([_row(sample[:N_DIVERSE]) for sample in rgb], axis=0)
        record["diversity"] = write_png(folder / f"{run_id}-samples.png", strip).relative_to(out_dir).as_posix()
    return record
