"""Sample diversity: not applicable to deterministic methods, flags ignored noise."""

import pytest
import torch

from colorbench.methods.colorizer import Colorizer
from colorbench.data.datasets import Fixed
from colorbench.scoring.diversity import NOISE_IGNORED_LPIPS
from colorbench.scoring.evaluate import evaluate


class _Constant(Colorizer):
    """Stochastic in name only: a fixed tint whatever the noise (mode collapse)."""

    name = "constant_test"
    description = "ignores its noise"
    paper = "none: a test"
    stochastic = True

    def predict(self, L, noise):
        return torch.full((len(L), 2, *L.shape[2:]), 0.2, device=L.device)


class _Random(_Constant):
    """Draws a smooth random tint per sample from its noise generator."""

    name = "random_test"

    def predict(self, L, noise):
        tint = torch.rand(len(L), 2, 1, 1, generator=noise, device=L.device) - 0.5
        return tint.expand(-1, -1, *L.shape[2:])


class _Deterministic(_Random):
    name = "deterministic_test"
    stochastic = False


@pytest.fixture(scope="module")
def test_set():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 32, 32, generator=g) * 0.6 + torch.rand(5, 3, 1, 1, generator=g) * 0.4
    return Fixed([(f"img{i}", images[i]) for i in range(5)])


def _evaluate(cls, test_set, k=3):
    return evaluate(cls(size=32), test_set, n_samples=k, batch_size=2)


def test_a_deterministic_method_is_not_applicable(test_set):
    d = _evaluate(_Deterministic, test_set)["diversity"]
    assert d["applicable"] is False
    assert "deterministic" in d["reason"]
    assert "lpips" not in d  # not applicable, never 0


def test_identical_samples_are_flagged_as_noise_ignored(test_set):
    scored = _evaluate(_Constant, test_set)
    d = scored["diversity"]
    assert d["applicable"] is True and d["samples"] == 3
    assert d["lpips"] == 0 and d["ab_std"] == 0
    assert d["noise_ignored"] is True
    assert scored["per_image"]["diversity_lpips"] == [0.0] * 5


def test_different_samples_have_positive_pairwise_lpips(test_set):
    scored = _evaluate(_Random, test_set)
    d = scored["diversity"]
    assert d["lpips"] > NOISE_IGNORED_LPIPS and d["ab_std"] > 1
    assert d["noise_ignored"] is False
    assert all(v > 0 for v in scored["per_image"]["diversity_lpips"])
    assert d["lpips_ci95"][0] <= d["lpips"] <= d["lpips_ci95"][1]


def test_metrics_use_the_first_sample(test_set):
    """k samples for diversity do not change the scored prediction."""
    one = _evaluate(_Random, test_set, k=1)
    many = _evaluate(_Random, test_set, k=4)
    assert one["metrics"] == many["metrics"]
    assert one["diversity"]["applicable"] is False and "at least 2" in one["diversity"]["reason"]
