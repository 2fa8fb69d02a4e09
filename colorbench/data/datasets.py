"""What a dataset is, the parts datasets are built from, and loading one by name.

A `Dataset` yields float RGB tensors in [0, 1]: random (3, S, S) crops at the
working size S for training, and a fixed, deterministic set of test images with
their ids, (3, T, T) at its test size T (S unless a protocol fixes another, as the
published ones' 256: methods are then scored at full resolution, see
`colorbench.scoring.evaluate`). Its ``card`` says exactly how it was made and
travels with every result (see datasets/*.md for the long form).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.data import Dataset as TorchDataset

from colorbench.errors import UsageError, UserError
from colorbench.data.image_reading import UnreadableImage, load_rgb

MIN_SIZE = 16  # the smallest working size
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# Photographs in formats colorbench does not read: named as skipped, never passed over unseen.
OTHER_IMAGE_SUFFIXES = {".gif", ".jfif", ".jpe", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".jp2", ".j2k", ".heic", ".heif", ".avif", ".jxl", ".psd", ".apng", ".qoi"}


@dataclass
class Dataset:
    name: str  # as typed on the command line: builtin, folder:PATH, cifar10
    size: int  # working size S: models see S x S images
    train: TorchDataset  # items: RGB (3, S, S) float in [0, 1], randomly cropped
    test: TorchDataset  # items: (RGB (3, T, T) float in [0, 1], image id)
    card: dict = field(default_factory=dict)  # source, split and crop rule, counts
    test_size: int | None = None  # T; None: the working size S
    # {test image id: the photo it is cut from}, when test images are crops of fewer
    # photos (builtin's): photos, not crops, are the independent units intervals resample
    photo_of: dict[str, str] | None = None

    def __post_init__(self):
        if self.test_size is None:
            self.test_size = self.size


class DatasetFactory(Protocol):
    def __call__(self, arg: str | None, *, size: int | None, data_dir: Path | None, seed: int) -> Dataset: ...


def load(spec: str, *, size: int | None = None, data_dir: Path | None = None, seed: int = 0) -> Dataset:
    """``builtin``, ``folder:PATH``, ``cifar10``... -> a `Dataset`."""
    from colorbench import plugins

    name, _, arg = spec.partition(":")
    entry = plugins.get_dataset(name)
    if size is not None and (size < MIN_SIZE or size & (size - 1)):
        raise UsageError(f"--size {size} is not a power of two from {MIN_SIZE} up (U-Net generators halve it down to 1x1)")
    if data_dir is not None and Path(data_dir).expanduser().exists() and not Path(data_dir).expanduser().is_dir():
        raise UsageError(f"--data-dir {data_dir} is a file; pass the folder that holds (or will hold) the dataset")
    data = entry.factory(arg or None, size=size, data_dir=data_dir, seed=seed)
    t = data.test_size
    if len(data.test) == 0:
        raise UserError(f"{data.name} has no test images at {t}x{t}: nothing to score a method on")
    if t < data.size:  # a method is never scored on enlarged images
        raise UserError(f"dataset {name}'s test size {t} is smaller than its working size {data.size}: a bug in its plugin")
    image = data.test[0][0]  # a plugin's slip, named now rather than as a stacking error in scoring
    if not (isinstance(image, torch.Tensor) and image.is_floating_point() and tuple(image.shape) == (3, t, t)):
        found = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise UserError(f"dataset {name}'s test images are {found}, not float RGB tensors (3, {t}, {t}): a bug in its plugin")
    return data


def largest_fitting(side: int) -> int:
    """The largest power of two that is at most ``side`` pixels."""
    return 1 << (max(1, side).bit_length() - 1)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colorbench"


# ------------------------------------------------------------------ transforms
def to_float(image) -> torch.Tensor:
    """PIL image or uint8 array (H, W, 3) -> float RGB tensor (3, H, W) in [0, 1]."""
    from torchvision.transforms.v2 import functional as F

    return F.to_dtype(F.to_image(image), torch.float32, scale=True)


def shorter_side_to(image: torch.Tensor, side: int) -> torch.Tensor:
    """Resize (antialiased bilinear) so the shorter side is ``side``."""
    from torchvision.transforms.v2 import functional as F

    if min(image.shape[-2:]) == side:
        return image
    return F.resize(image, side, antialias=True).clamp(0, 1)


def random_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """A random S x S crop, flipped left-right half of the time (global torch RNG:
    seeded by `torch.manual_seed`, so a run is repeatable)."""
    h, w = image.shape[-2:]
    top = int(torch.randint(h - size + 1, ()))
    left = int(torch.randint(w - size + 1, ()))
    crop = image[..., top : top + size, left : left + size]
    return crop.flip(-1) if torch.rand(()) < 0.5 else crop


def grid_crops(image: torch.Tensor, size: int) -> list[tuple[str, torch.Tensor]]:
    """Every non-overlapping S x S crop of a centred grid, row by row: rRcC ids."""
    h, w = image.shape[-2:]
    rows, cols = h // size, w // size
    top0, left0 = (h - rows * size) // 2, (w - cols * size) // 2
    return [
        (f"r{r}c{c}", image[..., top0 + r * size : top0 + (r + 1) * size, left0 + c * size : left0 + (c + 1) * size])
        for r in range(rows)
        for c in range(cols)
    ]


class RandomCrops(TorchDataset):
    """``per_image`` random crops of each of a few in-memory images per epoch."""

    def __init__(self, images: list[torch.Tensor], size: int, per_image: int = 64):
        self.images, self.size, self.per_image = images, size, per_image

    def __len__(self):
        return len(self.images) * self.per_image

    def __getitem__(self, i):
        return random_crop(self.images[i % len(self.images)], self.size)

    def source_of(self, i: int) -> int:
        """The photo item ``i`` is a crop of: held-out model selection holds out photos, not crops."""
        return i % len(self.images)


class NoTrainingImages(TorchDataset):
    """An empty training set and why it is empty: scoring needs no training images,
    and a method that trains is refused before any work, told ``reason``."""

    def __init__(self, reason: str):
        self.reason = reason

    def __len__(self):
        return 0

    def __getitem__(self, i):
        raise IndexError(f"no training images: {self.reason}")


class Fixed(TorchDataset):
    """A fixed list of (id, image) pairs."""

    def __init__(self, items: list[tuple[str, torch.Tensor]]):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        image_id, image = self.items[i]
        return image, image_id


# ------------------------------------------------------------------ builtin
# Real colour photographs shipped inside scikit-image, so this works offline.
# Split by image: no test pixel is ever seen in training. stereo_motorcycle's
# right view is left out: it is the same scene as the test image (its left view).
def image_files(root: Path, *, unreadable: list[str] | None = None, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every image file under ``root`` (by suffix, recursively; not in its
    subfolders named in ``skip``), sorted.

    A folder that cannot be listed, or an image's name that is no readable file
    (a broken link), is passed over: given a list as ``unreadable``, each is
    added to it as "path: reason", so a caller can name it rather than lose
    images unnoticed."""
    skipped = [] if unreadable is None else unreadable
    found = []
    for folder, subfolders, names in os.walk(root, onerror=lambda e: skipped.append(f"{e.filename}: folder cannot be listed ({e.strerror})")):
        if folder == str(root):
            subfolders[:] = [name for name in subfolders if name not in skip]
        for path in (Path(folder, name) for name in sorted(names)):
            if path.suffix.lower() in OTHER_IMAGE_SUFFIXES:
                skipped.append(f"{path}: a {path.suffix} image; colorbench reads {', '.join(sorted(IMAGE_SUFFIXES))}")
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                if path.is_file():
                    found.append(path)
                else:
                    skipped.append(f"{path}: not a regular file (a broken link?)")
            except OSError as e:  # in a folder that can be listed but not searched
                skipped.append(f"{path}: cannot be examined ({e.strerror})")
    return sorted(found)


class ImageFiles(TorchDataset):
    """Images read from disk on demand, resized so the shorter side is S, then
    randomly cropped (training) or centre-cropped (test)."""

    def __init__(self, paths: list[Path], root: Path, size: int, train: bool):
        self.paths, self.root, self.size, self.is_train = paths, root, size, train

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from torchvision.transforms.v2 import functional as F

        try:
            image = shorter_side_to(to_float(load_rgb(self.paths[i])), self.size)
        except UnreadableImage as e:  # it was read when the dataset was loaded: changed since
            raise UserError(f"{self.paths[i]}: {e} (it was readable when the dataset was loaded: changed during the run?)") from None
        if self.is_train:
            return random_crop(image, self.size)
        return F.center_crop(image, [self.size]), self.paths[i].relative_to(self.root).as_posix()
