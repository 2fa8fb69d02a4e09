"""A dataset's test images as files: the ground truth another system is scored
against (`colorbench.scoring.submitted`), and the gray inputs it colourizes."""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import torch
from torch.utils.data import DataLoader

from colorbench.data.datasets import Dataset
from colorbench.errors import UserError
from colorbench.lab import normalized_lightness, normalized_to_rgb
from colorbench.scoring.metrics import to_uint8


def file_name(image_id: str) -> str:
    """``chelsea/r0c0`` -> ``chelsea/r0c0.png``, ``cat/1.jpg`` -> ``cat/1.png``; an id
    that is no relative path (a dataset plugin's slip) is refused."""
    path = PurePosixPath(image_id)
    if not path.parts or path.is_absolute() or ".." in path.parts or "\\" in image_id:
        raise UserError(f"test image id {image_id!r} is not a relative path: a bug in its dataset plugin?")
    return path.with_suffix(".png").as_posix()


def _png(array) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def files(data: Dataset, *, batch_size: int = 64):
    """(relative path, PNG bytes) of every test image, one at a time."""
    for rgb, ids in DataLoader(data.test, batch_size=batch_size):
        truth = to_uint8(rgb)
        gray = to_uint8(normalized_to_rgb(normalized_lightness(truth), torch.zeros(len(truth), 2, *truth.shape[-2:])))
        for image_id, t, g in zip(ids, truth, gray):
            name = file_name(image_id)
            yield f"ground_truth/{name}", _png(t.permute(1, 2, 0).numpy())
            yield f"gray/{name}", _png(g[0].numpy())  # R = G = B: one channel


def write(data: Dataset, out: Path) -> int:
    """Write them all into the new folder ``out``, all or nothing; returns how many."""
    from colorbench import outputs

    if out.exists():
        raise UserError(f"--out {out} already exists: name a new folder (nothing there is replaced)")
    outputs.write_folder(out, files(data))
    return len(data.test)
