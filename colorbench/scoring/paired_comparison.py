"""Paired comparison of two results on the same images: B - A, with a 95% interval.

Per-image values are matched by image id; the difference of each metric is
B - A per image, its mean over the images both results have a value for (a
PSNR left out as +inf on either side drops that image from the PSNR
difference only), and a percentile-bootstrap 95% interval over images (the same
resamples for every metric). For ``delta_colourfulness``, a function of the
means, the difference is |CF_B - CF_gt,B| - |CF_A - CF_gt,A| of resampled means.

Two results are compared only when they were scored the same way: the same
dataset, split and size, the same test images, and the same version of every
compared metric. Anything else is refused.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from colorbench.reporting import schemas
from colorbench.scoring import bootstrap
from colorbench.errors import UserError

DIRECTION = "B - A"


def read(path: Path):
    """A result file with per-image values (`colorbench.reporting.schemas.Result`), or a `UserError` saying why not."""
    from colorbench.reporting import results

    try:
        result = results.parse(Path(path).read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror or e})") from None
    except results.NotAResult as e:
        raise UserError(f"{path}: {e}") from None
    except schemas.SchemaError as e:
        raise UserError(f"{path}: not a valid result file ({e}); make it again with `colorbench run` or `colorbench score --out`") from None
    if result.per_image is None:
        raise UserError(f"{path}: has no per-image values (a `colorbench score` result needs --out FILE to keep them)")
    return result


def protocol_differences(a, b, names: list[str]) -> list[str]:
    """What differs between how ``a`` and ``b`` were scored (empty: comparable)."""
    found = []
    da, db = a.protocol.dataset, b.protocol.dataset
    for field in ("name", "split", "size"):
        if getattr(da, field) != getattr(db, field):
            found.append(f"dataset {field} {getattr(da, field)} vs {getattr(db, field)}")
    for name in names:
        va, vb = (getattr(r.protocol.metrics.get(name), "version", None) for r in (a, b))
        if va != vb:
            found.append(f"{name} version {va} vs {vb}")
    ids_a, ids_b = set(a.per_image.id), set(b.per_image.id)
    if ids_a != ids_b and not found:
        found.append(
            f"test images differ ({len(ids_a - ids_b)} only in A, {len(ids_b - ids_a)} only in B, of {len(ids_a | ids_b)})"
        )
    return found


def _values(result) -> dict[str, list]:
    """{metric: its per-image values} of a result."""
    return result.per_image.model_extra or {}


def _column(result, name: str, order: list[str]) -> np.ndarray:
    by_id = dict(zip(result.per_image.id, _values(result)[name]))
    return np.array(
        [np.nan if (v := by_id[i]) is None or not math.isfinite(v) else v for i in order], dtype=np.float64
    )


def compare(a, b, *, seed: int = bootstrap.SEED) -> dict:
    """{metric: {a, b, difference (B - A), ci95, pairs, better}} for every per-image
    metric both sides have, plus every registered metric computed from their
    means (delta_colourfulness). ``a`` and ``b``: a result, or a group of one
    method's results with different training seeds on the same images
    (`colorbench.scoring.seed_groups`): the seeds of each side are then resampled
    apart, the images together, and set-level metrics (FID, KID) are compared by
    their seeds. Two single results are compared image by image; a set-level
    metric then has nothing to pair, and is left out."""
    from colorbench import plugins
    from colorbench.scoring import seed_groups

    a_runs, b_runs = (list(x) if isinstance(x, (list, tuple)) else [x] for x in (a, b))
    a, b = a_runs[0], b_runs[0]
    for runs in (a_runs, b_runs):
        if len({r.plugin.name if getattr(r, "plugin", None) else None for r in runs}) > 1:
            raise UserError("a group holds one method's results: " + ", ".join(sorted({r.plugin.name for r in runs})))
    records = a.protocol.metrics
    runs = a_runs + b_runs
    names = [n for n, r in records.items() if r.kind == "per_image" and all(n in _values(x) for x in runs)]
    derived = {n: m for n, m in plugins.metrics().items() if m.from_means is not None and n in records and set(m.inputs) <= set(names)}
    grouped = len(a_runs) > 1 or len(b_runs) > 1
    sets = [n for n, r in records.items() if grouped and r.kind == "set" and n not in derived and all(x.metrics.get(n) is not None for x in runs)]
    for x in runs[1:]:
        if differences := protocol_differences(a, x, names + list(derived) + sets):
            raise UserError("results scored under different protocols, not compared: " + "; ".join(differences))
    order = list(a.per_image.id)
    units = seed_groups.units(runs, order)
    found = {}
    if not grouped:
        found = _image_by_image(a, b, names, derived, order, units, seed)
    else:
        found = _groups(a_runs, b_runs, names, derived, sets, order, units, seed)
    for name, m in found.items():
        m["better"] = _verdict(records[name].higher_is_better, m["ci95"])
    return {
        "difference": DIRECTION,
        "images": len(order),
        "seeds": {"a": [r.protocol.seed for r in a_runs if hasattr(r.protocol, "seed")], "b": [r.protocol.seed for r in b_runs if hasattr(r.protocol, "seed")]},
        "bootstrap": bootstrap.describe(seed=seed, units="photo" if units else None, seeds=max(len(a_runs), len(b_runs))),
        "metrics": found,
    }


def _image_by_image(a, b, names, derived, order, units, seed) -> dict:
    """Two results: per-image differences B - A, resampled."""
    columns, pairs = {}, {}
    inputs = {i for m in derived.values() for i in m.inputs}
    for name in names:
        va, vb = _column(a, name, order), _column(b, name, order)
        diff = vb - va  # NaN where either side has no value
        columns[name] = diff
        pairs[name] = int((~np.isnan(diff)).sum())
        if name in inputs:
            columns[f"_a_{name}"], columns[f"_b_{name}"] = va, vb

    def difference_of(metric):
        def of(m):
            return metric.from_means({i: m[f"_b_{i}"] for i in metric.inputs}) - metric.from_means({i: m[f"_a_{i}"] for i in metric.inputs})

        return of

    functions = {n: difference_of(m) for n, m in derived.items()}
    intervals = bootstrap.intervals(columns, functions, seed=seed, units=units)
    found = {}
    # colourfulness_gt is the same images' truth on both sides: nothing to compare
    for name in [n for n in names if n != "colourfulness_gt"] + list(derived):
        if name in derived:
            means = {k: np.nanmean(v) for k, v in columns.items() if k.startswith("_")}
            difference = float(functions[name](means))
            n_pairs = len(order)
        else:
            n_pairs = pairs[name]
            difference = float(np.nanmean(columns[name])) if n_pairs else None
        found[name] = {"a": a.metrics.get(name), "b": b.metrics.get(name), "difference": difference, "ci95": intervals.get(name), "pairs": n_pairs}
    return found


def _groups(a_runs, b_runs, names, derived, sets, order, units, seed) -> dict:
    """Two groups of seeds: each side's seeds resampled apart, the images together;
    an image is compared where every result of both sides has a value."""
    from colorbench.scoring import seed_groups

    sides = {"a": seed_groups.columns(a_runs, names, order), "b": seed_groups.columns(b_runs, names, order)}
    for name in names:  # only the images with a value in every result of both sides
        missing = np.isnan(sides["a"][name]).any(axis=0) | np.isnan(sides["b"][name]).any(axis=0)
        for side in sides.values():
            side[name][:, missing] = np.nan
    flat = {f"{s}:{n}": v for s, cols in sides.items() for n, v in cols.items()}
    means = bootstrap.resampled_means(flat, seed=seed, units=units, sides={k: k.split(":")[0] for k in flat})

    def side(s: str, m: dict) -> dict:
        return {n: m[f"{s}:{n}"] for n in names}

    def seed_means(values: np.ndarray) -> np.ndarray:  # each seed's mean over the images compared
        return np.nanmean(values, axis=1)

    found = {}
    for name in [n for n in names if n != "colourfulness_gt"]:
        a_mean, b_mean = (float(np.mean(seed_means(sides[s][name]))) for s in ("a", "b"))
        statistic = bootstrap.over_seeds(means[f"b:{name}"]) - bootstrap.over_seeds(means[f"a:{name}"])
        pairs = int((~np.isnan(sides["a"][name][0])).sum())
        found[name] = {"a": a_mean, "b": b_mean, "difference": b_mean - a_mean if pairs else None, "ci95": bootstrap.interval(statistic), "pairs": pairs}
    for name, metric in derived.items():
        value = {s: float(np.mean(metric.from_means({i: seed_means(sides[s][i]) for i in metric.inputs}))) for s in ("a", "b")}
        statistic = bootstrap.over_seeds(metric.from_means(side("b", means))) - bootstrap.over_seeds(metric.from_means(side("a", means)))
        found[name] = {"a": value["a"], "b": value["b"], "difference": value["b"] - value["a"], "ci95": bootstrap.interval(statistic), "pairs": len(order)}
    draws = np.random.default_rng(seed)
    for name in sets:  # one value per seed: the seeds of each side resampled
        per_seed = {s: np.array([r.metrics[name] for r in runs]) for s, runs in (("a", a_runs), ("b", b_runs))}
        drawn = {s: v[draws.integers(0, len(v), size=(bootstrap.N_RESAMPLES, len(v)))].mean(axis=1) for s, v in per_seed.items()}
        found[name] = {"a": float(per_seed["a"].mean()), "b": float(per_seed["b"].mean()), "difference": float(per_seed["b"].mean() - per_seed["a"].mean()),
                       "ci95": bootstrap.interval(drawn["b"] - drawn["a"]), "pairs": None}
    return found


def _verdict(higher: bool | None, ci: list[float] | None) -> str:
    if ci is None or higher is None:
        return "no direction"
    if ci[0] <= 0 <= ci[1]:
        return "neither (the interval contains 0)"
    return "B" if (ci[0] > 0) == higher else "A"
