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
    metric_names = {
        "psnr", "ssim", "lpips", "colourfulness", "colourfulness_gt", "delta_colourfulness", "mean_abs_delta_colourfulness",
    }
    for r in (method, gray):
        assert set(r["metrics"]) == metric_names
        assert set(r["ci95"]) == metric_names
        for name, (lo, hi) in r["ci95"].items():
            assert lo <= r["metrics"][name] <= hi, name
        assert 0 < r["metrics"]["lpips"] < 1
        assert r["protocol"]["dataset"]["scored"] == 24
        assert Path(r["file"]).is_file()
        assert r["plugin"]["hint"] is None
    assert gray["metrics"]["colourfulness"] < 1  # zero chroma, up to 8-bit rounding
    assert method["metrics"]["colourfulness_gt"] == gray["metrics"]["colourfulness_gt"]  # the same images


def test_run_reports_diversity_and_speed(smoke_run):
    _, (method, gray) = smoke_run
    assert gray["diversity"] == {"applicable": False, "reason": "deterministic method: every sample is the same prediction"}
    d = method["diversity"]  # unet_cgan is stochastic: k = 3 samples at the smoke profile
    assert d["applicable"] and d["samples"] == 3 and d["lpips"] >= 0 and isinstance(d["noise_ignored"], bool)
    for r in (method, gray):
        s = r["speed"]
        assert s["device"] == "cpu" and s["device_name"] and s["dtype"] == "float32" and s["torch"] and s["allocator"]
        assert s["inference"]["images_per_s"] > 0 and s["latency_ms"]["p50"] > 0
        assert s["parameters"] == r["plugin"]["parameters"]
    assert method["speed"]["training"]["images_per_s"] > 0 and method["speed"]["flops_per_image"] > 0
    assert gray["speed"]["training"]["applicable"] is False


def test_result_file_carries_the_protocol(smoke_run):
    out, (method, _) = smoke_run
    stored = json.loads(Path(method["file"]).read_text())
    assert stored["schema_version"] == 2 and stored["protocol"]["metrics"]["delta_colourfulness"]["kind"] == "set"
    assert stored["plugin"]["config"]["l1_weight"] == 100.0
    assert stored["plugin"]["distribution"]["name"] == "colorbench"
    protocol = stored["protocol"]
    assert protocol["dataset"]["card"]["train_images"] and protocol["dataset"]["size"] == 64
    assert protocol["metrics"]["psnr"]["colour_space"].startswith("sRGB")
    assert protocol["seed"] == 0 and protocol["device"] == "cpu" and protocol["profile"] == "smoke"
    assert stored["machine"]["torch"] and stored["machine"]["device_name"] and stored["machine"]["allocator"]
    assert len(stored["per_image"]["psnr"]) == 24
    for name in ("ssim", "lpips", "colourfulness", "colourfulness_gt", "mean_abs_delta_colourfulness", "diversity_lpips"):
        assert len(stored["per_image"][name]) == 24, name
    assert protocol["metrics"]["lpips"]["version"] == "1" and protocol["ci95"]["resamples"] == 1000
    assert stored["plugin"]["hint"] is None
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
    else:  # markdown escapes the _ of a name, as any text that comes from a plugin
        name = "unet\\_cgan" if fmt == "markdown" else "unet_cgan"
        assert name in result.stdout and "gray" in result.stdout and "PSNR" in result.stdout
        assert "LPIPS ↓" in result.stdout
    if fmt == "table":
        assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_leaderboard_marks_a_hint_based_method(smoke_run, cli, tmp_path):
    _, (method, gray) = smoke_run
    hinted = json.loads(Path(method["file"]).read_text())
    hinted["plugin"] |= {"name": "histogram_cgan", "hint": "colour histogram of a reference image"}
    (tmp_path / "hinted.json").write_text(json.dumps(hinted))
    (tmp_path / "gray.json").write_text(Path(gray["file"]).read_text())
    table = cli("leaderboard", "--results", tmp_path)
    assert "histogram_cgan (hint)" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    markdown = cli("leaderboard", "--results", tmp_path, "--format", "markdown").stdout
    assert "histogram\\_cgan (hint)" in markdown and "±" in markdown
    rows = one_json(cli("leaderboard", "--results", tmp_path, "--json"))["groups"][0]["rows"]
    by_name = {r["method"]: r for r in rows}
    assert by_name["histogram_cgan"]["hint"] == "colour histogram of a reference image"
    assert by_name["gray"]["hint"] is None
    assert by_name["gray"]["LPIPS ci95"][0] <= by_name["gray"]["LPIPS"] <= by_name["gray"]["LPIPS ci95"][1]


def test_leaderboard_still_reads_results_from_before_lpips(smoke_run, cli, tmp_path):
    _, (method, _) = smoke_run
    old = json.loads(Path(method["file"]).read_text())
    for key in ("ci95", "diversity", "speed", "left_out_of_mean", "not_computed"):
        old.pop(key)
    old["plugin"].pop("hint")
    for name in ("lpips", "mean_abs_delta_colourfulness"):
        old["metrics"].pop(name)
        old["protocol"]["metrics"].pop(name)
    (tmp_path / "old.json").write_text(json.dumps(old))
    # a `colorbench score` output in the same folder is not a method's run: left out
    write_png(tmp_path / "images" / "a.png", np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    assert cli("score", tmp_path / "images", tmp_path / "images", "--out", tmp_path / "score.json").exit_code == 0
    for fmt in ("table", "markdown", "json"):
        result = cli("leaderboard", "--results", tmp_path, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert ("unet\\_cgan" if fmt == "markdown" else "unet_cgan") in result.stdout


def test_leaderboard_skips_a_damaged_result(smoke_run, cli, tmp_path):
    out, (method, _) = smoke_run
    (tmp_path / "good.json").write_text(Path(method["file"]).read_text())
    (tmp_path / "bad.json").write_text('{"schema_version": 1, "metr')
    result = cli("leaderboard", "--results", tmp_path, "--json")
    assert result.exit_code == 0
    assert "skipping" in result.stderr and "bad.json" in result.stderr
    assert [r["method"] for r in one_json(result)["groups"][0]["rows"]] == ["unet_cgan"]
