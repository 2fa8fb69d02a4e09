"""`run` goes on past a failing method, marks a diverged one, and refuses bad data on --strict."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import colorbench
from colorbench.plugins import pm
from tests.helpers import Sepia, one_json, write_png
from tests.training.test_training import Spiky


class Boom(Sepia):
    name = "boom_test"
    profiles = {"smoke": dict(steps=2, batch_size=2)}

    def optimizers(self):
        return {"sgd": torch.optim.SGD(self.nets.parameters(), lr=0.1)}

    def loss(self, L, ab):
        raise RuntimeError("a bug in this method")


class AlwaysDiverges(Spiky):
    name = "diverges_test"
    profiles = {"smoke": dict(unstable_above=0.0)}


class Methods:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        for cls in (Sepia, Boom, AlwaysDiverges):
            register(cls)


@pytest.fixture
def methods():
    pm.register(Methods(), name="failing_methods")
    yield
    pm.unregister(name="failing_methods")


def test_a_failing_method_is_an_error_row_and_the_rest_run(cli, methods, tmp_path):
    result = cli("run", "--plugin", "boom_test,sepia_test", "--profile", "smoke", "--size", "16", "--out", tmp_path, "--json")
    assert result.exit_code == 1
    report = one_json(result)
    assert [r["plugin"]["name"] for r in report["results"]] == ["sepia_test", "gray"]
    assert report["failed"] == [{"plugin": "boom_test", "status": "error", "error": "RuntimeError: a bug in this method"}]
    assert "1 of 3 method(s) did not finish: boom_test (error)" in result.stderr


def test_a_diverged_run_is_marked_and_never_scored(cli, methods, tmp_path):
    result = cli("run", "--plugin", "diverges_test", "--profile", "smoke", "--size", "16", "--out", tmp_path, "--no-baseline", "--json")
    assert result.exit_code == 1
    (failed,) = one_json(result)["failed"]
    assert failed["status"] == "diverged" and "non-finite" in failed["error"]
    stored = json.loads(Path(failed["file"]).read_text())
    assert stored["status"] == "diverged" and stored["metrics"] == {} and stored["checkpoint"] is None
    assert stored["diverged"]["step"] == 0
    board = cli("leaderboard", "--results", tmp_path, "--json")
    assert one_json(board)["groups"] == []  # no score on the board as if it were one


def test_strict_refuses_unreadable_images_before_training(cli, tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            write_png(tmp_path / "data" / split / f"{i}.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    (tmp_path / "data" / "train" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    args = ["run", "--plugin", "gray", "--dataset", f"folder:{tmp_path / 'data'}", "--size", "16", "--out", tmp_path / "out"]
    strict = cli(*args, "--strict")
    assert strict.exit_code == 1 and "--strict: 1 unreadable image(s)" in strict.stderr and "broken.png" in strict.stderr
    assert not (tmp_path / "out").exists()
    lenient = cli(*args)
    assert lenient.exit_code == 0 and "skipped 1 unreadable image(s)" in lenient.stderr


@pytest.mark.parametrize("args", [["--all", "--plugin", "gray"], []])
def test_plugin_or_all(cli, args):
    result = cli("run", *args)
    assert result.exit_code == 2 and "--plugin NAME" in result.stderr


def test_set_overrides_are_typed_and_recorded(cli, tmp_path):
    result = cli("run", "--plugin", "unet_cgan", "--profile", "smoke", "--size", "16", "--set", "ngf=4", "--set", "l1_weight=10",
                 "--no-baseline", "--samples", "2", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    config = one_json(result)["results"][0]["plugin"]["config"]
    assert config["ngf"] == 4 and config["l1_weight"] == 10.0
    bad = cli("run", "--plugin", "unet_cgan", "--set", "lambda=3")
    assert bad.exit_code == 2 and "has no setting 'lambda'" in bad.stderr
