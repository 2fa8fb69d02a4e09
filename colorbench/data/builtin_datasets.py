"""The built-in datasets: photos shipped with scikit-image, any folder of images, and
CIFAR-10. Registered through the ``register_datasets`` hook from this module (an
entry point in pyproject.toml), exactly as a third-party dataset plugin would be;
they are built from the parts in `colorbench.data.datasets`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset as TorchDataset

import colorbench
from colorbench.data.datasets import (
    Dataset, Fixed, ImageFiles, MIN_SIZE, RandomCrops, default_cache_dir, grid_crops, image_files, largest_fitting,
    shorter_side_to, to_float, random_crop,
)
from colorbench.errors import UsageError, UserError
from colorbench.data.image_reading import UnreadableImage, scan

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
    photo_of = {image_id: image_id.split("/")[0] for image_id, _ in test}
    return Dataset("builtin", size, RandomCrops(train, size), Fixed(test), card, photo_of=photo_of)


def skimage_version() -> str:
    import skimage

    return skimage.__version__


# ------------------------------------------------------------------ folder:PATH

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

    from colorbench.data.image_reading import load_exactly

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
