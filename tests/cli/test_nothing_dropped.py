"""Every image of a folder dataset is used, or named as skipped, before any training:
unreadable files, formats colorbench does not read, images beside train/ and
test/, and grayscale test images (which scoring leaves out). --strict refuses
each; a dataset that cannot be scored at all is refused, never found out after
training."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from colorbench.data import datasets
from colorbench.scoring import evaluate
from colorbench.data.datasets import IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES
from colorbench.errors import UserError
from colorbench.plugins import get_colorizer
from tests.helpers import one_json, write_png
from tests.training.test_preflight import refused


def _image(path: Path, side: int = 24, gray: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (side, side + 3, 1 if gray else 3), dtype=np.uint8)
    return write_png(path, pixels.repeat(3, axis=2) if gray else pixels)


def _split(root: Path, train: int = 4, test: int = 2, gray_test: int = 0, side: int = 24) -> Path:
    for i in range(train):
        _image(root / "train" / f"{i}.png", side, seed=i)
    for i in range(test):
        _image(root / "test" / f"c{i}.png", side, seed=10 + i)
    for i in range(gray_test):
        _image(root / "test" / f"g{i}.png", side, gray=True, seed=20 + i)
    return root


def run(cli, tmp_path, *args):
    return cli("run", "--plugin", "unet_cgan", "--profile", "smoke", "--no-baseline", "--out", tmp_path / "out", *args)


# ------------------------------------------------------------------ refused before training
def _gray_test(root):
    _split(root, gray_test=2, test=0)


def _train_only(root):
    for i in range(4):
        _image(root / "train" / f"{i}.png", seed=i)


def _test_only(root):
    for i in range(4):
        _image(root / "test" / f"{i}.png", seed=i)


def _unreadable_test(root):
    _split(root, test=0)
    (root / "test").mkdir()
    (root / "test" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n no more")


def _gif_test(root):
    from PIL import Image

    _split(root, test=0)
    (root / "test").mkdir()
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(root / "test" / "photo.gif")


def _tiny(root):
    for i in range(5):
        _image(root / f"{i}.png", side=9, seed=i)


@pytest.mark.parametrize(
    "make, message, exit_code",
    [
        (_gray_test, "every test image of folder:", 1),
        (_train_only, "has a train/ folder but no test/ folder: put the test images in", 2),
        (_test_only, "has a test/ folder but no train/ folder", 2),
        (_unreadable_test, "test found); {root}/test/broken.png: damaged image", 1),
        (_gif_test, "test found); {root}/test/photo.gif: a .gif image; colorbench reads .bmp", 1),
        (_tiny, "is smaller than 16x16, the smallest working size (the largest shorter side is 9 px)", 1),
    ],
)
def test_a_folder_that_cannot_be_scored_is_refused_before_training(cli, tmp_path, make, message, exit_code):
    root = tmp_path / "data"
    make(root)
    result = run(cli, tmp_path, "--dataset", f"folder:{root}")
    refused(result, message.format(root=root), tmp_path / "out", exit_code)


def test_grayscale_test_images_are_named_before_training_and_strict_refuses_them(cli, tmp_path):
    root = _split(tmp_path / "data", test=2, gray_test=2)
    strict = run(cli, tmp_path, "--dataset", f"folder:{root}", "--strict")
    refused(strict, "--strict: 2 grayscale test image(s) in folder:", tmp_path / "out", exit_code=1)
    assert "would not be scored (ground truth has no chroma (R = G = B)): g0.png; g1.png" in strict.stderr

    lenient = cli("run", "--plugin", "gray", "--dataset", f"folder:{root}", "--out", tmp_path / "out")
    assert lenient.exit_code == 0, lenient.output
    warning = lenient.stderr.index("warning: 2 grayscale test image(s) will not be scored")
    assert warning < lenient.stderr.index("folder:")  # said before anything runs
    assert "2 grayscale test image(s) excluded from scoring: g0.png; g1.png" in lenient.stdout
    as_json = one_json(cli("run", "--plugin", "gray", "--dataset", f"folder:{root}", "--out", tmp_path / "out", "--json"))
    dataset = as_json["results"][0]["protocol"]["dataset"]
    assert (dataset["scored"], dataset["excluded"], dataset["excluded_ids"]) == (2, 2, ["g0.png", "g1.png"])


def test_images_beside_train_and_test_are_named_and_strict_refuses_them(cli, tmp_path):
    root = _split(tmp_path / "data")
    _image(root / "loose.png")
    _image(root / "val" / "v.png")
    strict = run(cli, tmp_path, "--dataset", f"folder:{root}", "--strict")
    refused(strict, f"--strict: 2 image(s) in folder:{root} outside train/ and test/: {root}/loose.png; {root}/val/v.png",
            tmp_path / "out", exit_code=1)
    lenient = cli("run", "--plugin", "gray", "--dataset", f"folder:{root}", "--out", tmp_path / "out", "--json")
    assert lenient.exit_code == 0, lenient.output
    assert f"not using 2 image(s) outside train/ and test/: {root}/loose.png; {root}/val/v.png" in lenient.stderr
    card = one_json(lenient)["results"][0]["protocol"]["dataset"]["card"]
    assert card["not_used"] == [f"{root}/loose.png", f"{root}/val/v.png"]


# ------------------------------------------------------------------ every file accounted for
ENTRY = st.tuples(
    st.sampled_from(["train", "test", "root", "other"]),  # where: train/, test/, the folder itself, another subfolder
    st.sampled_from(["colour", "colour", "gray", "damaged", "gif", "text"]),
    st.integers(10, 40),  # shorter side
)


def _write(root: Path, split: bool, entries) -> list[Path]:
    """The files, under ``root``; returns those with an image suffix."""
    from PIL import Image

    images = []
    for i, (where, kind, side) in enumerate(entries):
        folder = {"train": "train", "test": "test", "root": ".", "other": "other"}[where] if split else ["a", "."][i % 2]
        suffix = {"gif": ".gif", "text": ".txt"}.get(kind, ".png")
        path = root / folder / f"{i}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind in ("colour", "gray"):
            _image(path, side, gray=kind == "gray", seed=i)
        elif kind == "damaged":
            path.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
        elif kind == "gif":
            Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(path)
        else:
            path.write_text("notes")
        if path.suffix in IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES:
            images.append(path)
    return images


@settings(max_examples=30, deadline=None)
@given(split=st.booleans(), entries=st.lists(ENTRY, min_size=1, max_size=10))
def test_every_image_is_used_or_named(split, entries):
    """A folder dataset either loads, with each image in training, in the test set
    or named as skipped or unused, and the test images scoring leaves out known
    beforehand; or it is refused in one line."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = _write(root, split, entries)
        if split:  # the layout this case is about: both halves of the split present
            (root / "train").mkdir(exist_ok=True)
            (root / "test").mkdir(exist_ok=True)
        try:
            data = datasets.load(f"folder:{root}", size=16)
        except UserError as e:
            assert "\n" not in str(e)
            event("refused")
            return
        event("loaded")
        used = [*data.train.paths, *data.test.paths]
        named = [entry.partition(": ")[0] for entry in data.card["unreadable_skipped"]] + data.card.get("not_used", [])
        assert sorted([*map(str, used), *named]) == sorted(map(str, images))  # each image once: used or named
        gray = evaluate.grayscale_ids(data.test)
        if len(gray) < len(data.test):
            scored = evaluate.evaluate(get_colorizer("gray").from_profile("smoke", size=16), data.test, n_samples=1)
            assert scored["excluded"]["ids"] == gray and scored["scored"] + len(gray) == len(data.test)


def test_a_test_image_changed_after_loading_is_named(tmp_path):
    root = _split(tmp_path / "data")
    data = datasets.load(f"folder:{root}", size=16)
    (root / "test" / "c0.png").write_bytes(b"")
    with pytest.raises(UserError, match=r"c0\.png: empty file \(0 bytes\) \(it was readable when the dataset was loaded"):
        data.test[0]


def test_the_result_of_a_run_names_what_it_skipped(cli, tmp_path):
    root = _split(tmp_path / "data", gray_test=1)
    (root / "train" / "broken.png").write_bytes(b"")
    result = cli("run", "--plugin", "gray", "--dataset", f"folder:{root}", "--out", tmp_path / "out", "--json")
    stored = json.loads(Path(one_json(result)["results"][0]["file"]).read_text())["protocol"]["dataset"]
    assert stored["card"]["unreadable_skipped"] == [f"{root / 'train' / 'broken.png'}: empty file (0 bytes)"]
    assert stored["excluded_ids"] == ["g0.png"] and stored["count"] == stored["scored"] + stored["excluded"]


def test_score_names_an_image_in_a_format_it_does_not_read(cli, tmp_path):
    from PIL import Image

    for side in ("gt", "pred"):
        _image(tmp_path / side / "a.png")
        Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(tmp_path / side / "b.gif")
    result = cli("score", tmp_path / "gt", tmp_path / "pred", "--json")
    assert result.exit_code == 1 and one_json(result)["problems"] == {"unreadable": [
        f"{tmp_path / side / 'b.gif'}: a .gif image; colorbench reads .bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp" for side in ("gt", "pred")
    ]}
