"""How one run is made: every setting of `colorbench.runner.run` in one typed object,
and where its weights come from when it loads them instead of training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from colorbench.errors import UsageError
from colorbench.reporting.results import DEFAULT_DIR


@dataclass(frozen=True)
class Checkpoint:
    """Score a checkpoint `colorbench run` saved (`colorbench.training.checkpoints`), without training."""

    path: Path
    flag = "--checkpoint"


@dataclass(frozen=True)
class Published:
    """Score a method's published weights (`colorbench.weights.published`), without
    training: ``name`` (None: its default), ``file`` a copy at hand, checked against
    the declared sha256 and cached."""

    name: str | None = None
    file: Path | None = None

    @property
    def flag(self) -> str:
        return "--weights-file" if self.file is not None and self.name is None else "--weights"


WeightsSource = Checkpoint | Published


@dataclass(frozen=True)
class RunSettings:
    """``profile``: the training budget (and a stochastic method's samples by
    default). ``n_samples``: samples per test image for diversity (None: by
    profile). ``overrides``: Config fields set by hand. ``resume``: continue the
    newest unfinished run started the same way. ``checkpoint_every``: save the
    training state every N steps (0: by time). ``workers``, ``precision``,
    ``channels_last``, ``compile``: how the trainer makes batches and computes
    (`colorbench.training.trainer.train`).
    ``weights``: load these instead of training (None: train, or run a method that
    trains nothing from its default published weights). ``metrics``: the names of the
    metrics to score (None: `colorbench.scoring.selection.select`'s default)."""

    profile: str = "quick"
    seed: int = 0
    device: torch.device = torch.device("cpu")
    out_dir: Path = DEFAULT_DIR
    n_samples: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = False
    checkpoint_every: int = 0
    workers: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    weights: WeightsSource | None = None
    metrics: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.weights is None:
            return
        flag = self.weights.flag
        if self.resume:
            raise UsageError(f"--resume continues an unfinished training; {flag} loads weights instead of training: pass one of them")
        if self.overrides:
            raise UsageError(f"--set changes a method's config; {flag} loads weights made with their own config: leave --set out")
