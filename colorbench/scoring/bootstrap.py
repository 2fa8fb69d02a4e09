"""Bootstrap confidence intervals over images, vectorised.

Images are resampled with replacement (the same resamples for every metric of
a result, so intervals of derived statistics stay consistent), each statistic
is recomputed on every resample, and the 2.5th and 97.5th percentiles of those
values are the 95% interval (the percentile method). Missing per-image values
(NaN: the PSNR of an image identical to its truth) are left out of each
resample's mean, exactly as they are left out of the reported mean.

Resampling is one fancy-indexing operation per block of resamples (numpy), not a
Python loop over resamples; the generator is seeded, so an interval is
reproducible.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

N_RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_BLOCK_VALUES = 1 << 22  # resampled values held at once, per column


def describe(n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL) -> dict:
    """How the intervals were made, for result files."""
    return {
        "method": "percentile bootstrap over images (images resampled with replacement)",
        "resamples": n_resamples,
        "seed": seed,
        "level": level,
    }


def _as_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def resampled_means(
    columns: Mapping[str, list | np.ndarray], *, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> dict[str, np.ndarray]:
    """{name: (n_resamples,) means of that column over the same resampled images}.

    Every column has one value per image, in the same image order; NaN/None
    values are left out of each mean (NaN when a resample has none)."""
    arrays = {name: _as_array(v) for name, v in columns.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    (n,) = lengths
    if n == 0:
        raise ValueError("no values to resample")
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_VALUES // n)
    out = {name: np.empty(n_resamples) for name in arrays}
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        index = rng.integers(0, n, size=(stop - start, n))
        for name, a in arrays.items():
            picked = a[index]  # (resamples, n)
            valid = ~np.isnan(picked)
            count = valid.sum(axis=1)
            total = np.where(valid, picked, 0.0).sum(axis=1)
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


def intervals(
    columns: Mapping[str, list | np.ndarray],
    derived: Mapping[str, Callable[[dict[str, np.ndarray]], np.ndarray]] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, list[float] | None]:
    """95% intervals of each column's mean, and of each ``derived`` statistic of
    the means (a function of the {name: resampled means} dict), e.g.
    |mean CF(pred) - mean CF(gt)|."""
    means = resampled_means(columns, n_resamples=n_resamples, seed=seed)
    found = {name: interval(m, level) for name, m in means.items()}
    for name, f in (derived or {}).items():
        found[name] = interval(np.asarray(f(means), dtype=np.float64), level)
    return found
