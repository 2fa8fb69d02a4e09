"""The built-in datasets, registered through the same hook a third-party plugin uses.

A `Dataset` yields float RGB tensors (3, S, S) in [0, 1] at the working size S:
random crops for training, and a fixed, deterministic set of test images with
their ids. Its ``card`` says exactly how it was made and travels with every
result (see datasets/*.md for the long form).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch.utils.data import Dataset as TorchDataset

import colorbench
from colorbench.errors import UsageError, UserError
from colorbench.imagefile import UnreadableImage, load_rgb, scan

MIN_SIZE = 16  # the smallest working size
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# Photographs in formats colorbench does not read: named as skipped, never passed over unseen.
OTHER_IMAGE_SUFFIXES = {".gif", ".jfif", ".jpe", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".jp2", ".j2k", ".heic", ".heif", ".avif", ".jxl", ".psd", ".apng", ".qoi"}


@dataclass
class Dataset:
    name: str  # as typed on the command line: builtin, folder:PATH, cifar10
    size: int  # working size S: models see S x S images
    train: TorchDataset  # items: RGB (3, S, S) float in [0, 1], randomly cropped
    test: TorchDataset  # items: (RGB (3, S, S) float in [0, 1], image id)
    card: dict = field(default_factory=dict)  # source, split and crop rule, counts


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
    if len(data.test) == 0:
        raise UserError(f"{data.name} has no test images at {data.size}x{data.size}: nothing to score a method on")
    image = data.test[0][0]  # a plugin's slip, named now rather than as a stacking error in scoring
    if not (isinstance(image, torch.Tensor) and image.is_floating_point() and tuple(image.shape) == (3, data.size, data.size)):
        found = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise UserError(f"dataset {name}'s test images are {found}, not float RGB tensors (3, {data.size}, {data.size}): a bug in its plugin")
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
BUILTIN_TRAIN = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
BUILTIN_TEST = ("chelsea", "stereo_motorcycle")
BUILTIN_SIZE = 64
BUILTIN_SCALE = 3  # images are resized so their shorter side is 3 S (never enlarged)


def _skimage_photo(name: str) -> torch.Tensor:
    import skimage.data

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    return to_float(image)


def _scaled(image: torch.Tensor, size: int) -> torch.Tensor:
    return shorter_side_to(image, min(BUILTIN_SCALE * size, min(image.shape[-2:])))


def builtin(arg: str | None, *, size: int | None, data_dir: Path | None, seed: int) -> Dataset:
    if arg:
        raise UsageError(f"the builtin dataset takes no argument (got builtin:{arg})")
    if data_dir is not None:
        raise UsageError("--data-dir is not read by the builtin dataset (it ships with scikit-image): leave it out")
    size = size or BUILTIN_SIZE
    photos = {n: _skimage_photo(n) for n in (*BUILTIN_TRAIN, *BUILTIN_TEST)}
    # Never enlarged: every training photo must hold a crop, and some test photo one.
    shorter = {n: min(photo.shape[-2:]) for n, photo in photos.items()}
    largest = largest_fitting(min(min(shorter[n] for n in BUILTIN_TRAIN), max(shorter[n] for n in BUILTIN_TEST)))
    if size > largest:
        raise UsageError(
            f"--size {size} is too large for the builtin dataset: its photos are never enlarged, "
            f"and only sizes {MIN_SIZE} to {largest} give crops of every training photo and a test crop"
        )
    train = [_scaled(photos[n], size) for n in BUILTIN_TRAIN]
    test = [(f"{n}/{cid}", crop) for n in BUILTIN_TEST for cid, crop in grid_crops(_scaled(photos[n], size), size)]
    card = {
        "source": f"skimage.data (scikit-image {skimage_version()})",
        "split": "by image",
        "train_images": list(BUILTIN_TRAIN),
        "test_images": [f"{n} (left view)" if n == "stereo_motorcycle" else n for n in BUILTIN_TEST],
        "preprocessing": f"RGB resized (antialiased bilinear) so the shorter side is {BUILTIN_SCALE}x{size}, never enlarged",
        "train_crops": f"random {size}x{size} crops with random horizontal flips, 64 per image per epoch",
        "test_crops": f"all non-overlapping {size}x{size} crops of a centred grid, row by row",
    }
    return Dataset("builtin", size, RandomCrops(train, size), Fixed(test), card)


def skimage_version() -> str:
    import skimage

    return skimage.__version__


# ------------------------------------------------------------------ folder:PATH
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


def folder(arg: str | None, *, size: int | None, data_dir: Path | None, seed: int) -> Dataset:
    if not arg:
        raise UsageError("folder needs a path: --dataset folder:PATH")
    if data_dir is not None:
        raise UsageError(f"--data-dir is not read by folder:PATH (its images are in {arg}): leave it out")
    root = Path(arg).expanduser()
    if not root.is_dir():
        raise UsageError(f"dataset folder {root} does not exist or is not a directory")
    bad_folders: list[str] = []  # folders that cannot be listed: their images are skipped, and said so
    outside: list[str] = []  # images beside train/ and test/: not used, and said so
    has_train, has_test = (root / "train").is_dir(), (root / "test").is_dir()
    if has_train != has_test:  # a split meant, half of it missing: never a random split of train/ instead
        present, absent = ("train", "test") if has_train else ("test", "train")
        raise UsageError(
            f"{root} has a {present}/ folder but no {absent}/ folder: put the {absent} images in {root / absent} "
            f"(or rename {present}/ to split every image 80/20 by seed)"
        )
    if has_train:
        train_root, test_root = root / "train", root / "test"
        train_files, test_files = image_files(train_root, unreadable=bad_folders), image_files(test_root, unreadable=bad_folders)
        split = "the folder's own train/ and test/ subfolders"
        outside = list(map(str, image_files(root, unreadable=bad_folders, skip=("train", "test"))))
    else:
        files = image_files(root, unreadable=bad_folders)
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
        n_test = max(1, len(files) // 5)
        test_files = sorted(files[i] for i in order[:n_test])
        train_files = sorted(files[i] for i in order[n_test:])
        train_root = test_root = root
        split = f"seeded random 80/20 split by file (seed {seed})"
    train_sides, bad_train = scan(train_files)
    test_sides, bad_test = scan(test_files)
    train_files, test_files = list(train_sides), list(test_sides)
    skipped = bad_folders + bad_train + bad_test  # "path: reason", found before training
    if not train_files or not test_files:
        raise UserError(
            f"{root} needs readable images for both training and testing ({len(train_files)} train, {len(test_files)} test found)"
            + "".join(f"; {b}" for b in skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        )
    sides = sorted([*train_sides.values(), *test_sides.values()])
    typical = sides[len(sides) // 2]
    if sides[-1] < MIN_SIZE:  # the smallest working size would enlarge every image
        raise UserError(
            f"every image in {root} is smaller than {MIN_SIZE}x{MIN_SIZE}, the smallest working size "
            f"(the largest shorter side is {sides[-1]} px): colorbench would only enlarge them"
        )
    if size is None:
        # The largest power of two that fits the typical image, at most 64: CIFAR gives 32.
        size = max(16, min(64, 2 ** int(math.log2(max(1, typical)))))
    elif size > max(MIN_SIZE, largest_fitting(typical)):  # most images would be enlarged: blur, not detail
        raise UsageError(
            f"--size {size} is larger than most images in {root} (median shorter side {typical} px), "
            f"which would be enlarged; use --size {max(MIN_SIZE, largest_fitting(typical))} or less"
        )
    card = {
        "source": str(root.resolve()),
        "split": split,
        "train_count": len(train_files),
        "preprocessing": f"RGB, resized (antialiased bilinear) so the shorter side is {size}",
        "train_crops": f"random {size}x{size} crops with random horizontal flips",
        "test_crops": f"centre {size}x{size} crop",
        "unreadable_skipped": skipped,
        **({"not_used": outside} if outside else {}),  # images beside train/ and test/
    }
    return Dataset(
        f"folder:{arg}", size, ImageFiles(train_files, train_root, size, True), ImageFiles(test_files, test_root, size, False), card
    )


# ------------------------------------------------------------------ cifar10
CIFAR_SUBSET = 1017  # cifar10:subset-6k keeps the first 1,017 images of every batch


class Arrays(TorchDataset):
    """uint8 RGB images (N, H, W, 3) in memory, with their ids."""

    def __init__(self, images, ids: list[str], size: int, train: bool):
        self.images, self.ids, self.size, self.is_train = images, ids, size, train

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        image = shorter_side_to(to_float(self.images[i]), self.size)
        return random_crop(image, self.size) if self.is_train else (image, self.ids[i])


def _cifar_official(root: Path, subset: bool):
    """(train images, ids, test images, ids) from torchvision's CIFAR10 (downloads when online)."""
    import numpy as np
    from torchvision.datasets import CIFAR10

    try:
        train, test = CIFAR10(root, train=True, download=True), CIFAR10(root, train=False, download=True)
    except Exception as e:  # URLError, socket errors, integrity failures
        there = root / "cifar-10-batches-py"  # torchvision checks every file's md5 before it reads any
        found = f"{there} is not the official CIFAR-10 (a file is missing or its md5 differs)" if there.exists() else f"CIFAR-10 is not in {root}"
        raise UserError(
            f"{found} and could not be downloaded ({type(e).__name__}); put the official "
            "cifar-10-batches-py there, or pass --data-dir DIR holding it"
            + (" (or the PNG subset's train/ and test/ folders)" if subset else "")
        ) from None
    # torchvision concatenates data_batch_1..5 in order, 10,000 images each
    train_ids = [f"data_batch_{b + 1}_{i:05d}" for b in range(5) for i in range(10_000)]
    test_ids = [f"test_batch_{i:05d}" for i in range(10_000)]
    keep_train = np.arange(50_000) if not subset else np.array([b * 10_000 + i for b in range(5) for i in range(CIFAR_SUBSET)])
    keep_test = np.arange(10_000 if not subset else CIFAR_SUBSET)
    return (train.data[keep_train], [train_ids[i] for i in keep_train], test.data[keep_test], [test_ids[i] for i in keep_test])


def _cifar_png_subset(root: Path):
    """The same subset from PNGs laid out as train/<class>/<batch>_<index>.png and
    test/<class>/test_batch_<index>.png: each a 32x32 8-bit RGB PNG (lossless, so
    the same pixels), and together exactly the subset's images."""
    import numpy as np

    from colorbench.imagefile import load_exactly

    def read(split: str, ids: list[str]):
        files: dict[str, Path] = {}
        for path in sorted((root / split).rglob("*.png")):
            if path.stem in files:
                raise UserError(f"{files[path.stem]} and {path} are both image {path.stem}: cifar10:subset-6k holds each image once")
            files[path.stem] = path
        if len(files) != len(ids):
            raise UserError(f"{root / split} holds {len(files)} images, not the {len(ids)} of cifar10:subset-6k")
        if stray := sorted(set(files) - set(ids)):
            raise UserError(f"{files[stray[0]]} is not an image of cifar10:subset-6k (its names run {ids[0]} to {ids[-1]}); restore the subset's own files")
        images = []
        for i in ids:  # data_batch_1_00000 ... in batch order, then index order
            try:
                images.append(load_exactly(files[i], format="PNG", mode="RGB", size=(32, 32)))
            except UnreadableImage as e:
                raise UserError(f"{files[i]}: {e}; restore the subset's own file") from None
        return np.stack(images), ids

    train_ids = [f"data_batch_{b + 1}_{i:05d}" for b in range(5) for i in range(CIFAR_SUBSET)]
    return (*read("train", train_ids), *read("test", [f"test_batch_{i:05d}" for i in range(CIFAR_SUBSET)]))


def cifar10(arg: str | None, *, size: int | None, data_dir: Path | None, seed: int) -> Dataset:
    if arg not in (None, "subset-6k"):
        raise UsageError(f"unknown cifar10 option {arg!r}; use cifar10 or cifar10:subset-6k")
    if size is not None and size > 32:  # as for every dataset: never enlarged
        raise UsageError(f"--size {size} is larger than CIFAR-10's 32x32 images, which would be enlarged; use --size 32 or 16")
    subset = arg == "subset-6k"
    root = Path(data_dir).expanduser() if data_dir else default_cache_dir() / "cifar10"
    from_pngs = subset and (root / "train").is_dir() and (root / "test").is_dir()
    train, train_ids, test, test_ids = _cifar_png_subset(root) if from_pngs else _cifar_official(root, subset)
    size = size or 32
    card = {
        "source": "CIFAR-10 (Krizhevsky 2009): " + (f"PNG copy of the subset in {root}" if from_pngs else "torchvision.datasets.CIFAR10"),
        "split": (
            f"the first {CIFAR_SUBSET} images of each of data_batch_1..5 (train, {5 * CIFAR_SUBSET}) and of test_batch (test, {CIFAR_SUBSET})"
            if subset else "official train (50,000) / test (10,000)"
        ),
        "train_crops": f"{size}x{size}" + (" after resizing" if size != 32 else "") + ", random horizontal flips",
        "test_crops": "the whole image" + (" resized" if size != 32 else ""),
    }
    name = "cifar10:subset-6k" if subset else "cifar10"
    return Dataset(name, size, Arrays(train, train_ids, size, True), Arrays(test, test_ids, size, False), card)


@colorbench.hookimpl
def register_datasets(register: Callable) -> None:
    register("builtin", builtin, "real photos shipped in scikit-image, split by image (offline; the default)")
    register("folder", folder, "any directory of images: folder:PATH (train/ and test/ if present, else a seeded 80/20 split)")
    register("cifar10", cifar10, "CIFAR-10 through torchvision (downloads when online; --data-dir for a local copy); cifar10:subset-6k is its first 1,017 images of each batch")
