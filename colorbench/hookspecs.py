"""Every hook a colorbench plugin can implement, in one place.

A plugin is a module (or object) with functions marked ``@colorbench.hookimpl``,
found through the ``colorbench`` entry-point group. Hooks are called with keyword
arguments only, and each is handed a ``register`` callback to push objects in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from colorbench.methods.colorizer import Colorizer
    from colorbench.data.datasets import DatasetFactory
    from colorbench.scoring.registry import Metric

hookspec = pluggy.HookspecMarker("colorbench")


# ---------------------------------------------------------------- methods
@hookspec
def register_colorizers(register: Callable[[type[Colorizer]], None]) -> None:
    """Register colourization methods: call ``register(cls)`` with each
    `colorbench.Colorizer` subclass. Called once, when plugins are loaded; it must
    not build models (``colorbench list`` imports every plugin)."""


# ---------------------------------------------------------------- data
@hookspec
def register_datasets(register: Callable[[str, DatasetFactory, str], None]) -> None:
    """Register datasets: call ``register(name, factory, description)``.

    ``factory(arg, size=..., data_dir=..., seed=...)`` returns a
    `colorbench.data.datasets.Dataset`; ``arg`` is what follows the colon in
    ``--dataset name:arg`` (None without one)."""


# ---------------------------------------------------------------- metrics
@hookspec
def register_metrics(register: Callable[[Metric], None]) -> None:
    """Register metrics: call ``register(metric)`` with each
    `colorbench.scoring.registry.Metric`. Every metric registered is computed by
    `run` and `score` and shown as a column where it has a title. Called once,
    when plugins are loaded; it must not load networks (``unavailable`` and the
    metric's functions do that when scoring)."""
