"""run -> result file -> colorize with the checkpoint -> leaderboard, as a user would."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorbench.files import sha256
from tests.helpers import one_json, write_png


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of unet_cgan (and the gray baseline) on the built-in data."""
    from typer.testing import CliRunner

    from colorbench.cli import app

    out = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(app, ["run", "--plugin", "unet_cgan", "--profile", "smoke", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, one_json(result)["results"]


def test_run_scores_the_method_beside_gray(smoke_run):
    out, (method, gray) = smoke_run
    assert (method["plugin"]["name"], gray["plugin"]["name"]) == ("unet_cgan", "gray")
    for r in (method, gray):
        assert set(r["metrics"]) == {"psnr", "ssim", "colourfulness", "colourfulness_gt", "delta_colourfulness"}
        assert r["protocol"]["dataset"]["scored"] == 24
        assert Path(r["file"]).is_file()
    assert gray["metrics"]["colourfulness"] < 1  # zero chroma, up to 8-bit rounding
    assert method["metrics"]["colourfulness_gt"] == gray["metrics"]["colourfulness_gt"]  # the same images


def test_result_file_carries_the_protocol(smoke_run):
    out, (method, _) = smoke_run
    stored = json.loads(Path(method["file"]).read_text())
    assert stored["schema_version"] == 1
    assert stored["plugin"]["config"]["l1_weight"] == 100.0
    assert stored["plugin"]["distribution"]["name"] == "colorbench"
    protocol = stored["protocol"]
    assert protocol["dataset"]["card"]["train_images"] and protocol["dataset"]["size"] == 64
    assert protocol["metrics"]["psnr"]["colour_space"].startswith("sRGB")
    assert protocol["seed"] == 0 and protocol["device"] == "cpu" and protocol["profile"] == "smoke"
    assert stored["machine"]["torch"] and stored["machine"]["device_name"]
    assert len(stored["per_image"]["psnr"]) == 24
    assert stored["checkpoint"]["sha256"] == sha256(stored["checkpoint"]["path"])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # written atomically


def test_colorize_with_the_checkpoint(smoke_run, cli, tmp_path):
    _, (method, _) = smoke_run
    rng = np.random.default_rng(0)
    colour = write_png(tmp_path / "in" / "colour.png", rng.integers(0, 256, (45, 70, 3), dtype=np.uint8))
    gray = write_png(tmp_path / "in" / "sub" / "gray.png", rng.integers(0, 256, (100, 31), dtype=np.uint8))
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    result = cli("colorize", "--plugin", "unet_cgan", "--checkpoint", method["checkpoint"]["path"],
                 tmp_path / "in", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 1  # one image failed...
    report = one_json(result)
    assert [f["input"] for f in report["failed"]] == [str(tmp_path / "in" / "broken.png")]
    assert "broken.png" in result.stderr
    assert sorted(report["written"]) == [str(tmp_path / "out" / "colour.png"), str(tmp_path / "out" / "sub" / "gray.png")]
    for source, written in [(colour, tmp_path / "out" / "colour.png"), (gray, tmp_path / "out" / "sub" / "gray.png")]:
        original = np.asarray(Image.open(source).convert("RGB"))
        output = np.asarray(Image.open(written))
        assert output.shape == original.shape  # ...the others are written at their own size
        # the original L is kept (up to 8-bit rounding and gamut clipping)
        assert np.median(np.abs(rgb2lab(output)[..., 0] - rgb2lab(original)[..., 0])) < 1.0


def test_colorize_refuses_a_checkpoint_of_another_plugin(smoke_run, cli, tmp_path):
    _, (method, _) = smoke_run
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    result = cli("colorize", "--plugin", "gray", "--checkpoint", method["checkpoint"]["path"], tmp_path / "a.png", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "was made by plugin 'unet_cgan', not 'gray'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_leaderboard_renders_every_format(smoke_run, cli, fmt):
    out, _ = smoke_run
    result = cli("leaderboard", "--results", out, "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        (group,) = one_json(result)["groups"]
        assert [row["method"] for row in group["rows"]] == ["gray", "unet_cgan"]
        assert "builtin" in group["protocol"]
    else:
        assert "unet_cgan" in result.stdout and "gray" in result.stdout and "PSNR" in result.stdout


def test_leaderboard_skips_a_damaged_result(smoke_run, cli, tmp_path):
    out, (method, _) = smoke_run
    (tmp_path / "good.json").write_text(Path(method["file"]).read_text())
    (tmp_path / "bad.json").write_text('{"schema_version": 1, "metr')
    result = cli("leaderboard", "--results", tmp_path, "--json")
    assert result.exit_code == 0
    assert "skipping" in result.stderr and "bad.json" in result.stderr
    assert [r["method"] for r in one_json(result)["groups"][0]["rows"]] == ["unet_cgan"]
