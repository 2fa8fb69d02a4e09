"""Without ImageNet weights (offline, nothing cached), runs and `score` still give every
other metric and say why LPIPS is missing, rather than failing."""

import numpy as np
import pytest

from colorbench.scoring import lpips_metric
from colorbench.weights import backbones as weights
from colorbench.errors import UserError
from tests.helpers import one_json, write_png


@pytest.fixture
def no_weights(monkeypatch):
    def missing(name, download=True):
        raise UserError(weights.how_to_get(name))

    monkeypatch.setattr(weights, "features_state_dict", missing)
    lpips_metric._network.cache_clear()
    yield
    lpips_metric._network.cache_clear()


def test_run_without_lpips_weights_scores_the_rest(cli, tmp_path, no_weights):
    result = cli("run", "--plugin", "gray", "--size", "32", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    (run,) = one_json(result)["results"]
    assert run["metrics"]["lpips"] is None and run["metrics"]["psnr"] > 0
    assert "colorbench weights fetch" in run["not_computed"]["lpips"]


def test_score_without_lpips_weights_scores_the_rest(cli, tmp_path, no_weights):
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        write_png(tmp_path / "gt" / name, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
        write_png(tmp_path / "pred" / name, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    result = cli("score", tmp_path / "gt", tmp_path / "pred", "--json")
    assert result.exit_code == 0, result.output
    report = one_json(result)
    assert report["metrics"]["lpips"] is None and "colorbench weights fetch" in report["not_computed"]["lpips"]
