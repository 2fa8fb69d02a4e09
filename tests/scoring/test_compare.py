"""colorbench compare: paired differences B - A on the same images, or a refusal."""

import json

import numpy as np
import pytest

from tests.helpers import one_json, write_png


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Score files for two 'methods' on the same 8 images: A (noisier) and B (less noisy)."""
    from typer.testing import CliRunner

    from colorbench.cli import app

    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    for i in range(8):
        y, x = np.mgrid[0:32, 0:32] / 32
        image = np.stack([np.sin(4 * x + c) * 90 + 120 for c in rng.uniform(0, 6, 3)], -1)
        image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        write_png(root / "gt" / f"{i}.png", image)
        for name, sigma in (("a", 30), ("b", 8)):
            noisy = np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
            write_png(root / name / f"{i}.png", noisy)
    files = {}
    for name in ("a", "b"):
        result = CliRunner().invoke(app, ["score", str(root / "gt"), str(root / name), "--out", str(root / f"{name}.json")])
        assert result.exit_code == 0, result.output
        files[name] = root / f"{name}.json"
    return files


def test_a_result_against_itself_is_zero_with_a_zero_interval(cli, scored):
    report = one_json(cli("compare", scored["a"], scored["a"], "--json"))
    assert report["difference"] == "B - A" and report["images"] == 8
    for name, m in report["metrics"].items():
        assert m["difference"] == 0, name
        assert m["ci95"] == [0, 0], name
        assert m["better"] in ("neither (the interval contains 0)", "no direction")


def test_paired_difference_is_b_minus_a(cli, scored):
    ab = one_json(cli("compare", scored["a"], scored["b"], "--json"))["metrics"]
    ba = one_json(cli("compare", scored["b"], scored["a"], "--json"))["metrics"]
    a, b = (json.loads(scored[k].read_text()) for k in ("a", "b"))
    for name in ("psnr", "ssim", "lpips"):
        assert ab[name]["difference"] == pytest.approx(b["metrics"][name] - a["metrics"][name])
        assert ab[name]["difference"] == pytest.approx(-ba[name]["difference"])
        lo, hi = ab[name]["ci95"]
        assert lo <= ab[name]["difference"] <= hi
        assert ab[name]["better"] == "B" and ba[name]["better"] == "A"  # less noise is better
    assert ab["psnr"]["difference"] > 5 and ab["lpips"]["difference"] < 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["protocol"]["metrics"]["lpips"].update(version="2"), "lpips version 1 vs 2"),
        (lambda r: r["protocol"]["dataset"].update(name="folder:/elsewhere"), "dataset name"),
        (lambda r: r["protocol"]["dataset"].update(size=64), "dataset size own vs 64"),
        (lambda r: r["per_image"]["id"].__setitem__(0, "other.png"), "test images differ"),
    ],
)
def test_results_scored_differently_are_refused(cli, scored, tmp_path, change, message):
    other = json.loads(scored["b"].read_text())
    change(other)
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = cli("compare", scored["a"], tmp_path / "other.json")
    assert result.exit_code == 1
    assert "different protocols" in result.stderr and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    as_json = cli("compare", scored["a"], tmp_path / "other.json", "--json")
    assert as_json.exit_code == 1 and "different protocols" in one_json(as_json)["error"]


def test_a_result_without_per_image_values_is_refused(cli, scored, tmp_path):
    summary = {k: v for k, v in json.loads(scored["a"].read_text()).items() if k != "per_image"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    result = cli("compare", tmp_path / "summary.json", scored["b"])
    assert result.exit_code == 1 and "no per-image values" in result.stderr


def test_table_output(cli, scored):
    result = cli("compare", scored["a"], scored["b"])
    assert result.exit_code == 0, result.output
    assert "B - A" in result.stdout and "psnr" in result.stdout
