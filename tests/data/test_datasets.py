import numpy as np
import pytest
import torch

from colorbench.data import datasets
from colorbench.data.builtin_datasets import BUILTIN_TEST, BUILTIN_TRAIN
from colorbench.errors import UsageError, UserError
from colorbench.scoring.evaluate import evaluate
from colorbench.plugins import get_colorizer
from tests.helpers import write_png


def test_builtin_is_split_by_image_with_fixed_test_crops():
    assert not set(BUILTIN_TRAIN) & set(BUILTIN_TEST)
    a, b = datasets.load("builtin"), datasets.load("builtin")
    assert a.size == 64 and len(a.test) == 24
    ids = [a.test[i][1] for i in range(len(a.test))]
    assert ids[:2] == ["chelsea/r0c0", "chelsea/r0c1"] and len(set(ids)) == len(ids)
    for i in range(len(a.test)):  # deterministic: the same crops every time
        assert torch.equal(a.test[i][0], b.test[i][0])
    image, _ = a.test[0]
    assert image.shape == (3, 64, 64) and 0 <= image.min() and image.max() <= 1


def test_training_crops_are_random_but_seeded():
    data = datasets.load("builtin", size=32)
    torch.manual_seed(1)
    first = [data.train[i] for i in range(4)]
    torch.manual_seed(1)
    again = [data.train[i] for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not torch.equal(data.train[0], data.train[0])  # a new crop each time
    assert first[0].shape == (3, 32, 32)


def _images(root, names, rng, gray=()):
    for name in names:
        rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
        if name in gray:
            rgb[...] = rgb[..., :1]
        write_png(root / name, rgb)


def test_folder_with_train_and_test_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    _images(tmp_path / "train", [f"t{i}.png" for i in range(5)], rng)
    _images(tmp_path / "test", ["a/x.png", "b/y.png", "z.jpg"], rng)
    (tmp_path / "test" / "notes.txt").write_text("not an image")
    data = datasets.load(f"folder:{tmp_path}", size=16)
    assert len(data.train) == 5 and len(data.test) == 3
    assert [data.test[i][1] for i in range(3)] == ["a/x.png", "b/y.png", "z.jpg"]
    assert data.card["split"] == "the folder's own train/ and test/ subfolders"


def test_folder_without_subfolders_gets_a_seeded_disjoint_split(tmp_path):
    _images(tmp_path, [f"{i:02d}.png" for i in range(20)], np.random.default_rng(0))
    ids = lambda d: {d.test[i][1] for i in range(len(d.test))}  # noqa: E731
    one, same, other = (datasets.load(f"folder:{tmp_path}", seed=s) for s in (0, 0, 1))
    assert len(one.train) == 16 and len(one.test) == 4
    assert ids(one) == ids(same) and ids(one) != ids(other)
    assert not {p.name for p in one.train.paths} & ids(one)
    assert one.size == 32  # the largest power of two fitting the 40 px images


def test_unreadable_images_are_listed_up_front(tmp_path):
    _images(tmp_path / "train", ["a.png", "b.png"], np.random.default_rng(0))
    _images(tmp_path / "test", ["c.png"], np.random.default_rng(1))
    (tmp_path / "train" / "empty.png").write_bytes(b"")
    data = datasets.load(f"folder:{tmp_path}", size=16)
    assert len(data.train) == 2
    assert data.card["unreadable_skipped"] == [f"{tmp_path / 'train' / 'empty.png'}: empty file (0 bytes)"]


def test_grayscale_ground_truth_is_excluded_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    _images(tmp_path / "train", ["a.png"], rng)
    _images(tmp_path / "test", ["c1.png", "g1.png", "c2.png", "g2.png"], rng, gray={"g1.png", "g2.png"})
    data = datasets.load(f"folder:{tmp_path}", size=16)
    scored = evaluate(get_colorizer("gray")(size=16), data.test)
    assert scored["scored"] == 2
    assert scored["excluded"]["ids"] == ["g1.png", "g2.png"]
    assert np.isfinite(scored["metrics"]["psnr"])


def test_folder_needs_images(tmp_path):
    with pytest.raises(UserError, match="needs readable images"):
        datasets.load(f"folder:{tmp_path}")
    with pytest.raises(UsageError, match="folder needs a path"):
        datasets.load("folder")


def test_cifar10_offline_says_how_to_get_it(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(UserError, match="--data-dir"):
        datasets.load("cifar10", data_dir=tmp_path)


def test_shared_cifar10_subset_through_folder(shared_cifar):
    data = datasets.load(f"folder:{shared_cifar}")
    assert (len(data.train), len(data.test), data.size) == (5085, 1017, 32)
    image, image_id = data.test[0]
    assert image.shape == (3, 32, 32) and image_id.endswith(".png")


def test_cifar10_subset_6k_from_the_shared_pngs(shared_cifar):
    data = datasets.load("cifar10:subset-6k", data_dir=shared_cifar)
    assert data.name == "cifar10:subset-6k" and data.size == 32
    assert (len(data.train), len(data.test)) == (5085, 1017)
    assert data.test.ids[:2] == ["test_batch_00000", "test_batch_00001"] and data.test.ids[-1] == "test_batch_01016"
    assert data.train.ids[0] == "data_batch_1_00000" and data.train.ids[-1] == "data_batch_5_01016"


def test_cifar10_subset_6k_takes_the_same_images_from_the_official_batches(shared_cifar, monkeypatch):
    """The subset made from torchvision's arrays equals the PNG copy, id for id."""
    import torchvision.datasets

    pngs = datasets.load("cifar10:subset-6k", data_dir=shared_cifar)

    class FakeOfficial:  # the official arrays, rebuilt from the PNGs at their positions
        def __init__(self, root, train, download):
            n = 50_000 if train else 10_000
            self.data = np.zeros((n, 32, 32, 3), np.uint8)
            source = pngs.train if train else pngs.test
            for image, image_id in zip(source.images, source.ids):
                batch, index = image_id.rsplit("_", 1)
                offset = (int(batch.rsplit("_", 1)[1]) - 1) * 10_000 if train else 0
                self.data[offset + int(index)] = image

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeOfficial)
    official = datasets.load("cifar10:subset-6k", data_dir=shared_cifar / "no-pngs-here")
    assert official.test.ids == pngs.test.ids and official.train.ids == pngs.train.ids
    assert np.array_equal(official.test.images, pngs.test.images)
    assert np.array_equal(official.train.images, pngs.train.images)
