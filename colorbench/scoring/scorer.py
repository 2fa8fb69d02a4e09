"""The one scoring core `run` (`colorbench.scoring.evaluate`) and `score`
(`colorbench.scoring.folder_scoring`) share: batches of (ground truth, prediction,
ids) in, every registered metric's values out.

Whether a metric can be computed is decided here only: on this device (its
``unavailable``), at these image sizes (its ``min_size``) and, for an image too
large to score whole, whether it can be scored in tiles (the built-in per-image
metrics: `colorbench.scoring.tiled_scoring`). A metric that cannot be computed
for every image is computed for none (never a mean over only some of them) and
is recorded with its reason. A per-image value that is not finite (the PSNR of
an image identical to its truth) is stored as null and left out of the mean,
counted with its image ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

from colorbench.scoring import bootstrap
from colorbench.scoring.registry import PER_IMAGE, Metric

SHOWN_IDS = 5  # image ids named in a reason; the count says how many more
TILED = frozenset({"psnr", "ssim", "lpips", "colourfulness", "colourfulness_gt", "mean_abs_delta_colourfulness"})
"""The per-image metrics `colorbench.scoring.tiled_scoring` scores in tiles, to the whole image's values."""


@dataclass
class Scores:
    """What a test set scored: each metric's value and interval (None: not
    computed), the per-image values, and what was left out or not computed, and why."""

    metrics: dict[str, float | None]
    ci95: dict[str, list[float] | None]
    per_image: dict[str, list]  # {"id": [...], per-image metric: [value or None, ...]}
    left_out_of_mean: dict[str, dict]  # {metric: {count, ids, reason}}
    not_computed: dict[str, str]  # {metric: reason}


def _named(ids: list[str]) -> str:
    return ", ".join(ids[:SHOWN_IDS]) + (" ..." if len(ids) > SHOWN_IDS else "")


class Scorer:
    """Scores one test set batch by batch (`add`), then once (`finish`)."""

    def __init__(self, device: torch.device, metrics: Mapping[str, Metric] | None = None, *, sizes: Mapping[str, tuple[int, int]] | None = None):
        """``metrics``: default, every registered one. ``sizes``: every image's (H, W)
        by id, when known before scoring: a metric that cannot take them all is
        then never started."""
        if metrics is None:
            from colorbench import plugins

            metrics = plugins.metrics()
        self.metrics = dict(metrics)
        self.ids: list[str] = []
        self.not_computed: dict[str, str] = {}
        for name, m in self.metrics.items():
            try:
                reason = m.unavailable(device)
            except Exception as e:  # a plugin's check that fails costs its metric, not the run
                reason = f"its availability check failed ({type(e).__name__}: {e})"
            if reason:
                self.not_computed[name] = reason
        self._per_image = [n for n, m in self.metrics.items() if m.kind == PER_IMAGE]
        self._values: dict[str, list[float]] = {n: [] for n in self._per_image}
        self._too_small: dict[str, list[str]] = {}
        self._not_tiled: dict[str, tuple[int, list[str]]] = {}
        self._sizes_known = sizes is not None
        for image_id, size in (sizes or {}).items():
            self._check_size(image_id, size)
        self._accumulators = {
            n: m.accumulator(device) for n, m in self.metrics.items() if m.accumulator is not None and n not in self.not_computed
        }

    def computes(self, name: str) -> bool:
        """Whether ``name`` is being computed, for every image so far."""
        return name in self.metrics and not any(name in skipped for skipped in (self.not_computed, self._too_small, self._not_tiled))

    def _check_size(self, image_id: str, size: tuple[int, int]) -> None:
        for name in self._per_image:
            if name not in self.not_computed and min(size) < self.metrics[name].min_size:
                self._too_small.setdefault(name, []).append(image_id)

    @torch.no_grad()
    def add(self, gt_u8: Tensor, pred_u8: Tensor, ids: list[str], *, tiles_of: int | None = None) -> None:
        """One batch of colour images, uint8 (B, 3, H, W) of one size, on the
        scoring device; ``tiles_of``: a single image over that many pixels, to be
        scored in tiles of at most that many."""
        if not self._sizes_known:
            for image_id in ids:
                self._check_size(image_id, tuple(gt_u8.shape[-2:]))
        if tiles_of is not None:
            for name in self._per_image:
                if name not in TILED and name not in self.not_computed:
                    self._not_tiled.setdefault(name, (tiles_of, []))[1].extend(ids)
        wanted = [n for n in self._per_image if self.computes(n)]
        if tiles_of is not None:
            from colorbench.scoring import tiled_scoring

            scores = tiled_scoring.score(gt_u8, pred_u8, with_lpips="lpips" in wanted, max_pixels=tiles_of)
        else:
            scores = {name: self.metrics[name].per_image(gt_u8, pred_u8) for name in wanted}
        for name in wanted:
            self._values[name].extend(scores[name].tolist())
        for accumulator in self._accumulators.values():
            accumulator.update(gt_u8, pred_u8)
        self.ids.extend(ids)

    def _reasons(self) -> dict[str, str]:
        """Why each metric not computed was not, in the registry's order."""
        found = dict(self.not_computed)
        for name, ids in self._too_small.items():
            found[name] = (
                f"{len(ids)} image(s) under {self.metrics[name].min_size} px on the shorter side, "
                f"which {self.metrics[name].title or name} needs: {_named(ids)}"
            )
        for name, (pixels, ids) in self._not_tiled.items():
            found[name] = f"{len(ids)} image(s) over {pixels} px, which {name} cannot score in tiles: {_named(ids)}"
        return found

    def finish(self, *, order: list[str] | None = None, seed: int = bootstrap.SEED, photo_of: Mapping[str, str] | None = None) -> Scores:
        """Means, intervals and what was left out; ``order``: the image ids in the
        order per-image values are kept and resampled (default: as added);
        ``photo_of``: {id: the photo it is cut from}, when test images are crops of
        fewer photos: the intervals resample photos (`bootstrap`)."""
        not_computed = self._reasons()
        index = {image_id: i for i, image_id in enumerate(self.ids)}
        positions = [index[i] for i in order] if order is not None else range(len(self.ids))
        per_image: dict[str, list] = {"id": [self.ids[i] for i in positions]}
        left_out: dict[str, dict] = {}
        means: dict[str, float | None] = {}
        for name in [n for n in self._per_image if n not in not_computed]:
            # stored as null, never "Infinity" (not JSON); left out of the mean, counted
            per_image[name] = [float(v) if math.isfinite(v) else None for v in (self._values[name][i] for i in positions)]
            finite = [v for v in per_image[name] if v is not None]
            means[name] = math.fsum(finite) / len(finite) if finite else None
            if len(finite) < len(per_image[name]):
                dropped = [i for i, v in zip(per_image["id"], per_image[name]) if v is None]
                left_out[name] = {"count": len(dropped), "ids": dropped, "reason": self.metrics[name].left_out_reason}
        derived = {}
        for name, m in self.metrics.items():
            if m.from_means is None or name in not_computed:
                continue
            if all(means.get(i) is not None for i in m.inputs):
                derived[name] = m.from_means
            else:
                not_computed[name] = f"computed from {', '.join(m.inputs)}, which were not all computed"
        columns = {n: v for n, v in per_image.items() if n != "id"}
        units = [photo_of[i] for i in per_image["id"]] if photo_of else None
        ci = bootstrap.intervals(columns, derived, seed=seed, units=units) if columns else {}
        for name, f in derived.items():
            means[name] = f(means)
        for name, accumulator in self._accumulators.items():
            finished = accumulator.finish()
            value, ci[name] = (finished[0], list(finished[1])) if isinstance(finished, tuple) else (finished, None)
            if value is None or not math.isfinite(value):
                not_computed[name] = f"its value over the test set is not a finite number ({value})"
            else:
                means[name] = float(value)
        # per-image metrics first, then set-level ones, each in the registry's order; then those not computed
        names = [n for n in [*self._per_image, *self.metrics] if n in means] + [n for n in self.metrics if n not in means]
        values = {n: (None if n in not_computed else means.get(n)) for n in dict.fromkeys(names)}
        return Scores(
            metrics=values,
            ci95={n: (None if n in not_computed else ci.get(n)) for n in values},
            per_image=per_image,
            left_out_of_mean=left_out,
            not_computed={n: not_computed[n] for n in self.metrics if n in not_computed},
        )
