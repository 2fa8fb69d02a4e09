"""The published protocols as datasets (imagenet:*, coco:val2017, ade20k:val) on fake
copies laid out as the real ones are, and scoring at full resolution."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorbench.data import datasets, published_datasets as published
from colorbench.data.datasets import Dataset, Fixed, NoTrainingImages
from colorbench.errors import UsageError, UserError
from colorbench.lab import normalized_lightness
from colorbench.methods.colorizer import Colorizer
from colorbench.scoring import evaluate
from colorbench.scoring.metrics import to_uint8

VAL5K = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 5_001)]
SHARED_CTEST10K = Path(__file__).resolve().parents[3] / "shared" / "protocols" / "imagenet-ctest10k.txt"


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """Five small colour JPEGs of different shapes (odd margins too), linked under each
    test name: 15,000 names cost a hard link each, not an encoding."""
    folder, rng = tmp_path_factory.mktemp("photos"), np.random.default_rng(0)
    made = []
    for k, (h, w) in enumerate([(12, 15), (16, 9), (10, 10), (13, 20), (9, 14)]):
        made.append(folder / f"{k}.jpg")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(made[-1], quality=95)
    return made


def fill(folder: Path, names, photos) -> Path:
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(photos[i % len(photos)], folder / name)
    return folder


def imagenet(root: Path, photos, names=VAL5K, *, class_folders=False, train=40) -> Path:
    fill(root / "val", [f"n{i % 3:08d}/{n}" if class_folders else n for i, n in enumerate(names)], photos)
    fill(root / "train", [f"n{i % 2:08d}/n{i % 2:08d}_{i}.JPEG" for i in range(train)], photos)
    return root


@pytest.fixture(scope="session")
def imagenet_flat(tmp_path_factory, photos):
    """val/ flat, holding val5k and ctest10k; train/ in two class folders."""
    return imagenet(tmp_path_factory.mktemp("imagenet"), photos, sorted(set(VAL5K) | set(published._ctest10k())))


def test_val5k_loads_with_its_ids_count_and_test_size(imagenet_flat, photos):
    data = datasets.load("imagenet:val5k", data_dir=imagenet_flat)
    assert (data.name, data.size, data.test_size, len(data.test), len(data.train)) == ("imagenet:val5k", 64, 256, 5_000, 40)
    assert [data.test.paths[i].name for i in range(len(data.test))] == VAL5K
    image, image_id = data.test[4]
    assert image_id == "ILSVRC2012_val_00000005.JPEG" and image.shape == (3, 256, 256) and image.dtype == torch.float32
    assert data.train[0].shape == (3, 64, 64)
    assert data.card["test_size"] == 256 and "CT2" in data.card["preprocessing_source"] and "github.com/shuchenweng/CT2" in data.card["preprocessing_source"]
    assert "not downloaded" in data.card["source"] and "image-net.org" in data.card["source"]


def test_val5k_is_ct2s_centre_crop_and_pil_bilinear_resize(imagenet_flat, photos):
    """By hand: the 12 x 15 photo's centre 12 x 12 (left margin round(1.5) = 2, as
    torchvision rounds), PIL's bilinear filter to 256 x 256 on 8 bits."""
    data = datasets.load("imagenet:val5k", data_dir=imagenet_flat)
    image, _ = data.test[0]  # ILSVRC2012_val_00000001.JPEG: photos[0]
    rgb = Image.open(photos[0]).convert("RGB")
    expected = np.asarray(rgb.crop((2, 0, 14, 12)).resize((256, 256), Image.BILINEAR))
    assert torch.equal(to_uint8(image), torch.from_numpy(expected.copy()).permute(2, 0, 1))  # the 8-bit image, as scored


def test_ctest10k_loads_the_list_zhangs_code_resizes(imagenet_flat, photos):
    data = datasets.load("imagenet:ctest10k", data_dir=imagenet_flat, size=32)
    ids = [p.name for p in data.test.paths]
    assert len(ids) == 10_000 and ids == sorted(ids) and ids[0] == "ILSVRC2012_val_00025275.JPEG" and ids[-1] == "ILSVRC2012_val_00050000.JPEG"
    if SHARED_CTEST10K.is_file():  # the list shipped in the package is the protocol's, verbatim
        assert ids == SHARED_CTEST10K.read_text().split()
    image, image_id = data.test[0]
    source = Image.open(imagenet_flat / "val" / image_id).convert("RGB")
    expected = np.asarray(source.resize((256, 256), Image.BILINEAR))  # Resize((256, 256)): no crop
    assert torch.equal(to_uint8(image), torch.from_numpy(expected.copy()).permute(2, 0, 1))  # the 8-bit image, as scored
    assert data.card["test_list_sha256"] and "colorization-pytorch" in data.card["protocol"]


def test_the_list_is_package_data_an_installed_wheel_carries():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "lists/*.txt" in package_data["colorbench.data"]
    assert (root / "colorbench" / "data" / "lists" / "imagenet_ctest10k.txt").is_file()


def test_class_folders_and_val_itself(tmp_path, photos):
    root = imagenet(tmp_path / "imagenet", photos, class_folders=True)
    for data_dir in (root, root / "val"):  # the ImageNet root, or val/ itself (train/ beside it)
        data = datasets.load("imagenet:val5k", data_dir=data_dir)
        assert [image_id for image_id in (data.test[0][1], data.test[4_999][1])] == [VAL5K[0], VAL5K[-1]]
        assert len(data.train) == 40


def test_coco_val2017_and_ade20k_val_load(tmp_path, photos):
    coco = tmp_path / "coco"
    fill(coco / "val2017", [f"{139 + 7 * i:012d}.jpg" for i in range(5_000)], photos)
    fill(coco / "train2017", [f"{9 + i:012d}.jpg" for i in range(20)], photos)
    data = datasets.load("coco:val2017", data_dir=coco, size=16)
    assert (len(data.test), data.test_size, data.size, len(data.train)) == (5_000, 256, 16, 20)
    assert data.test[0][1] == "000000000139.jpg" and data.test[0][0].shape == (3, 256, 256)
    assert "DDColor" in data.card["preprocessing_source"] and "count" in data.card["split"]

    ade = tmp_path / "ade" / "ADEChallengeData2016" / "images"
    fill(ade / "validation", [f"ADE_val_{i:08d}.jpg" for i in range(1, 2_001)], photos)
    for data_dir in (tmp_path / "ade", ade / "validation"):  # no training/ beside it: scoring needs none
        data = datasets.load("ade20k:val", data_dir=data_dir)
        assert len(data.test) == 2_000 and data.test[1_999][1] == "ADE_val_00002000.jpg"
        assert len(data.train) == 0 and data.card["train"].startswith("none: no ")


def test_the_resize_protocols_are_bilinear_without_antialiasing(tmp_path, photos):
    """By hand: half-pixel bilinear interpolation of the 12 x 15 photo to 256 x 256 in
    float (OpenCV's INTER_LINEAR), with no antialiasing."""
    ade = fill(tmp_path / "images" / "validation", [f"ADE_val_{i:08d}.jpg" for i in range(1, 2_001)], photos)
    image, _ = datasets.load("ade20k:val", data_dir=ade.parent.parent).test[0]
    rgb = np.asarray(Image.open(photos[0]).convert("RGB"), dtype=np.float64) / 255

    def taps(n_in):
        x = np.clip((np.arange(256) + 0.5) * n_in / 256 - 0.5, 0, None)
        x0 = np.floor(x).astype(int)
        return x0, np.minimum(x0 + 1, n_in - 1), x - x0

    (y0, y1, fy), (x0, x1, fx) = taps(rgb.shape[0]), taps(rgb.shape[1])
    rows = rgb[y0] * (1 - fy)[:, None, None] + rgb[y1] * fy[:, None, None]
    expected = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    assert np.abs(image.permute(1, 2, 0).double().numpy() - expected).max() < 1e-6


def test_a_missing_an_extra_or_a_doubled_file_is_named(tmp_path, photos):
    root = imagenet(tmp_path / "imagenet", photos)
    (root / "val" / VAL5K[4]).unlink()
    (root / "val" / VAL5K[9]).unlink()
    with pytest.raises(UserError, match=r"^2 of the 5,000 test images of imagenet:val5k are missing from .*: ILSVRC2012_val_00000005.JPEG, ILSVRC2012_val_00000010.JPEG; restore"):
        datasets.load("imagenet:val5k", data_dir=root)
    fill(root / "val", [VAL5K[4], VAL5K[9]], photos)
    fill(root / "val", ["ILSVRC2012_val_00050001.JPEG", "notes/holiday.jpg"], photos)  # no val image's number; no val image
    with pytest.raises(UserError, match=r"^2 file\(s\) in .* are no images of ImageNet ILSVRC2012's split: ILSVRC2012_val_00050001.JPEG, notes/holiday.jpg; move them out"):
        datasets.load("imagenet:val5k", data_dir=root)
    (root / "val" / "ILSVRC2012_val_00050001.JPEG").unlink()
    (root / "val" / "notes" / "holiday.jpg").unlink()
    fill(root / "val", [f"n00000000/{VAL5K[0]}"], photos)  # flat and in a class folder
    with pytest.raises(UserError, match=r"in .* twice: ILSVRC2012_val_00000001.JPEG as .* and n00000000/ILSVRC2012_val_00000001.JPEG; keep one"):
        datasets.load("imagenet:val5k", data_dir=root)


def test_a_wrong_layout_or_no_data_dir_is_one_clear_line(tmp_path, photos):
    with pytest.raises(UsageError, match=r"--data-dir is needed: imagenet:val5k reads your own copy of ImageNet ILSVRC2012; colorbench does not download it: .*image-net.org"):
        datasets.load("imagenet:val5k")
    fill(tmp_path / "deep" / "a" / "b", VAL5K[:3], photos)  # too deep to be any usual layout
    with pytest.raises(UserError, match=r"holds no imagenet:val5k test images: expected .*deep/val/ or .*deep/ILSVRC/Data/CLS-LOC/val/"):
        datasets.load("imagenet:val5k", data_dir=tmp_path / "deep")
    coco = fill(tmp_path / "coco" / "val2017", [f"{i:012d}.jpg" for i in range(1, 5_000)], photos)
    with pytest.raises(UserError, match=r"holds 4,999 images, not the 5,000 of coco:val2017 \(some are missing"):
        datasets.load("coco:val2017", data_dir=coco.parent)
    with pytest.raises(UsageError, match=r"--size 512 is larger than coco:val2017's 256 x 256 test images"):
        datasets.load("coco:val2017", data_dir=coco.parent, size=512)
    with pytest.raises(UsageError, match=r"imagenet needs a test set: --dataset imagenet:ctest10k or --dataset imagenet:val50k or --dataset imagenet:val5k \(not imagenet:val1k\)"):
        datasets.load("imagenet:val1k", data_dir=coco.parent)


def test_the_training_set_streams_from_disk(tmp_path, photos, monkeypatch):
    """Listed, a few decoded up front, the rest as training draws them: a corrupt image
    does not fail loading, and fails training naming itself (also from a DataLoader worker)."""
    root = imagenet(tmp_path / "imagenet", photos)
    names = sorted(str(p.relative_to(root / "train")) for p in (root / "train").rglob("*.JPEG"))
    corrupt = root / "train" / names[3]  # not one of the 8 read up front (0, 6, 11, ..., 39)
    corrupt.unlink()
    corrupt.write_bytes(b"\xff\xd8 not a JPEG after all")
    decoded = []
    monkeypatch.setattr(published, "load_rgb", lambda path: decoded.append(path) or np.zeros((12, 12, 3), np.uint8))
    data = datasets.load("imagenet:val5k", data_dir=root)
    assert len(data.train) == 40 and len(decoded) <= published.CHECKED_UP_FRONT + 1  # + datasets.load's look at one test image
    monkeypatch.undo()
    with pytest.raises(UserError, match=rf"^{corrupt}: .*: a training image of imagenet that cannot be read; restore it .*--resume"):
        data.train[3]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data.train, [3]), num_workers=1)
    with pytest.raises(published.UnreadableTrainingImage) as raised:
        next(iter(loader))
    assert str(raised.value).startswith(f"{corrupt}: ") and "\n" not in str(raised.value)


def test_an_unreadable_training_set_refuses_only_methods_that_train(tmp_path, photos):
    from colorbench import plugins, runner
    from tests.helpers import Sepia

    root = imagenet(tmp_path / "imagenet", photos)
    first = sorted((root / "train").rglob("*.JPEG"))[0]
    first.unlink()
    first.write_bytes(b"")
    data = datasets.load("imagenet:val5k", data_dir=root, size=16)
    assert isinstance(data.train, NoTrainingImages) and "one of 8 training images read up front, cannot be read (empty file" in data.card["train"]
    with pytest.raises(UserError, match=r"^sepia_test trains, and this dataset has no training images: .*cannot be read"):
        runner.check_settings(Sepia, profile="smoke", size=16, overrides={"steps": 2}, train_data=data.train)
    runner.check_settings(plugins.get_colorizer("gray"), profile="smoke", size=16, overrides={}, train_data=data.train)


# ------------------------------------------------------------------ full resolution
class LightnessTint(Colorizer):
    """ab a fixed function of the L it sees, so the upsampling can be checked by hand."""

    name = "lightness_tint_test"
    description = "ab = (0.3 L, -0.2 L) (test method)"
    paper = "none: a test"
    seen: list = []

    def predict(self, L, noise):
        LightnessTint.seen.append(L.clone())
        return torch.cat([0.3 * L, -0.2 * L], dim=1)


def test_full_resolution_the_method_at_its_size_ab_upsampled_joined_with_full_l(monkeypatch):
    """At S = 16 on 64 px test images: the method sees the L of each image resized with
    PIL's bicubic filter; its ab, upsampled bilinearly, is joined with the 64 px L."""
    rng = np.random.default_rng(1)
    truths = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    test = Fixed([(f"t{i}", torch.from_numpy(t).permute(2, 0, 1).float() / 255) for i, t in enumerate(truths)])
    joined = []
    real_join = evaluate.normalized_to_rgb
    monkeypatch.setattr(evaluate, "normalized_to_rgb", lambda L, ab: joined.append((L, ab)) or real_join(L, ab))
    LightnessTint.seen = []
    evaluate.evaluate(LightnessTint(size=16), test, metrics={}, n_samples=1)

    small = np.stack([np.asarray(Image.fromarray(t).resize((16, 16), Image.BICUBIC)) for t in truths])
    L_small = normalized_lightness(torch.from_numpy(small).permute(0, 3, 1, 2))
    assert torch.equal(LightnessTint.seen[-1], L_small)
    (L, ab), = joined
    assert torch.equal(L, normalized_lightness(torch.from_numpy(truths).permute(0, 3, 1, 2)))  # the full-resolution L
    ab_small = torch.cat([0.3 * L_small, -0.2 * L_small], dim=1).double().numpy()
    x = np.clip((np.arange(64) + 0.5) / 4 - 0.5, 0, None)  # half-pixel bilinear, by hand
    x0 = np.floor(x).astype(int)
    x1, f = np.minimum(x0 + 1, 15), x - x0
    rows = ab_small[:, :, x0] * (1 - f)[:, None] + ab_small[:, :, x1] * f[:, None]
    by_hand = rows[..., x0] * (1 - f) + rows[..., x1] * f
    assert ab.shape == (3, 2, 64, 64) and np.abs(ab.double().numpy() - by_hand).max() < 1e-6


def test_at_the_working_size_nothing_is_resized():
    gt = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    assert evaluate.at_working_size(gt, 16) is gt and evaluate.upsampled(gt, 16) is gt
    assert Dataset("d", 16, Fixed([]), Fixed([])).test_size == 16


def test_run_scores_gray_on_val5k_end_to_end(cli, imagenet_flat, tmp_path, monkeypatch):
    """The whole command on the 5,000 images; at a test size of 32, not 256, so that
    it takes seconds on a CPU (5,000 images at 256 px take minutes: every pixel is
    converted to Lab and back), and at the working size 16."""
    monkeypatch.setattr(published, "TEST_SIZE", 32)
    done = cli("run", "--plugin", "gray", "--dataset", "imagenet:val5k", "--data-dir", imagenet_flat, "--profile", "smoke",
               "--size", 16, "--metrics", "psnr", "--out", tmp_path / "out")
    assert done.exit_code == 0, done.output
    (path,) = (tmp_path / "out").glob("*.json")
    result = json.loads(path.read_text())
    protocol = result["protocol"]
    assert Image.open(tmp_path / "out" / result["samples"]["grid"]).size == (8 * 16, 2 * 16)  # shown at the working size, as the board composes them
    assert {k: protocol["dataset"][k] for k in ("name", "size", "test_size", "count", "scored")} == {
        "name": "imagenet:val5k", "size": 16, "test_size": 32, "count": 5_000, "scored": 5_000,
    }
    assert protocol["evaluation"].startswith("ground truth quantised to 8-bit sRGB at the test size 32x32; resized to the working size 16x16 with PIL's bicubic")
    assert protocol["dataset"]["card"]["test_size"] == 32
