"""Colourizing image files of any size: the "load" half of "trains or loads".

The contract (as richzhang/colorization): predict ab at the working size,
upsample ab to the image's own size, and join it with the image's original
full-resolution L, so no detail of the input is lost.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colorbench.colorizer import Colorizer
from colorbench.datasets import image_files, to_float
from colorbench.errors import UserError
from colorbench.files import write_atomic
from colorbench.imagefile import UnreadableImage, load_rgb
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized
from colorbench.metrics import to_uint8


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), converted as `colorbench.imagefile`
    does for datasets; an unreadable one is a `UserError` naming it and why."""
    try:
        return load_rgb(path)
    except UnreadableImage as e:
        raise UserError(f"{path}: {e}") from None


def _working_size(colorizer: Colorizer, full: torch.Tensor) -> torch.Tensor:
    """RGB (1, 3, H, W) -> the same image at the colourizer's working size."""
    small = F.interpolate(full, size=(colorizer.size,) * 2, mode="bilinear", antialias=True, align_corners=False)
    return small.clamp(0, 1)


def reference_ab(colorizer: Colorizer, rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> its normalised ab (1, 2, S, S) at the working size: a hint
    method's ``reference``."""
    return rgb_to_normalized(_working_size(colorizer, to_float(rgb).to(colorizer.device)[None]))[1]


@torch.no_grad()
def colorize_array(colorizer: Colorizer, rgb: np.ndarray, *, seed: int = 0, reference: torch.Tensor | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of any size -> its colourization, same size (``reference``:
    see `reference_ab`)."""
    full = to_float(rgb).to(colorizer.device)[None]  # (1, 3, H, W)
    L_full = normalized_lightness(full)  # colour input: only its L is kept
    L_small = normalized_lightness(_working_size(colorizer, full))
    ab = colorizer.colorize(L_small, n_samples=1, seed=seed, reference=reference)[0]
    ab_full = F.interpolate(ab, size=full.shape[-2:], mode="bilinear", align_corners=False)
    out = to_uint8(normalized_to_rgb(L_full, ab_full))[0]
    return out.permute(1, 2, 0).cpu().numpy()


def write_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return write_atomic(path, buffer.getvalue())


def expand_inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """Files and directories -> (file, output name relative to --out). A directory's
    images keep their relative paths, so same-named files never collide."""
    pairs = []
    for item in inputs:
        if item.is_dir():
            for f in image_files(item):
                pairs.append((f, f.relative_to(item).with_suffix(".png")))
        else:
            pairs.append((item, Path(item.name).with_suffix(".png")))
    return pairs
