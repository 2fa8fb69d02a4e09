"""Bootstrap intervals: contain the mean, shrink with more images, reproducible."""

import numpy as np
import pytest

from colorbench.scoring import bootstrap


def _values(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(25.0, 3.0, n)


def test_interval_contains_the_mean_and_shrinks_with_more_images():
    few, many = _values(30), _values(3000)
    lo_few, hi_few = bootstrap.intervals({"psnr": few})["psnr"]
    lo_many, hi_many = bootstrap.intervals({"psnr": many})["psnr"]
    assert lo_few < few.mean() < hi_few
    assert lo_many < many.mean() < hi_many
    assert (hi_many - lo_many) < (hi_few - lo_few) / 5  # ~ 1/sqrt(n): 10x narrower
    # a 95% interval of a mean is about +-1.96 standard errors
    assert (hi_many - lo_many) / 2 == pytest.approx(1.96 * many.std() / np.sqrt(len(many)), rel=0.15)


def test_reproducible_with_the_seed():
    v = {"ssim": _values(50)}
    assert bootstrap.intervals(v, seed=3) == bootstrap.intervals(v, seed=3)
    assert bootstrap.intervals(v, seed=3) != bootstrap.intervals(v, seed=4)


def test_missing_values_are_left_out_of_each_mean():
    v = list(_values(40))
    with_gaps = v + [None, float("nan")]
    a = bootstrap.resampled_means({"x": with_gaps}, seed=0)["x"]
    assert np.isfinite(a).all()
    assert min(v) < a.min() and a.max() < max(v)


def test_derived_statistic_uses_the_same_resamples():
    pred, gt = _values(60, 1), _values(60, 2) + 5
    ci = bootstrap.intervals({"p": pred, "g": gt}, {"d": lambda m: np.abs(m["p"] - m["g"])})
    assert ci["d"][0] < abs(pred.mean() - gt.mean()) < ci["d"][1]


def test_constant_values_give_a_point_interval():
    assert bootstrap.intervals({"z": np.zeros(10)})["z"] == [0.0, 0.0]
