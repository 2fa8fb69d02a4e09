"""Image files colorbench reads are untrusted input (issue 10): the PNG copy of
cifar10:subset-6k must be exactly the subset (ids, 32x32 8-bit RGB PNGs, never
converted); any image file that is a pipe, or whose float pixels are NaN, is
refused with the reason rather than read as something else."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from colorbench.data import builtin_datasets, datasets
from colorbench.errors import UserError
from colorbench.data.image_reading import UnreadableImage, load_exactly, load_rgb

TRAIN = [f"data_batch_{b}_{i:05d}" for b in range(1, 6) for i in range(builtin_datasets.CIFAR_SUBSET)]
TEST = [f"test_batch_{i:05d}" for i in range(builtin_datasets.CIFAR_SUBSET)]


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """The subset's layout, train/<class>/<id>.png and test/<class>/<id>.png, of
    random 32x32 RGB images (the real pixels do not matter here)."""
    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    for split, ids in (("train", TRAIN), ("test", TEST)):
        for n, image_id in enumerate(ids):
            (root / split / f"c{n % 10}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / split / f"c{n % 10}" / f"{image_id}.png")
    return root


def test_the_subset_reads_as_it_is(subset):
    data = datasets.load("cifar10:subset-6k", data_dir=subset)
    assert data.train.ids == TRAIN and data.test.ids == TEST
    first = np.asarray(Image.open(subset / "train" / "c0" / f"{TRAIN[0]}.png"))
    assert np.array_equal(data.train.images[0], first)


FIRST = f"train/c0/{TRAIN[0]}.png"  # read first: a refusal costs one image


def _save(image_or_bytes, **kwargs):
    def damage(root):
        path = root / FIRST
        if isinstance(image_or_bytes, bytes):
            path.write_bytes(image_or_bytes)
        else:
            image_or_bytes.save(path, **kwargs)

    return damage


SUBSET_DAMAGE = {
    "33x32": (_save(Image.new("RGB", (33, 32))), "a PNG RGB image of 33x32, not a PNG RGB image of 32x32"),
    "huge": (_save(Image.new("RGB", (6000, 6000))), "6000x6000"),
    "grayscale": (_save(Image.new("L", (32, 32))), "a PNG L image"),
    "with alpha": (_save(Image.new("RGBA", (32, 32))), "a PNG RGBA image"),
    "palette": (_save(Image.new("P", (32, 32))), "a PNG P image"),
    "a JPEG named .png": (_save(Image.new("RGB", (32, 32)), format="JPEG"), "a JPEG RGB image"),
    "not an image": (_save(b"not a png"), "not an image PIL can read"),
    "empty": (_save(b""), "empty file"),
    "truncated": (lambda root: (root / FIRST).write_bytes((root / FIRST).read_bytes()[:60]), "damaged image"),
    "a folder": (lambda root: ((root / FIRST).unlink(), (root / FIRST).mkdir()), "not a regular file"),
    "renamed": (lambda root: (root / FIRST).rename(root / "train" / "c0" / "cat.png"), "cat.png is not an image of cifar10:subset-6k"),
    "twice": (lambda root: shutil.copy(root / FIRST, root / "train" / "c1" / f"{TRAIN[0]}.png"), f"are both image {TRAIN[0]}"),
    "one fewer": (lambda root: (root / f"test/c0/{TEST[0]}.png").unlink(), "holds 1016 images, not the 1017"),
}


@pytest.mark.parametrize("case", SUBSET_DAMAGE)
def test_a_damaged_subset_is_refused_naming_the_file(subset, tmp_path, case):
    damage, words = SUBSET_DAMAGE[case]
    root = tmp_path / "cifar"
    shutil.copytree(subset, root, copy_function=os.link)  # hard links: damage replaces, never edits, the shared files
    (root / FIRST).unlink()
    shutil.copy(subset / FIRST, root / FIRST)
    damage(root)
    with pytest.raises(UserError) as refused:
        datasets.load("cifar10:subset-6k", data_dir=root)
    assert words in str(refused.value) and str(root) in str(refused.value), str(refused.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_pixels_that_are_not_numbers_are_refused(tmp_path, value):
    """One NaN made the whole image black: its maximum was NaN, so the 0..1 scale
    was never applied."""
    pixels = np.full((20, 24), 0.5, np.float32)
    pixels[3, 4] = value
    Image.fromarray(pixels, mode="F").save(tmp_path / "f.tif")
    with pytest.raises(UnreadableImage, match="NaN or infinite"):
        load_rgb(tmp_path / "f.tif")
    pixels[3, 4] = 0.25
    Image.fromarray(pixels, mode="F").save(tmp_path / "f.tif")
    assert np.unique(load_rgb(tmp_path / "f.tif")).tolist() == [64, 128]


def test_a_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(UnreadableImage, match="not a regular file"):
        load_rgb(tmp_path / "pipe.png")


def test_a_size_is_checked_from_the_header_before_decoding(tmp_path):
    Image.new("RGB", (9000, 9000)).save(tmp_path / "big.png")  # 81 Mpx, a 250 kB file
    with pytest.raises(UnreadableImage, match="9000x9000 pixels, not the 64x16 expected"):
        load_rgb(tmp_path / "big.png", size=(64, 16))
    with pytest.raises(UnreadableImage, match="not a PNG RGB image of 64x16"):
        load_exactly(tmp_path / "big.png", format="PNG", mode="RGB", size=(64, 16))
