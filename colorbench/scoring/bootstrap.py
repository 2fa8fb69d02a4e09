"""Bootstrap confidence intervals, vectorised: over test images, or over the
photos they are cut from, and over training seeds.

What is resampled is what is independent. A test set's images are resampled with
replacement, unless several are crops of one photo (``units``: the builtin
dataset's): then photos are, each with all its crops. A method trained with
several seeds (a result per seed, each scored on the same images) has its seeds
resampled too: first the seeds, then the photos, the same photos for every seed
drawn, since every seed was scored on them. Each statistic is recomputed on
every resample, and the 2.5th and 97.5th percentiles of those values are the
95% interval (the percentile method). The same resamples serve every column of a
call, so intervals of derived statistics stay consistent. Missing per-image
values (NaN: the PSNR of an image identical to its truth) are left out of each
resample's mean, exactly as they are left out of the reported mean.

A column is (n,) values of one result, or (S, n) of S results (seeds). Its
resampled value is the mean over the seeds drawn of each seed's mean over the
images drawn. Columns of one ``side`` share their seed draws; columns of two
sides (two methods) draw their seeds apart and their photos together: the
images are paired, the trainings are not.

Resampling is one fancy-indexing operation per block of resamples (numpy), not a
Python loop over resamples; the generator is seeded, so an interval is
reproducible. With one seed and no units, the draws and sums are those of a plain
bootstrap over images.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

N_RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_BLOCK_VALUES = 1 << 22  # resampled values held at once, per column


def describe(n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL, *, units: str | None = None, seeds: int = 1) -> dict:
    """How the intervals were made, for result files and the board. ``units``: what
    several test images share and are resampled together with ("photo"); ``seeds``:
    how many training seeds were resampled."""
    over = f"{units}s (each {units}'s test images resampled together)" if units else "images (images resampled with replacement)"
    if seeds > 1:
        over = f"the {seeds} training seeds, then {over}, the same for every seed drawn"
    return {"method": f"percentile bootstrap over {over}", "resamples": n_resamples, "seed": seed, "level": level}


def _as_array(values) -> np.ndarray:
    """(S, n) float64, NaN for a missing value: a list of n values is one row."""
    if isinstance(values, np.ndarray):
        return np.atleast_2d(values.astype(np.float64))
    rows = values if len(values) and isinstance(values[0], (list, tuple, np.ndarray)) else [values]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def unit_codes(units: Sequence[str] | None, n: int) -> np.ndarray | None:
    """Each image's unit as 0..C-1 in order of first appearance; None: every image its own."""
    if units is None:
        return None
    if len(units) != n:
        raise ValueError(f"{len(units)} units for {n} images")
    first = {}
    return np.array([first.setdefault(u, len(first)) for u in units])


def resampled_means(
    columns: Mapping[str, list | np.ndarray],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    units: Sequence[str] | None = None,
    sides: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """{name: (n_resamples, S) per-seed means of that column over the same resamples}.

    Every column has one value per image, in the same image order, for each of
    its S seeds; NaN/None values are left out of each mean (NaN when a resample has
    none). ``units``: each image's photo (None: images are independent).
    ``sides``: {name: side}; columns of one side must have the same S and share
    their seed draws (default: one side)."""
    arrays = {name: _as_array(v) for name, v in columns.items()}
    lengths = {a.shape[1] for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    (n,) = lengths
    if n == 0:
        raise ValueError("no values to resample")
    side_of = {name: (sides or {}).get(name, "") for name in arrays}
    seeds: dict[str, int] = {}
    for name, a in arrays.items():
        if seeds.setdefault(side_of[name], len(a)) != len(a):
            raise ValueError(f"{name} has {len(a)} seeds, others of its side {seeds[side_of[name]]}")
    codes = unit_codes(units, n)
    n_units = n if codes is None else int(codes.max()) + 1
    sums, counts = {}, {}  # per seed and unit: the sum and count of the values present
    for name, a in arrays.items():
        valid = ~np.isnan(a)
        present = np.where(valid, a, 0.0)
        if codes is None:
            sums[name], counts[name] = present, valid.astype(np.int64)
        else:
            sums[name] = np.stack([np.bincount(codes, weights=row, minlength=n_units) for row in present])
            counts[name] = np.stack([np.bincount(codes, weights=row, minlength=n_units).astype(np.int64) for row in valid])
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_VALUES // (n_units * max(seeds.values())))
    out = {name: np.empty((n_resamples, len(a))) for name, a in arrays.items()}
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        drawn = {side: rng.integers(0, s, size=(stop - start, s)) for side, s in seeds.items() if s > 1}
        index = rng.integers(0, n_units, size=(stop - start, n_units))
        for name in arrays:
            seeds_drawn = drawn.get(side_of[name])
            if seeds_drawn is None:  # one seed: sums over the units drawn
                total, count = sums[name][0][index].sum(axis=1)[:, None], counts[name][0][index].sum(axis=1)[:, None]
            else:  # each seed drawn (resamples, S, units): summed over the units drawn
                total = np.take_along_axis(sums[name][seeds_drawn], index[:, None, :], axis=2).sum(axis=2)
                count = np.take_along_axis(counts[name][seeds_drawn], index[:, None, :], axis=2).sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name][start:stop] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def interval(statistic: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The percentile interval [low, high] of bootstrap values; None if undefined."""
    statistic = statistic[~np.isnan(statistic)]
    if not len(statistic):
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(statistic, [tail, 100 - tail])
    return [float(low), float(high)]


def over_seeds(values: np.ndarray) -> np.ndarray:
    """(resamples, S) per-seed statistics -> (resamples,) their mean over the seeds drawn."""
    values = np.asarray(values, dtype=np.float64)
    return values if values.ndim == 1 else values.mean(axis=1)


def intervals(
    columns: Mapping[str, list | np.ndarray],
    derived: Mapping[str, Callable[[dict[str, np.ndarray]], np.ndarray]] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
    units: Sequence[str] | None = None,
    sides: Mapping[str, str] | None = None,
) -> dict[str, list[float] | None]:
    """95% intervals of each column's mean (over seeds and images), and of each
    ``derived`` statistic of the means: a function of the {name: (resamples, S)
    per-seed means} dict, e.g. |mean CF(pred) - mean CF(gt)| per seed, averaged
    over the seeds drawn (a function may also return one value per resample)."""
    means = resampled_means(columns, n_resamples=n_resamples, seed=seed, units=units, sides=sides)
    found = {name: interval(over_seeds(m), level) for name, m in means.items()}
    for name, f in (derived or {}).items():
        found[name] = interval(over_seeds(f(means)), level)
    return found
