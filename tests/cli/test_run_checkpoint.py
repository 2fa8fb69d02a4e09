"""`colorbench run --checkpoint PATH`: a stored model scored on any dataset, without
training, into the same kind of result as a trained run's."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from colorbench.cli import app
from colorbench.files import sha256
from tests.helpers import one_json, photo_crops, refused, write_png


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke-trained perceptual_cnn (deterministic: colorize gives the very colours scoring sees) at 32 px on the builtin data."""
    out = tmp_path_factory.mktemp("trained")
    result = invoke("run", "--plugin", "perceptual_cnn", "--profile", "smoke", "--size", 32, "--no-baseline", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    (run,) = one_json(result)["results"]
    return run, Path(run["checkpoint"]["path"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return photo_crops(tmp_path_factory.mktemp("folder"))


def test_a_checkpoint_scored_on_its_own_data_gives_the_trained_runs_numbers(trained, tmp_path):
    run, checkpoint = trained
    result = invoke("run", "--checkpoint", checkpoint, "--no-baseline", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    (loaded,) = one_json(result)["results"]
    assert loaded["metrics"] == run["metrics"] and loaded["ci95"] == run["ci95"]
    stored = [json.loads(Path(r["file"]).read_text()) for r in (loaded, run)]
    assert stored[0]["per_image"] == stored[1]["per_image"]  # every image's every number
    assert loaded["protocol"] == run["protocol"]  # the profile it was trained at, the same data, seed and size
    assert loaded["plugin"] == run["plugin"]


def test_a_checkpoint_scores_on_another_dataset_as_colorize_and_score_do(trained, folder, tmp_path):
    _, checkpoint = trained
    result = invoke("run", "--checkpoint", checkpoint, "--dataset", f"folder:{folder}", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    method, gray = one_json(result)["results"]  # the gray baseline beside it, as usual
    assert (method["plugin"]["name"], gray["plugin"]["name"]) == ("perceptual_cnn", "gray")
    assert method["protocol"]["dataset"]["name"] == f"folder:{folder}" and method["protocol"]["dataset"]["size"] == 32
    assert method["protocol"]["profile"] == "smoke" and method["checkpoint"] is None  # nothing new saved
    training = method["training"]
    assert training["steps"] == 0 and training["seconds"] == 0.0
    assert training["loaded"] == {
        "from": "checkpoint",
        "path": str(checkpoint.resolve()),
        "sha256": sha256(checkpoint),
        "plugin_version": method["plugin"]["version"],
        "trained_with": {"run_id": checkpoint.stem, "dataset": "builtin", "profile": "smoke", "seed": 0},
    }
    assert json.loads(Path(method["file"]).read_text())["training"]["loaded"] == training["loaded"]  # as stored

    colorized = invoke("colorize", folder / "test", "--checkpoint", checkpoint, "--out", tmp_path / "pred")
    assert colorized.exit_code == 0, colorized.output
    scored = invoke("score", folder / "test", tmp_path / "pred", "--json")
    assert scored.exit_code == 0, scored.output
    by_files = one_json(scored)["metrics"]
    assert method["metrics"]["colourfulness_gt"] == by_files["colourfulness_gt"]  # the same truth, the same arithmetic
    for name in ("psnr", "ssim", "lpips", "colourfulness", "delta_colourfulness"):
        # the same colours, up to float rounding: scoring colourizes the images as one batch, colorize one by one
        assert method["metrics"][name] == pytest.approx(by_files[name], rel=1e-4), name


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--plugin", "gray"], 2, ["made by plugin 'perceptual_cnn', not 'gray'", "--plugin perceptual_cnn"]),
        (["--set", "batch_size=4"], 2, ["--set", "--checkpoint"]),
        (["--resume"], 2, ["--resume", "--checkpoint"]),
        (["--plugin", "perceptual_cnn,gray"], 2, ["--checkpoint loads one method's weights"]),
        (["--all"], 2, ["--checkpoint", "not --all"]),
        (["--size", 64], 2, ["--size 64", "works at 32x32"]),
        (["--profile", "quick"], 2, ["--profile quick", "trained at profile smoke"]),
        (["--weights", "any"], 2, ["--checkpoint and --weights"]),
    ],
)
def test_flags_that_do_not_go_with_a_checkpoint_are_one_line(trained, tmp_path, args, code, words):
    _, checkpoint = trained
    result = invoke("run", "--checkpoint", checkpoint, *args, "--out", tmp_path / "out")
    refused(result, code, *words)
    assert not (tmp_path / "out").exists()


def test_a_dataset_that_cannot_give_the_checkpoints_size_says_so(trained, tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        write_png(tmp_path / "small" / split / "a.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    result = invoke("run", "--checkpoint", trained[1], "--dataset", f"folder:{tmp_path / 'small'}", "--out", tmp_path / "out")
    refused(result, 2, f"checkpoint {trained[1]} works at 32x32, which folder:{tmp_path / 'small'} cannot give")
    assert not (tmp_path / "out").exists()


def _copy(checkpoint: Path, into: Path) -> Path:
    into.mkdir()
    for path in (checkpoint, checkpoint.with_suffix(".json")):
        (into / path.name).write_bytes(path.read_bytes())
    return into / checkpoint.name


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p.unlink(), ["not found"]),
        (lambda p: p.with_suffix(".json").unlink(), ["is missing"]),
        (lambda p: p.write_bytes(p.read_bytes()[:-8] + b"\x00" * 8), ["sha256 differs"]),
        (lambda p: p.write_bytes(b"\x00" * 20), ["not a readable safetensors file"]),
        (lambda p: p.with_suffix(".json").write_text("{"), ["is not valid JSON"]),
    ],
    ids=["no weights", "no config", "changed weights", "not safetensors", "damaged config"],
)
def test_a_missing_or_damaged_checkpoint_is_one_line_and_nothing_is_written(trained, tmp_path, damage, words):
    path = _copy(trained[1], tmp_path / "ckpt")
    damage(path)
    refused(invoke("run", "--checkpoint", path, "--out", tmp_path / "out"), 1, *words)
    assert not (tmp_path / "out").exists()
