"""A method trained with several seeds and scored on the same test images: one row.

Each seed's result stays as it was written. A group reports, per metric, the mean
over its seeds, a 95% interval that covers both training and the choice of test
images (`colorbench.scoring.bootstrap`: seeds resampled, then photos), and the
spread across seeds on its own (the standard deviation of the seeds' values). A
set-level metric (FID, KID) has no per-image values: its interval resamples the
seeds alone. A group of one seed is its result: that value, that interval (test
images alone), labelled as one seed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from colorbench.scoring import bootstrap


@dataclass
class Summary:
    seeds: list[int | None]
    metrics: dict[str, float | None]
    ci95: dict[str, list[float] | None]
    spread: dict[str, float] = field(default_factory=dict)  # sd across seeds (two seeds or more)
    intervals: dict = field(default_factory=dict)  # how they were made (`bootstrap.describe`)


def units(runs: list, order: list[str]) -> list[str] | None:
    """Each test image's photo, in ``order``, as any of ``runs`` records them (results
    from before photos were recorded have none); None: the images are independent."""
    photo_of = next((p for r in runs if (p := getattr(r.protocol.dataset, "photo_of", None))), None)
    return [photo_of.get(i, i) for i in order] if photo_of else None


def values(run) -> dict[str, list]:
    """{per-image metric: its values} of a result."""
    return run.per_image.model_extra or {}


def columns(runs: list, names, order: list[str]) -> dict[str, np.ndarray]:
    """{name: (seeds, images) values, NaN where missing}, images in ``order``."""
    found = {}
    for name in names:
        rows = []
        for r in runs:
            by_id = dict(zip(r.per_image.id, values(r)[name]))
            rows.append([np.nan if (v := by_id[i]) is None or not math.isfinite(v) else v for i in order])
        found[name] = np.array(rows, dtype=np.float64)
    return found


def derived_metrics(records: dict, per_image: list[str]) -> dict:
    """{name: Metric} of the recorded metrics computed from means whose inputs are all at hand."""
    from colorbench import plugins

    registered = plugins.metrics()
    return {n: registered[n] for n in records if n in registered and registered[n].from_means is not None and set(registered[n].inputs) <= set(per_image)}


def seed_draws(n_seeds: int, n_resamples: int = bootstrap.N_RESAMPLES, seed: int = bootstrap.SEED) -> np.ndarray:
    """(resamples, seeds) indices: the seeds drawn for each resample of a set-level metric."""
    return np.random.default_rng(seed).integers(0, n_seeds, size=(n_resamples, n_seeds))


def summarize(runs: list) -> Summary:
    """The group of ``runs``: one method's results of different seeds on the same test
    images (the caller chooses them: `colorbench.reporting.tables`), with per-image values."""
    first = runs[0]
    seeds = [getattr(r.protocol, "seed", None) for r in runs]  # a system scored from its outputs has none
    if len(runs) == 1:
        return Summary(seeds, dict(first.metrics), dict(first.ci95), intervals=_described(runs, 1))
    order = list(first.per_image.id)
    if any(set(r.per_image.id) != set(order) for r in runs):
        raise ValueError("the seeds' results are not on the same test images")
    records = first.protocol.metrics
    present = [n for n, m in records.items() if m.kind == "per_image" and all(n in values(r) for r in runs)]
    derived = derived_metrics(records, present)
    ci = bootstrap.intervals(columns(runs, present, order), {n: m.from_means for n, m in derived.items()}, units=units(runs, order))
    means, spread = {}, {}
    for name in records:
        seen = [r.metrics.get(name) for r in runs]
        if any(v is None for v in seen):  # not computed for some seed: never a mean over only some
            means[name], ci[name] = None, None
            continue
        means[name] = math.fsum(seen) / len(seen)
        spread[name] = statistics.stdev(seen)
        if name not in ci:  # a set-level metric: its seeds resampled
            ci[name] = bootstrap.interval(np.asarray(seen)[seed_draws(len(seen))].mean(axis=1))
    return Summary(seeds, means, {n: ci.get(n) for n in means}, spread, _described(runs, len(runs)))


def _described(runs: list, n_seeds: int) -> dict:
    """How a group's intervals were made: one seed's are its result's own."""
    if n_seeds == 1:
        stored = runs[0].protocol.ci95
        return dict(stored) if isinstance(stored, dict) else bootstrap.describe()
    order = list(runs[0].per_image.id)
    described = bootstrap.describe(units="photo" if units(runs, order) else None, seeds=n_seeds)
    described["set_level"] = "FID, KID and other metrics of the whole set: the seeds alone are resampled"
    return described
