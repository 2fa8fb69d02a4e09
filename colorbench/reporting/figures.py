"""The board's pictures, made from what each run kept (`colorbench.reporting.samples`): no
checkpoint or dataset is needed to redraw them.

For a table: a grid of the same test images across methods (ground truth first,
gray second), a strip of k samples for each stochastic method, and quality
against speed (LPIPS against images/s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorbench.errors import UserError
from colorbench.data.image_reading import UnreadableImage, load_rgb
from colorbench.reporting.tables import has_hint

SCALE_TO = 64  # tiles are enlarged (nearest neighbour) to at least this many pixels


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # titles hold names: "a$b$c" is text, not TeX
    import matplotlib.pyplot as plt

    return plt


def _enlarge(image: np.ndarray, tile: int) -> np.ndarray:
    k = max(1, SCALE_TO // tile)
    return image.repeat(k, axis=0).repeat(k, axis=1)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})  # no version stamp: stable bytes
    _matplotlib().close(fig)
    return path


def _labelled(rows: list[tuple[str, np.ndarray]], tile: int, title: str, path: Path) -> Path:
    plt = _matplotlib()
    image = _enlarge(np.concatenate([r for _, r in rows], axis=0), tile)
    height = image.shape[0] / len(rows)
    fig, ax = plt.subplots(figsize=(image.shape[1] / 100 + 1.8, image.shape[0] / 100 + 0.5))
    ax.imshow(image, interpolation="nearest")
    ax.set_yticks([height * (i + 0.5) for i in range(len(rows))], [name for name, _ in rows], fontsize=9)
    ax.set_xticks([])
    ax.set_title(title, fontsize=10, loc="left")
    return _save(fig, path)


def _sample(run, kind: str, results_dir: Path) -> tuple[np.ndarray, int]:
    """A run's kept sample image and its tile size, the run's working size. The
    image must lie inside the results folder (a stored path is data from a file:
    it may not reach anything else) and have the size `colorbench.reporting.samples` gives
    it, checked before it is decoded: a huge picture costs nothing to refuse."""
    from colorbench.reporting.samples import N_DIVERSE

    folder = Path(results_dir).resolve()
    stored = getattr(run.samples, kind)
    path = (folder / stored).resolve()
    if not path.is_relative_to(folder):
        raise UserError(f"{run._path}: its sample image {stored} lies outside {results_dir}; remove that result or rerun the method")
    tile, n = run.protocol.dataset.size, len(run.samples.ids)
    rows = 2 if kind == "grid" else run.protocol.diversity_samples  # truth above sample; k samples
    if not isinstance(tile, int) or not isinstance(rows, int):
        raise UserError(f"{run._path}: its {kind} sample image cannot be placed (no working size or sample count recorded); rerun the method or remove that result")
    try:
        return load_rgb(path, size=((n if kind == "grid" else min(n, N_DIVERSE)) * tile, rows * tile)), tile
    except UnreadableImage as e:
        raise UserError(f"{run._path}: its sample image {path}: {e}; rerun the method (`colorbench run`) or remove that result") from None


def grid(runs: list[tuple], results_dir: Path, path: Path, title: str) -> Path | None:
    """Ground truth, then each method's colourization of the same test images; ``runs``:
    (the name to show, its result) pairs."""
    runs = [(name, r) for name, r in runs if r.samples]
    if not runs:
        return None
    ids = runs[0][1].samples.ids
    rows, tile = [], None
    for name, r in runs:
        if r.samples.ids != ids:  # another set of images: it cannot share this grid
            continue
        image, tile = _sample(r, "grid", results_dir)
        if not rows:
            rows.append(("ground truth", image[:tile]))
        rows.append((name, image[tile:]))
    return _labelled(rows, tile, title, path)


def sample_strips(runs: list[tuple], results_dir: Path, path: Path, title: str) -> Path | None:
    """k samples (rows) of a few test images, side by side for each stochastic method;
    ``runs``: (the name to show, its result) pairs."""
    strips = [(name, *_sample(r, "diversity", results_dir)) for name, r in runs if r.samples and r.samples.diversity]
    if not strips:
        return None
    plt = _matplotlib()
    fig, axes = plt.subplots(1, len(strips), figsize=(3.2 * len(strips), 5), squeeze=False)
    for ax, (name, strip, tile) in zip(axes[0], strips):
        ax.imshow(_enlarge(strip, tile), interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("one sample per row", fontsize=9)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    return _save(fig, path)


def quality_vs_speed(rows: list[dict], path: Path, title: str) -> Path | None:
    """LPIPS (lower is better) against inference images/s (log scale)."""
    points = [r for r in rows if r.get("LPIPS") is not None and r.get("img/s")]
    if not points:
        return None
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p in points:
        hinted = has_hint(p.get("hint"))
        ax.scatter(p["img/s"], p["LPIPS"], color="tab:orange" if hinted else "tab:blue", label="given a hint" if hinted else "automatic")
        ax.annotate(p["display"], (p["img/s"], p["LPIPS"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    ax.set_xscale("log")
    # Plain numbers: the log axis' default labels are TeX, shown raw with parse_math off.
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}" if x >= 1 else np.format_float_positional(x, trim="-"))
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel("inference images/s (log scale; higher is faster)")
    ax.set_ylabel("LPIPS (lower is better)")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10, loc="left")
    return _save(fig, path)
