"""Published weights: declared by a method, downloaded once (from a real HTTP server
on localhost here) into the cache, checked by sha256 before anything reads them,
loaded strictly, and scored by `colorbench run` without training."""

import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save as safetensors_bytes

import colorbench
from colorbench.errors import UserError
from colorbench.methods.colorizer import Colorizer
from colorbench.plugins import pm
from colorbench.weights import published
from colorbench.weights.published import PublishedWeights
from tests.helpers import one_json, photo_crops, refused, serve_folder


class Tint(Colorizer):
    """Trains nothing: its colours come from published weights alone."""

    name = "tint_test"
    description = "a 1x1 convolution from L to ab, from published weights (test plugin)"
    paper = "none: a test of published weights"

    def build(self):
        return {"net": torch.nn.Conv2d(1, 2, 1)}

    def predict(self, L, noise):
        return torch.tanh(self.nets["net"](L))


WEIGHTS = {"net.weight": torch.tensor([0.3, -0.2]).view(2, 1, 1, 1), "net.bias": torch.tensor([0.1, 0.05])}
OTHER = {"net.weight": torch.tensor([-0.4, 0.1]).view(2, 1, 1, 1), "net.bias": torch.tensor([0.0, -0.1])}


def private_cache(cache: Path, setenv) -> None:
    """$XDG_CACHE_HOME at ``cache``, with links to the ImageNet backbones already
    cached (LPIPS needs them), so only published weights are fetched there."""
    from colorbench.weights import backbones

    for name in backbones.BACKBONES:
        if (found := backbones.cached_path(name)).is_file():
            link = cache / found.relative_to(backbones.cache_dir().parent.parent)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(found)
    setenv("XDG_CACHE_HOME", str(cache))


def dead_url() -> str:
    """A localhost URL nothing answers at: offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tint.safetensors"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Tint registered with weights served from localhost; the cache in tmp_path."""
    private_cache(tmp_path / "cache", monkeypatch.setenv)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    files = tmp_path / "served"
    files.mkdir()
    data, other = safetensors_bytes(WEIGHTS), safetensors_bytes(OTHER)
    (files / "tint.safetensors").write_bytes(data)
    (files / "other.safetensors").write_bytes(other)
    sha, other_sha = hashlib.sha256(data).hexdigest(), hashlib.sha256(other).hexdigest()
    with serve_folder(files) as (url, asked):
        cls = type("Tint", (Tint,), {"published_weights": {
            "v1": PublishedWeights(url=f"{url}/tint.safetensors", sha256=sha, size=32, description="a warm tint", licence="CC0-1.0"),
            "v2": PublishedWeights(url=f"{url}/other.safetensors", sha256=other_sha, size=32),
            "wrong_sha": PublishedWeights(url=f"{url}/other.safetensors", sha256=sha, size=32),
            "offline": PublishedWeights(url=dead_url(), sha256=sha, size=32),
        }})

        class Plugin:
            @colorbench.hookimpl
            def register_colorizers(self, register):
                register(cls)

        pm.register(Plugin(), name="tint_test")
        try:
            yield SimpleNamespace(cls=cls, url=url, asked=asked, file=files / "tint.safetensors", other=files / "other.safetensors", sha=sha)
        finally:
            pm.unregister(name="tint_test")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return photo_crops(tmp_path_factory.mktemp("folder"))


def cached_files(tmp_path: Path) -> list[Path]:
    """Every file in the published weights' cache (temporary ones too)."""
    assert published.cache_dir().is_relative_to(tmp_path)
    return sorted(p for p in published.cache_dir().rglob("*") if p.is_file())


def run(cli, folder, out, *args):
    return cli("run", "--plugin", "tint_test", "--dataset", f"folder:{folder}", "--no-baseline", "--out", out, *args)


def test_a_method_that_trains_nothing_runs_from_its_default_weights_downloaded_once(cli, served, folder, tmp_path):
    first = run(cli, folder, tmp_path / "out", "--json")
    assert first.exit_code == 0, first.output
    assert served.asked == ["/tint.safetensors"]
    (result,) = one_json(first)["results"]
    assert result["training"]["steps"] == 0 and result["checkpoint"] is None
    assert result["training"]["loaded"] == {
        "from": "published", "name": "v1", "url": f"{served.url}/tint.safetensors", "sha256": served.sha, "size": 32,
        "description": "a warm tint", "licence": "CC0-1.0", "paper": "", "config": {},
    }
    assert result["protocol"]["dataset"]["size"] == 32  # the weights' working size
    assert json.loads(Path(result["file"]).read_text())["training"]["loaded"]["sha256"] == served.sha
    assert cached_files(tmp_path) == [published.cached_path(served.cls.published_weights["v1"])]

    again = run(cli, folder, tmp_path / "out", "--json")
    assert again.exit_code == 0, again.output
    assert served.asked == ["/tint.safetensors"]  # from the cache: the server is not asked again
    assert one_json(again)["results"][0]["metrics"] == result["metrics"]


def test_the_weights_loaded_are_the_ones_served(served):
    colorizer, record = published.load(served.cls, "v2")
    assert record["name"] == "v2"
    for key, tensor in OTHER.items():
        assert torch.equal(colorizer.nets.state_dict()[key], tensor)


def test_weights_named_with_weights_are_scored(cli, served, folder, tmp_path):
    result = run(cli, folder, tmp_path / "out", "--weights", "v2", "--json")
    assert result.exit_code == 0, result.output
    assert one_json(result)["results"][0]["training"]["loaded"]["name"] == "v2" and served.asked == ["/other.safetensors"]


def test_a_download_of_another_file_is_refused_and_nothing_is_cached(cli, served, folder, tmp_path):
    refused(run(cli, folder, tmp_path / "out", "--weights", "wrong_sha"), 1, "is not tint_test's published weights 'wrong_sha'", "nothing was cached")
    assert cached_files(tmp_path) == []  # not even a temporary file
    assert not (tmp_path / "out").exists()


def test_a_cached_file_changed_since_is_downloaded_anew(cli, served, folder, tmp_path):
    path = published.fetch(served.cls, "v1")
    path.write_bytes(served.other.read_bytes())
    result = run(cli, folder, tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert served.asked == ["/tint.safetensors"] * 2 and path.read_bytes() == served.file.read_bytes()


def test_offline_the_error_says_what_to_download_and_where_and_weights_file_works(cli, served, folder, tmp_path):
    declared = served.cls.published_weights["offline"]
    refused(
        run(cli, folder, tmp_path / "out", "--weights", "offline"), 1,
        f"could not download tint_test's published weights 'offline' from {declared.url}", "--weights-file PATH",
        str(published.cached_path(declared)),
    )
    assert cached_files(tmp_path) == [] and not (tmp_path / "out").exists()
    refused(run(cli, folder, tmp_path / "out", "--weights", "offline", "--weights-file", served.other), 1, f"--weights-file {served.other} is not")
    assert cached_files(tmp_path) == []
    result = run(cli, folder, tmp_path / "out", "--weights", "offline", "--weights-file", served.file, "--json")
    assert result.exit_code == 0, result.output
    assert cached_files(tmp_path) == [published.cached_path(declared)] and served.asked == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["--weights", "nope"], ["unknown weights of tint_test 'nope'", "v1"]),
        (["--set", "steps=1"], ["--set", "published weights"]),
        (["--weights", "v1", "--set", "steps=1"], ["--set", "--weights"]),
        (["--weights", "v1", "--resume"], ["--resume", "--weights"]),
        (["--size", "64"], ["--size 64", "works at 32x32"]),
        (["--weights-file", "/no/such/file"], ["--weights-file /no/such/file"]),
    ],
)
def test_usage_mistakes_are_one_line_and_nothing_is_written(cli, served, folder, tmp_path, args, words):
    refused(run(cli, folder, tmp_path / "out", *args), 2, *words)
    assert not (tmp_path / "out").exists() and served.asked == []


def test_beside_other_methods_weights_of_another_size_are_refused_before_any_download(cli, served, folder, tmp_path):
    result = cli("run", "--plugin", "tint_test,gray", "--dataset", f"folder:{folder}", "--size", 16, "--out", tmp_path / "out")
    refused(result, 2, "tint_test from its published weights 'v1' works at 32x32, not at this run's 16x16", "run it alone")
    assert served.asked == [] and not (tmp_path / "out").exists()


def test_a_method_without_published_weights_says_so(cli, tmp_path):
    refused(cli("run", "--plugin", "gray", "--weights", "v1", "--out", tmp_path / "out"), 2, "gray declares no published weights")


def test_list_and_weights_list_show_them_and_fetch_caches_them(cli, served, tmp_path):
    listed = {c["name"]: c for c in one_json(cli("list", "--json"))["colorizers"]}
    assert listed["tint_test"]["published_weights"] == ["v1", "v2", "wrong_sha", "offline"]
    assert listed["unet_cgan"]["published_weights"] == []
    rows = [r for r in one_json(cli("weights", "list", "--json"))["published"] if r["plugin"] == "tint_test"]
    assert [(r["name"], r["default"], r["cached"]) for r in rows[:2]] == [("v1", True, False), ("v2", False, False)]
    fetched = cli("weights", "fetch", "--plugin", "tint_test", "--json")
    assert fetched.exit_code == 0, fetched.output
    assert one_json(fetched)["weights"] == {"tint_test:v1": str(published.cached_path(served.cls.published_weights["v1"]))}
    assert cli("weights", "fetch", "--plugin", "tint_test").exit_code == 0
    assert served.asked == ["/tint.safetensors"]  # fetched once
    rows = [r for r in one_json(cli("weights", "list", "--json"))["published"] if r["plugin"] == "tint_test"]
    assert rows[0]["cached"] is True
    refused(cli("weights", "fetch", "--weights", "v1"), 2, "pass --plugin NAME")


def test_colorize_uses_the_default_published_weights(cli, served, folder, tmp_path):
    result = cli("colorize", folder / "test", "--plugin", "tint_test", "--out", tmp_path / "pred", "--json")
    assert result.exit_code == 0, result.output
    report = one_json(result)
    assert report["weights"]["name"] == "v1" and len(report["written"]) == 3


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(sha256="ABC"), "is not 64 lower-case hex digits"),
        (dict(url="ftp://example.org/w.safetensors"), "is not an http(s) or file URL"),
        (dict(size=48), "is not a power of two"),
    ],
)
def test_a_declaration_that_cannot_be_right_fails_when_the_plugin_is_imported(fields, message):
    declared = dict(url="https://example.org/w.safetensors", sha256="0" * 64, size=32) | fields
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PublishedWeights(**declared)


@settings(max_examples=30, deadline=None)
@given(declared=st.binary(max_size=64), given_bytes=st.one_of(st.none(), st.binary(max_size=64)))
def test_a_file_is_cached_exactly_when_its_sha256_is_the_declared_one(declared, given_bytes):
    data = declared if given_bytes is None else given_bytes
    sha = hashlib.sha256(declared).hexdigest()
    cls = type("Tint", (Tint,), {"published_weights": {"w": PublishedWeights(url="https://example.org/w.safetensors", sha256=sha, size=32)}})
    with tempfile.TemporaryDirectory() as tmp, patch.dict(os.environ, {"XDG_CACHE_HOME": tmp}):
        given_file = Path(tmp) / "given.safetensors"
        given_file.write_bytes(data)
        if data == declared:
            assert published.fetch(cls, "w", file=given_file).read_bytes() == data
        else:
            with pytest.raises(UserError, match="nothing was cached"):
                published.fetch(cls, "w", file=given_file)
        kept = sorted(p.name for p in published.cache_dir().iterdir())
        assert kept == ([f"{sha}.safetensors"] if data == declared else [])  # no temporary file left either
