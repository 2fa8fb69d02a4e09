"""The plugin manager, and the typed accessors the rest of colorbench uses.

Nothing else calls ``pm.hook`` directly (as in tox 4): each hook has one wrapper
here, which also turns a wrong name into a did-you-mean error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import pluggy

from colorbench import hookspecs
from colorbench.errors import UserError, unknown_name

if TYPE_CHECKING:
    from colorbench.colorizer import Colorizer

ENTRY_POINT_GROUP = "colorbench"

pm = pluggy.PluginManager("colorbench")
pm.add_hookspecs(hookspecs)


@functools.cache
def load_plugins() -> None:
    """Load every installed plugin, built-in ones included, once per process."""
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()  # a misspelled hook name fails loudly instead of never running


def _collect(hook, what: str, key: Callable) -> dict:
    found: dict = {}

    def register(*args):
        name = key(*args)
        if name in found:
            raise UserError(f"two plugins register the {what} {name!r}; uninstall one of them")
        found[name] = args

    hook(register=register)
    return found


def colorizers() -> dict[str, type[Colorizer]]:
    """Registered colourizer classes by name, sorted."""
    load_plugins()
    found = _collect(pm.hook.register_colorizers, "colourizer", lambda cls: cls.name)
    return {name: found[name][0] for name in sorted(found)}


def get_colorizer(name: str) -> type[Colorizer]:
    known = colorizers()
    if name not in known:
        raise unknown_name("plugin", name, known)
    return known[name]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    factory: Callable
    description: str


def datasets() -> dict[str, DatasetEntry]:
    """Registered datasets by name (the part before any ``:arg``), sorted."""
    load_plugins()
    found = _collect(pm.hook.register_datasets, "dataset", lambda name, *_: name)
    return {name: DatasetEntry(*found[name]) for name in sorted(found)}


def get_dataset(name: str) -> DatasetEntry:
    known = datasets()
    if name not in known:
        raise unknown_name("dataset", name, known)
    return known[name]


def distribution_of(cls: type) -> dict | None:
    """The installed distribution (name, version) a registered class comes from."""
    load_plugins()
    for plugin, dist in pm.list_plugin_distinfo():
        if getattr(plugin, "__name__", None) == cls.__module__:
            return {"name": dist.project_name, "version": dist.version}
    return None
