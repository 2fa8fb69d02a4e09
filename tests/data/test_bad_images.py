"""The bad-image corpus, made here (no binary fixtures): what each case gets."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorbench.data import datasets
from colorbench.data.image_reading import UnreadableImage, load_rgb


def _save(path, im, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def _png_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_bytes(size=(64, 48)):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def make_corpus(root):
    """{file name: expected outcome}, the files written under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.png").write_bytes(b"")
    (root / "truncated.png").write_bytes(_png_bytes()[:200])
    (root / "truncated.jpg").write_bytes(_jpeg_bytes()[: len(_jpeg_bytes()) // 2])
    (root / "not_an_image.jpg").write_text("this is a text file with an image extension")
    _save(root / "cmyk.jpg", Image.new("CMYK", (20, 20), (0, 255, 255, 0)))  # red
    gray16 = Image.fromarray(np.array([[0, 32768], [65535, 65535]] * 4, dtype=np.uint16).repeat(4, 1))
    _save(root / "gray16.png", gray16)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:5] = (0, 0, 255, 255)  # opaque blue on top, fully transparent red below
    rgba[5:] = (255, 0, 0, 0)
    _save(root / "rgba.png", Image.fromarray(rgba, "RGBA"))
    palette = Image.new("P", (12, 12))
    palette.putpalette([0, 200, 0] + [0, 0, 0] * 255)  # index 0 is green
    _save(root / "palette.png", palette)
    _save(root / "gray.png", Image.fromarray(np.full((16, 16), 77, np.uint8)))
    _save(root / "one_pixel.png", Image.fromarray(np.array([[[10, 200, 30]]], np.uint8)))
    _save(root / "small.png", Image.fromarray(np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)))
    _save(root / "bomb.png", Image.fromarray(np.zeros((200, 200, 3), np.uint8)))
    return {
        "empty.png": "empty file",
        "truncated.png": "damaged image",
        "truncated.jpg": "damaged image",
        "not_an_image.jpg": "not an image",
        "bomb.png": "decompression-bomb limit",
    }


@pytest.fixture
def small_bomb_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # so a 200 x 200 file counts as a bomb


def test_unreadable_files_say_why(tmp_path, small_bomb_limit):
    for name, reason in make_corpus(tmp_path).items():
        with pytest.raises(UnreadableImage, match=reason):
            load_rgb(tmp_path / name)


def test_convertible_files_are_converted_correctly(tmp_path, small_bomb_limit):
    make_corpus(tmp_path)
    assert tuple(load_rgb(tmp_path / "cmyk.jpg")[10, 10]) == pytest.approx((255, 0, 0), abs=3)
    gray16 = load_rgb(tmp_path / "gray16.png")  # scaled to 8 bits, not clipped
    assert {tuple(gray16[0, 0]), tuple(gray16[0, 4]), tuple(gray16[1, 0])} == {(0, 0, 0), (128, 128, 128), (255, 255, 255)}
    rgba = load_rgb(tmp_path / "rgba.png")  # composited over white
    assert tuple(rgba[0, 0]) == (0, 0, 255) and tuple(rgba[9, 9]) == (255, 255, 255)
    assert tuple(load_rgb(tmp_path / "palette.png")[3, 3]) == (0, 200, 0)
    assert tuple(load_rgb(tmp_path / "gray.png")[0, 0]) == (77, 77, 77)
    assert load_rgb(tmp_path / "one_pixel.png").shape == (1, 1, 3)
    assert load_rgb(tmp_path / "small.png").shape == (5, 7, 3)
    for name in ("cmyk.jpg", "gray16.png", "rgba.png", "palette.png", "gray.png", "one_pixel.png", "small.png"):
        image = load_rgb(tmp_path / name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_a_folder_dataset_lists_bad_files_before_training(tmp_path, small_bomb_limit):
    bad = make_corpus(tmp_path / "train")
    _save(tmp_path / "test" / "t.png", Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)))
    data = datasets.load(f"folder:{tmp_path}", size=16)
    skipped = data.card["unreadable_skipped"]
    assert sorted(entry.split(":")[0].rsplit("/", 1)[1] for entry in skipped) == sorted(bad)
    assert len(data.train) == 7  # every convertible image is kept...
    for i in range(len(data.train)):  # ...and each, even 1x1 or 5x7, becomes a 16 x 16 crop
        assert data.train[i].shape == (3, 16, 16)


def test_colorize_writes_every_convertible_image_and_names_the_rest(cli, tmp_path, small_bomb_limit):
    bad = make_corpus(tmp_path / "in")
    result = cli("colorize", "--plugin", "gray", tmp_path / "in", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert sorted(Path(f["input"]).name for f in report["failed"]) == sorted(bad)
    for written in report["written"]:
        source = next((tmp_path / "in").glob(Path(written).stem + ".*"))
        assert np.asarray(Image.open(written)).shape == load_rgb(source).shape  # at its own size
    assert len(report["written"]) == 7
