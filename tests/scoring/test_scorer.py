"""The one scoring core: per-image and set-level metrics over batches, what is
left out or not computed and why, the same numbers however the set is batched."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from colorbench.scoring import bootstrap, metrics
from colorbench.scoring.builtin_metrics import BY_NAME
from colorbench.scoring.registry import PER_IMAGE, SET, Metric
from colorbench.scoring.scorer import Scorer

CPU = torch.device("cpu")
# LPIPS, FID and KID have tests of their own; their networks are slow to build and run
NO_LPIPS = {n: m for n, m in BY_NAME.items() if n not in ("lpips", "fid", "kid", "fid_tv")}


def _images(n: int, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    pred = np.clip(gt + rng.normal(0, 25, gt.shape), 0, 255).astype(np.uint8)
    return torch.from_numpy(gt), torch.from_numpy(pred), [f"img{i}" for i in range(n)]


def _score(gt, pred, ids, cuts=(), metrics=NO_LPIPS, **kwargs):
    scorer = Scorer(CPU, metrics, **kwargs)
    bounds = [0, *cuts, len(ids)]
    for a, b in zip(bounds, bounds[1:]):
        if a < b:
            scorer.add(gt[a:b], pred[a:b], ids[a:b])
    return scorer.finish()


class Accumulated:
    """A set-level metric's accumulator that records how it is driven."""

    instances: list = []

    def __init__(self, device):
        self.batches, self.finished = [], 0
        Accumulated.instances.append(self)

    def update(self, gt_u8, pred_u8):
        self.batches.append(len(gt_u8))

    def finish(self):
        self.finished += 1
        return float(sum(self.batches))


SET_METRIC = Metric(
    name="count_test", version="1", description="images seen (test)", higher_is_better=None, colour_space="any",
    kind=SET, valid_range=(0.0, 1e9), title="count", accumulator=Accumulated,
)


def test_per_image_values_means_and_intervals_are_the_metrics_own():
    gt, pred, ids = _images(6)
    scores = _score(gt, pred, ids, cuts=(4,))
    assert scores.per_image["id"] == ids
    assert scores.per_image["psnr"] == metrics.psnr(gt, pred).tolist()
    assert scores.per_image["colourfulness_gt"] == metrics.colourfulness(gt).tolist()
    for name in ("psnr", "ssim", "colourfulness", "mean_abs_delta_colourfulness"):
        assert scores.metrics[name] == math.fsum(scores.per_image[name]) / 6
    cf, cf_gt = scores.metrics["colourfulness"], scores.metrics["colourfulness_gt"]
    assert scores.metrics["delta_colourfulness"] == abs(cf - cf_gt)
    columns = {n: v for n, v in scores.per_image.items() if n != "id"}
    expected = bootstrap.intervals(columns, {"delta_colourfulness": lambda m: abs(m["colourfulness"] - m["colourfulness_gt"])})
    assert scores.ci95 == {n: expected[n] for n in scores.metrics}  # a metric of the means gets its interval too
    assert scores.not_computed == {} and scores.left_out_of_mean == {}


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), cuts=st.lists(st.integers(0, 9), max_size=4), seed=st.integers(0, 2**16))
def test_the_numbers_do_not_depend_on_how_the_set_is_batched(n, cuts, seed):
    """To float64 rounding: SSIM sums its windows over a whole batch at once."""
    gt, pred, ids = _images(n, seed=seed)
    whole = _score(gt, pred, ids)
    batched = _score(gt, pred, ids, cuts=sorted(c for c in cuts if c < n))
    assert batched.per_image.keys() == whole.per_image.keys() and batched.per_image["id"] == ids
    for name, values in whole.per_image.items():
        assert batched.per_image[name] == (values if name == "id" else pytest.approx(values, rel=1e-13, abs=1e-15)), name
    assert batched.metrics == pytest.approx(whole.metrics, rel=1e-13)
    assert (batched.not_computed, batched.left_out_of_mean) == (whole.not_computed, whole.left_out_of_mean)


def test_a_set_metric_is_updated_with_every_batch_and_finished_once():
    Accumulated.instances.clear()
    gt, pred, ids = _images(7)
    scores = _score(gt, pred, ids, cuts=(2, 5), metrics=NO_LPIPS | {"count_test": SET_METRIC})
    (accumulator,) = Accumulated.instances
    assert accumulator.batches == [2, 3, 2] and accumulator.finished == 1
    assert scores.metrics["count_test"] == 7.0 and scores.ci95["count_test"] is None  # no interval it did not give
    assert list(scores.metrics)[-2:] == ["delta_colourfulness", "count_test"]  # after the per-image ones
    assert "count_test" not in scores.per_image


def test_a_set_metric_may_give_its_own_interval_and_a_non_finite_value_is_not_recorded():
    class WithInterval(Accumulated):
        def finish(self):
            return 3.0, (2.5, 3.5)

    class Broken(Accumulated):
        def finish(self):
            return float("nan")

    gt, pred, ids = _images(3)
    chosen = NO_LPIPS | {
        "with_ci_test": dataclasses.replace(SET_METRIC, name="with_ci_test", title="ci", accumulator=WithInterval),
        "nan_test": dataclasses.replace(SET_METRIC, name="nan_test", title="nan", accumulator=Broken),
    }
    scores = _score(gt, pred, ids, metrics=chosen)
    assert scores.metrics["with_ci_test"] == 3.0 and scores.ci95["with_ci_test"] == [2.5, 3.5]
    assert scores.metrics["nan_test"] is None and "not a finite number" in scores.not_computed["nan_test"]


def test_an_identical_prediction_is_left_out_of_the_psnr_mean_and_named():
    gt, pred, ids = _images(3)
    pred[1] = gt[1]
    scores = _score(gt, pred, ids)
    assert scores.per_image["psnr"][1] is None  # null in JSON, never Infinity
    assert scores.metrics["psnr"] == math.fsum(scores.per_image["psnr"][i] for i in (0, 2)) / 2
    assert scores.left_out_of_mean == {"psnr": {"count": 1, "ids": ["img1"], "reason": BY_NAME["psnr"].left_out_reason}}


def test_a_metric_that_cannot_run_is_recorded_with_its_reason_never_half_computed():
    unavailable = dataclasses.replace(BY_NAME["colourfulness"], name="offline_test", title="off", unavailable=lambda d: "no weights here")
    failing = dataclasses.replace(BY_NAME["colourfulness"], name="failing_test", title="fail", unavailable=lambda d: 1 / 0)
    large = dataclasses.replace(BY_NAME["colourfulness"], name="large_test", title="large", min_size=12)
    gt, pred, ids = _images(4, size=16)
    small_gt, small_pred, _ = _images(2, size=8, seed=1)
    scorer = Scorer(CPU, NO_LPIPS | {"offline_test": unavailable, "failing_test": failing, "large_test": large})
    scorer.add(gt, pred, ids)  # large_test computed for these...
    assert scorer.computes("large_test")
    scorer.add(small_gt, small_pred, ["s0", "s1"])  # ...but not for these: so for none
    scores = scorer.finish()
    assert scores.not_computed == {
        "offline_test": "no weights here",
        "failing_test": "its availability check failed (ZeroDivisionError: division by zero)",
        "large_test": "2 image(s) under 12 px on the shorter side, which large needs: s0, s1",
    }
    assert all(scores.metrics[n] is None and scores.ci95[n] is None and n not in scores.per_image for n in scores.not_computed)
    assert scores.metrics["psnr"] is not None and len(scores.per_image["psnr"]) == 6


def test_sizes_known_before_scoring_stop_a_metric_before_it_starts():
    calls = []

    def spy(gt_u8, pred_u8):
        calls.append(len(gt_u8))
        return metrics.colourfulness(pred_u8)

    large = Metric(
        name="large_test", version="1", description="needs 12 px (test)", higher_is_better=None, colour_space="any",
        kind=PER_IMAGE, valid_range=(0.0, 500.0), per_image=spy, min_size=12,
    )
    gt, pred, ids = _images(2, size=16)
    scorer = Scorer(CPU, {"large_test": large}, sizes={"img0": (16, 16), "img1": (16, 16), "later": (8, 30)})
    scorer.add(gt, pred, ids)
    assert calls == [] and not scorer.computes("large_test")


def test_an_image_scored_in_tiles_drops_a_metric_that_cannot_be_tiled():
    own = dataclasses.replace(BY_NAME["colourfulness"], name="own_test", title="own")
    gt, pred, ids = _images(1, size=40)
    scorer = Scorer(CPU, NO_LPIPS | {"own_test": own})
    scorer.add(gt, pred, ids, tiles_of=20 * 20)
    scores = scorer.finish()
    assert scores.not_computed == {"own_test": "1 image(s) over 400 px, which own_test cannot score in tiles: img0"}
    assert scores.metrics["psnr"] == metrics.psnr(gt, pred).item()  # exact in tiles


def test_per_image_values_are_kept_in_the_order_asked():
    gt, pred, ids = _images(4)
    scorer = Scorer(CPU, NO_LPIPS)
    scorer.add(gt[2:], pred[2:], ids[2:])
    scorer.add(gt[:2], pred[:2], ids[:2])
    assert scorer.finish(order=ids) == _score(gt, pred, ids)


def test_builtin_metrics_on_images_lpips_can_take():
    gt, pred, ids = _images(2, size=32)
    scores = _score(gt, pred, ids, metrics={n: m for n, m in BY_NAME.items() if n in NO_LPIPS or n == "lpips"})
    assert scores.not_computed in ({}, {"lpips": scores.not_computed.get("lpips")})  # offline without weights: said why
    if not scores.not_computed:
        assert scores.per_image["lpips"] == pytest.approx(metrics.lpips(gt, pred).tolist(), abs=0)
