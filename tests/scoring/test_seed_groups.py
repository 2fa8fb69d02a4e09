"""Intervals over training seeds and test photos (`colorbench.scoring.bootstrap`), and
a method's group of seeds as one row (`seed_groups`, `reporting.groups`, `reporting.tables`)."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from colorbench.reporting import groups, results, tables
from colorbench.scoring import bootstrap, seed_groups

BOARD = Path(__file__).resolve().parents[2] / "leaderboard" / "results"


def test_one_seed_without_photos_is_the_plain_bootstrap_over_images():
    values = np.random.default_rng(1).normal(25, 3, 57)
    rng = np.random.default_rng(bootstrap.SEED)  # the textbook bootstrap, written out
    means = values[rng.integers(0, len(values), size=(bootstrap.N_RESAMPLES, len(values)))].mean(axis=1)
    expected = np.percentile(means, [2.5, 97.5])
    assert bootstrap.intervals({"x": values})["x"] == pytest.approx(list(expected), rel=1e-12)


def test_photos_are_resampled_with_their_crops():
    # two photos of 12 crops each, every crop of a photo alike: 2 independent values, not 24
    values = np.repeat([20.0, 30.0], 12) + np.random.default_rng(0).normal(0, 0.01, 24)
    photos = ["a"] * 12 + ["b"] * 12
    by_image = bootstrap.intervals({"x": values})["x"]
    by_photo = bootstrap.intervals({"x": values}, units=photos)["x"]
    assert by_photo[0] < 20.1 and by_photo[1] > 29.9  # all a, all b: both can be drawn
    assert by_image[1] - by_image[0] < (by_photo[1] - by_photo[0]) / 2  # crops as independent overstate certainty


def test_seeds_widen_the_interval_to_cover_training():
    images = np.random.default_rng(2).normal(0, 0.1, 200)
    seeds = np.stack([images, images + 2, images + 4])  # three trainings that differ by far more than the images
    one = bootstrap.intervals({"x": seeds[:1]})["x"]
    three = bootstrap.intervals({"x": seeds})["x"]
    assert three[0] < 0.7 and three[1] > 3.3  # 1/27 of resamples draw seed 0 three times
    assert three[1] - three[0] > 10 * (one[1] - one[0])


def test_two_sides_draw_seeds_apart_and_photos_together():
    x = np.random.default_rng(3).normal(25, 3, (2, 30))
    means = bootstrap.resampled_means({"a": x, "b": x + 1}, sides={"a": "a", "b": "b"}, units=[str(i // 3) for i in range(30)])
    difference = bootstrap.over_seeds(means["b"]) - bootstrap.over_seeds(means["a"])
    spread_of_a = bootstrap.over_seeds(means["a"]).std()
    # the seeds of each side are drawn apart, so the difference varies, but the photos are
    # shared: far less than either side's own spread
    assert abs(difference.mean() - 1) < 0.2 and difference.std() > 0 and difference.std() < spread_of_a


def test_a_seed_count_that_differs_within_a_side_is_refused():
    with pytest.raises(ValueError, match="seeds"):
        bootstrap.resampled_means({"a": np.zeros((2, 5)), "b": np.zeros((3, 5))})


# ------------------------------------------------------------------ groups of results
def _result(tmp_path: Path, source: str, *, seed: int, offset: float, minute: int, version: str | None = None, photos: bool = False) -> Path:
    """A copy of a published result as if trained with another seed: its per-image
    values shifted by ``offset`` (PSNR), its means recomputed."""
    record = json.loads((BOARD / source).read_text())
    record = copy.deepcopy(record)
    record["protocol"]["seed"] = seed
    record["created"] = f"2026-12-02T10:{minute:02d}:00.000+00:00"
    record["run_id"] = f"{record['run_id']}-s{seed}-{minute}"
    if version:
        record["plugin"]["version"] = version
    values = [v + offset for v in record["per_image"]["psnr"]]
    record["per_image"]["psnr"] = values
    record["metrics"]["psnr"] = sum(values) / len(values)
    record["ci95"]["psnr"] = [record["metrics"]["psnr"] - 0.5, record["metrics"]["psnr"] + 0.5]
    record.pop("samples", None)
    if photos:  # as results made since photos are recorded
        record["protocol"]["dataset"]["photo_of"] = {i: i.split("/")[0] for i in record["per_image"]["id"]}
    path = tmp_path / f"{record['run_id']}.json"
    path.write_bytes(results.dumps(record))
    return path


GRAY = "20261202T161944Z-gray-builtin-6b0448.json"
ZHANG = "20261202T134626Z-zhang_eccv16-builtin-70f17b.json"


def test_a_group_is_the_newest_result_of_each_seed_made_the_same_way(tmp_path):
    _result(tmp_path, ZHANG, seed=0, offset=0.0, minute=1)
    _result(tmp_path, ZHANG, seed=0, offset=1.0, minute=2)  # seed 0 again, newer: replaces the first
    _result(tmp_path, ZHANG, seed=1, offset=2.0, minute=3)
    _result(tmp_path, ZHANG, seed=2, offset=9.0, minute=0, version="0-old")  # made otherwise: not in the row
    (runs,) = groups.groups(results.read_all(tmp_path)).values()
    assert [r.protocol.seed for r in runs] == [0, 1]
    summary = seed_groups.summarize(runs)
    assert summary.seeds == [0, 1]
    assert summary.metrics["psnr"] == pytest.approx(np.mean([r.metrics["psnr"] for r in runs]))
    assert summary.spread["psnr"] == pytest.approx(np.std([r.metrics["psnr"] for r in runs], ddof=1))
    low, high = summary.ci95["psnr"]
    assert low < summary.metrics["psnr"] < high
    assert "2 training seeds" in summary.intervals["method"]
    fid = [r.metrics["fid"] for r in runs]  # a set-level metric: the seeds alone resampled
    assert min(fid) <= summary.ci95["fid"][0] <= summary.ci95["fid"][1] <= max(fid)


def test_a_single_seed_is_its_result_and_labelled_so(tmp_path):
    _result(tmp_path, ZHANG, seed=4, offset=0.0, minute=1)
    (runs,) = groups.groups(results.read_all(tmp_path)).values()
    summary = seed_groups.summarize(runs)
    assert summary.seeds == [4] and summary.metrics == dict(runs[0].metrics) and summary.ci95 == dict(runs[0].ci95)
    table = tables.frame(results.read_all(tmp_path))
    assert list(table["seeds"]) == ["4"]
    assert "A row of one seed" in tables.interval_note(table)


def test_better_than_gray_is_marked_only_where_the_interval_says_so(tmp_path):
    _result(tmp_path, GRAY, seed=0, offset=0.0, minute=0)
    for seed, minute in ((0, 1), (1, 2)):
        _result(tmp_path, ZHANG, seed=seed, offset=8.0 + seed, minute=minute)  # PSNR far above gray's on every photo
    df = tables.frame(results.read_all(tmp_path))
    row = df[df["method"] == "zhang_eccv16"].iloc[0]
    assert row["seeds"] == "0,1" and "PSNR" in row["better than gray"]
    assert "CF" not in row["better than gray"]  # no better direction
    markdown = tables.to_markdown(df)
    assert f"{tables.with_interval(row['PSNR'], row['PSNR ci95'], 2)} {tables.BETTER_MARK}" in markdown
    assert "Spread across training seeds" in markdown and "2 training seeds, then images" in markdown  # these results predate photos
    gray = df[df["method"] == "gray"].iloc[0]
    assert gray["better than gray"] == []


def test_a_group_resamples_photos_when_any_of_its_results_records_them(tmp_path):
    _result(tmp_path, ZHANG, seed=0, offset=0.0, minute=1)  # made before photos were recorded
    _result(tmp_path, ZHANG, seed=1, offset=1.0, minute=2, photos=True)
    (runs,) = groups.groups(results.read_all(tmp_path)).values()
    summary = seed_groups.summarize(runs)
    assert "2 training seeds, then photos" in summary.intervals["method"]
    order = list(runs[0].per_image.id)
    assert summary.ci95["psnr"] == bootstrap.intervals(seed_groups.columns(runs, ["psnr"], order), units=seed_groups.units(runs, order))["psnr"]
