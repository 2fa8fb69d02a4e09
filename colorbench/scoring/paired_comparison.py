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
    metric both results have, plus every registered metric computed from their
    means (delta_colourfulness). A set-level metric with no per-image values has
    nothing to pair, and is left out."""
    from colorbench import plugins

    records = a.protocol.metrics
    names = [n for n, r in records.items() if r.kind == "per_image" and n in _values(a) and n in _values(b)]
    derived = {n: m for n, m in plugins.metrics().items() if m.from_means is not None and n in records and set(m.inputs) <= set(names)}
    if differences := protocol_differences(a, b, names + list(derived)):
        raise UserError("results scored under different protocols, not compared: " + "; ".join(differences))
    order = list(a.per_image.id)
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
    intervals = bootstrap.intervals(columns, functions, seed=seed)
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
        ci = intervals.get(name)
        found[name] = {
            "a": a.metrics.get(name),
            "b": b.metrics.get(name),
            "difference": difference,
            "ci95": ci,
            "pairs": n_pairs,
            "better": _verdict(records[name].higher_is_better, ci),
        }
    return {
        "difference": DIRECTION,
        "images": len(order),
        "bootstrap": bootstrap.describe(seed=seed),
        "metrics": found,
    }


def _verdict(higher: bool | None, ci: list[float] | None) -> str:
    if ci is None or higher is None:
        return "no direction"
    if ci[0] <= 0 <= ci[1]:
        return "neither (the interval contains 0)"
    return "B" if (ci[0] > 0) == higher else "A"
