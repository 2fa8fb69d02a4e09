"""The weights caches are untrusted input (issue 10): a damaged, truncated, retyped
or NaN-filled file in colorbench's cache or the torch hub cache is refused naming
the file and what to do, by every reader (LPIPS, the perceptual loss, `weights
fetch`); never a traceback, a cast, or a silently wrong LPIPS.

Each test has caches of its own (XDG_CACHE_HOME, TORCH_HOME): the real ones are
never touched."""

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from colorbench.scoring import lpips_metric
from colorbench.weights import backbones as weights
from colorbench.cli import app
from colorbench.errors import UserError


@pytest.fixture(scope="module")
def alexnet():
    return weights.features_state_dict("alexnet")  # from the real caches, read only


@pytest.fixture(scope="module")
def vgg16():
    return weights.features_state_dict("vgg16")


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights.cached_path("alexnet").is_relative_to(tmp_path) and weights.hub_path("alexnet").is_relative_to(tmp_path)
    return tmp_path


def _cached(state: dict, name: str = "alexnet"):
    weights.cached_path(name).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, weights.cached_path(name))
    return weights.cached_path(name)


def _retyped(state, dtype):
    return {**state, "0.weight": state["0.weight"].to(dtype)}


CACHE_DAMAGE = {
    "truncated": (lambda s: _cached(s).write_bytes(_cached(s).read_bytes()[:5000]), "is damaged"),
    "not safetensors": (lambda s: _cached(s).write_bytes(b"\x00" * 64), "is damaged"),
    "int8": (lambda s: _cached(_retyped(s, torch.int8)), "0.weight is int8 [64, 3, 11, 11], the network's float32"),
    "float64": (lambda s: _cached(_retyped(s, torch.float64)), "0.weight is float64"),
    "wrong shape": (lambda s: _cached({**s, "0.weight": torch.zeros(3, 3)}), "0.weight is float32 [3, 3]"),
    "a weight missing": (lambda s: _cached({k: v for k, v in s.items() if k != "3.bias"}), "1 missing (3.bias)"),
    "an extra weight": (lambda s: _cached({**s, "99.weight": torch.zeros(1)}), "1 unexpected (99.weight)"),
    "NaN": (lambda s: _cached({**s, "3.weight": s["3.weight"] * float("nan")}), "NaN or infinity in 3.weight"),
    "infinity": (lambda s: _cached({**s, "8.bias": s["8.bias"] / 0}), "NaN or infinity in 8.bias"),
}


@pytest.mark.parametrize("case", CACHE_DAMAGE)
def test_a_damaged_cache_is_refused_by_every_reader(caches, alexnet, vgg16, case):
    _cached(vgg16, "vgg16")  # intact: `fetch` then needs no network
    damage, words = CACHE_DAMAGE[case]
    damage(alexnet)
    path = weights.cached_path("alexnet")
    for read in (lambda: weights.features_state_dict("alexnet", download=False), lambda: lpips_metric.build()):
        with pytest.raises(UserError) as refused:
            read()
        assert str(path) in str(refused.value) and words in str(refused.value), str(refused.value)
        assert "colorbench weights fetch" in str(refused.value)
    fetched = CliRunner().invoke(app, ["weights", "fetch", "--json"])  # never reports a damaged file ready
    assert fetched.exit_code == 1 and "Traceback" not in fetched.output
    (line,) = fetched.stderr.strip().splitlines()
    assert str(path) in line and words in line


def _hub(obj):
    weights.hub_path("alexnet").parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, weights.hub_path("alexnet"))


HUB_DAMAGE = {
    "a tensor": (lambda s: _hub(torch.zeros(3)), "it holds a Tensor"),
    "text": (lambda s: (_hub({}), weights.hub_path("alexnet").write_text("junk")), "is not a plain weights file"),
    "no features": (lambda s: _hub({"classifier.1.weight": torch.zeros(2)}), "10 missing"),
    "retyped": (lambda s: _hub({f"features.{k}": v for k, v in _retyped(s, torch.int8).items()}), "0.weight is int8"),
}


@pytest.mark.parametrize("case", HUB_DAMAGE)
def test_a_damaged_torch_hub_file_is_refused(caches, alexnet, case):
    damage, words = HUB_DAMAGE[case]
    damage(alexnet)
    with pytest.raises(UserError) as refused:
        weights.features_state_dict("alexnet", download=False)
    assert str(weights.hub_path("alexnet")) in str(refused.value) and words in str(refused.value), str(refused.value)


def test_intact_caches_are_read_as_they_are(caches, alexnet):
    _cached(alexnet)
    state = weights.features_state_dict("alexnet", download=False)
    assert state.keys() == alexnet.keys() and all(torch.equal(state[k], alexnet[k]) for k in state)


@pytest.mark.parametrize("archive", ["missing.tar.gz", "."])
def test_an_archive_that_cannot_be_read_is_one_line(caches, archive):
    with pytest.raises(UserError, match="cannot be read"):
        weights.read_carrier(caches / archive)
