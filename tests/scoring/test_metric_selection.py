"""--metrics and $COLORBENCH_METRICS: which metrics a scoring computes, and what
its result then records."""

import json

import pytest

from colorbench.errors import UsageError
from colorbench.scoring import selection
from tests.helpers import one_json

PER_IMAGE_CF = ["colourfulness", "colourfulness_gt"]


@pytest.fixture
def default_metrics(monkeypatch):
    """No default from the environment (the suite sets one: see tests/conftest.py)."""
    monkeypatch.delenv(selection.ENVIRONMENT, raising=False)


def test_names_choose_those_metrics_and_what_they_are_computed_from(default_metrics):
    assert list(selection.select("ssim,psnr")) == ["psnr", "ssim"]  # the registry's order, not the flag's
    assert list(selection.select("delta_colourfulness")) == [*PER_IMAGE_CF, "delta_colourfulness"]


def test_leading_minus_leaves_metrics_out(default_metrics):
    everything = list(selection.select())
    chosen = list(selection.select("-lpips,-ssim"))
    assert chosen == [n for n in everything if n not in ("lpips", "ssim")]


@pytest.mark.parametrize("spec, says", [
    ("psnr,-ssim", "not both"),
    ("psnr,nope", "unknown metric"),
    ("pnsr", "did you mean psnr"),
    (" , ", "names no metric"),
    ("-colourfulness", "delta_colourfulness is computed from colourfulness"),
])
def test_a_bad_choice_is_a_usage_error(default_metrics, spec, says):
    with pytest.raises(UsageError, match=says):
        selection.select(spec)


def test_the_environment_gives_the_default(monkeypatch):
    monkeypatch.setenv(selection.ENVIRONMENT, "psnr")
    assert list(selection.select()) == ["psnr"]
    assert list(selection.select("ssim")) == ["ssim"]  # the flag wins
    monkeypatch.setenv(selection.ENVIRONMENT, "psnr,nope")
    with pytest.raises(UsageError, match=r"\$COLORBENCH_METRICS"):
        selection.select()


def test_run_scores_and_records_only_the_metrics_named(cli, tmp_path, default_metrics):
    out = one_json(cli("run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path, "--metrics", "psnr,ssim", "--json"))
    result = out["results"][0]
    assert list(result["metrics"]) == ["psnr", "ssim"]
    assert list(result["protocol"]["metrics"]) == ["psnr", "ssim"]
    stored = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert list(stored["per_image"]) == ["id", "psnr", "ssim"]
    assert stored["not_computed"] == {}  # what was not asked for is not "not computed"


def test_run_refuses_an_unknown_metric_before_any_work(cli, tmp_path, default_metrics):
    r = cli("run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path / "out", "--metrics", "psnr,fdi")
    assert r.exit_code == 2 and "unknown metric" in r.output
    assert not (tmp_path / "out").exists()


def test_score_computes_only_the_metrics_named(cli, tmp_path, default_metrics):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("gt", "pred"):
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / folder / "a.png")
    out = one_json(cli("score", tmp_path / "gt", tmp_path / "pred", "--metrics=-lpips,-ssim", "--json"))
    assert "lpips" not in out["metrics"] and "ssim" not in out["metrics"] and out["metrics"]["psnr"] is not None
