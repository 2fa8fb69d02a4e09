"""Colourizing image files of any size: the "load" half of "trains or loads".

The contract (as richzhang/colorization): predict ab at the working size,
upsample ab to the image's own size, and join it with the image's original
full-resolution L, so no detail of the input is lost.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colorbench import outputs
from colorbench.methods.colorizer import Colorizer
from colorbench.data.datasets import image_files, to_float
from colorbench.errors import UserError
from colorbench.data.image_reading import UnreadableImage, load_rgb
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized
from colorbench.scoring.metrics import to_uint8


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), converted as `colorbench.data.image_reading`
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


_STRIP_PIXELS = 1 << 20  # the full-resolution join, about 1 Mpx at a time


@torch.no_grad()
def colorize_array(
    colorizer: Colorizer, rgb: np.ndarray, *, seed: int = 0, reference: torch.Tensor | None = None, strip_pixels: int = _STRIP_PIXELS
) -> np.ndarray:
    """uint8 RGB (H, W, 3) of any size -> its colourization, same size (``reference``:
    see `reference_ab`).

    The full-resolution L and its join with ab are made in strips of rows
    (at most ``strip_pixels``, one row at least): each pixel's value depends on
    that pixel alone, so the output is the same, and the join's temporaries
    (many full-size float channels) never exceed a strip."""
    h, w = rgb.shape[:2]
    L_small = normalized_lightness(_working_size(colorizer, to_float(rgb).to(colorizer.device)[None]))
    ab = colorizer.colorize(L_small, n_samples=1, seed=seed, reference=reference)[0]
    ab_full = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)  # whole: PyTorch's own weights
    out = np.empty_like(rgb)
    rows = max(1, strip_pixels // w)
    for top in range(0, h, rows):
        strip = slice(top, top + rows)
        L = normalized_lightness(to_float(rgb[strip]).to(colorizer.device)[None])  # colour input: only its L is kept
        out[strip] = to_uint8(normalized_to_rgb(L, ab_full[..., strip, :]))[0].permute(1, 2, 0).cpu().numpy()
    return out


def write_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return outputs.write(path, buffer.getvalue())


def expand_inputs(inputs: list[Path], *, unreadable: list[str] | None = None) -> list[tuple[Path, Path]]:
    """Files and directories -> (file, output name relative to --out), one distinct
    name per file (`colorbench.outputs.NAMING_RULE`); a file reached twice (``in``
    and ``in/sub``) counts once. Folders that cannot be listed go to ``unreadable``
    ("path: reason"), as in `colorbench.data.datasets.image_files`."""
    found, seen = [], set()
    for item in inputs:
        files = [(f, f.relative_to(item)) for f in image_files(item, unreadable=unreadable)] if os.path.isdir(item) else [(item, Path(item.name))]
        for f, relative in files:
            if os.path.abspath(f) not in seen:
                seen.add(os.path.abspath(f))
                found.append((f, relative))
    return outputs.png_names(found)
