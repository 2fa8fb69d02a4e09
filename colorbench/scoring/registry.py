"""What a metric is: the declaration every metric registers through the
``register_metrics`` hook (`colorbench.hookspecs`), the built-in ones included.

A declaration says what a number means (name, version, direction, colour space,
definition), how it is shown (column title, digits), what values it can take,
how it is computed and what it needs. Scoring (`colorbench.scoring.scorer`),
result files and every table read it; nothing else lists metrics.

Two kinds:

- ``per_image``: ``per_image(gt_u8, pred_u8) -> (B,)`` values for a batch; the
  result holds their mean over the images, with a bootstrap 95% interval.
- ``set``: one value for the whole test set, either streamed (``accumulator``:
  built once per scoring, updated with every batch, finished once, so memory
  stays bounded, as FID's feature statistics need) or a function of per-image
  metrics' means (``from_means``, with ``inputs``), which gets its bootstrap
  interval from the same resamples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Protocol

import torch
from torch import Tensor

PER_IMAGE, SET = "per_image", "set"
RGB_8BIT = "sRGB, 8-bit, 3 channels"


class Accumulator(Protocol):
    """A set-level metric's state while a test set is scored."""

    def update(self, gt_u8: Tensor, pred_u8: Tensor) -> None:
        """One batch of colour images, uint8 (B, 3, H, W), on the scoring device."""

    def finish(self) -> float | tuple[float, tuple[float, float]]:
        """The value, or the value and its own 95% interval (low, high)."""


def always_available(device: torch.device) -> str | None:
    return None


@dataclass(frozen=True)
class Metric:
    """One metric; see the module's docstring for the two kinds."""

    name: str  # lower-case letters, digits and _: a key in result files
    version: str  # bump when a change moves numbers: results of other versions never share a table
    description: str  # its definition, as precise as a paper's
    higher_is_better: bool | None  # None when neither direction is better
    colour_space: str
    kind: Literal["per_image", "set"]
    valid_range: tuple[float, float]  # what it can give; a file holding a value outside is refused
    title: str | None = None  # its column in tables; None: recorded, not shown as a column
    digits: int = 4  # decimals shown
    narrow_table: bool = False  # also in the 80-column terminal leaderboard
    per_image: Callable[[Tensor, Tensor], Tensor] | None = None
    accumulator: Callable[[torch.device], Accumulator] | None = None
    from_means: Callable[[Mapping[str, Any]], Any] | None = None  # of means, or of arrays of resampled means
    inputs: tuple[str, ...] = ()  # the per-image metrics ``from_means`` reads
    min_size: int = 0  # pixels on an image's shorter side it needs
    needs: str = ""  # what it needs beyond the images (weights...), for `colorbench list`
    unavailable: Callable[[torch.device], str | None] = always_available  # why it cannot run there, or None
    left_out_reason: str = "value not finite: left out of the mean"  # a per-image value of +-inf or NaN
    reliable_from: int = 0  # with fewer images than this the value is biased (FID under 2,048): tables flag it

    def record(self) -> dict:
        """Its metadata, as result files keep it (so a table can be drawn without the plugin)."""
        return {
            "name": self.name,
            "version": self.version,
            "higher_is_better": self.higher_is_better,
            "colour_space": self.colour_space,
            "description": self.description,
            "kind": self.kind,
            "title": self.title,
            "digits": self.digits,
            "narrow_table": self.narrow_table,
            "valid_range": list(self.valid_range),
            "reliable_from": self.reliable_from,
        }


class BadMetric(Exception):
    """A declaration that cannot be scored or shown."""


def check(metric: Metric) -> None:
    """Raise `BadMetric` naming what is wrong with a declaration."""
    if not isinstance(metric, Metric):
        raise BadMetric(f"register() takes a colorbench.scoring.registry.Metric, not {type(metric).__name__}")
    name = metric.name

    def require(ok: bool, what: str) -> None:
        if not ok:
            raise BadMetric(f"metric {name!r}: {what}")

    require(isinstance(metric.version, str) and metric.version.strip() != "", "version must be non-empty text")
    require(isinstance(metric.description, str) and metric.description.strip() != "", "description must say what it computes")
    require(metric.higher_is_better in (True, False, None), "higher_is_better must be True, False or None")
    require(metric.kind in (PER_IMAGE, SET), f"kind must be {PER_IMAGE!r} or {SET!r}, not {metric.kind!r}")
    low, high = metric.valid_range
    require(all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)) and low < high, "valid_range must be finite (low, high), low < high")
    require(metric.title is None or (isinstance(metric.title, str) and metric.title.isprintable() and metric.title.strip() != ""), "title must be one line of text, or None")
    require(isinstance(metric.digits, int) and 0 <= metric.digits <= 12, "digits must be 0 to 12")
    require(callable(metric.unavailable), "unavailable must be a function of the device")
    require(isinstance(metric.reliable_from, int) and not isinstance(metric.reliable_from, bool) and metric.reliable_from >= 0, "reliable_from must be a number of images, 0 or more")
    if metric.kind == PER_IMAGE:
        require(callable(metric.per_image), "a per_image metric needs per_image(gt_u8, pred_u8)")
        require(metric.accumulator is None and metric.from_means is None, "a per_image metric has no accumulator or from_means")
    else:
        require((metric.accumulator is None) != (metric.from_means is None), "a set metric has an accumulator or from_means (one of them)")
        require(metric.from_means is None or bool(metric.inputs), "from_means needs its inputs (per-image metric names)")
