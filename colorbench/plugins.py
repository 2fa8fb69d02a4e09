"""The plugin manager, and the typed accessors the rest of colorbench uses.

Nothing else calls ``pm.hook`` directly (as in tox 4): each hook has one wrapper
here, which also turns a wrong name into a did-you-mean error.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import pluggy

from colorbench import hookspecs
from colorbench.errors import UserError, unknown_name

if TYPE_CHECKING:
    from colorbench.colorizer import Colorizer

ENTRY_POINT_GROUP = "colorbench"
DISABLE_VARIABLE = "COLORBENCH_DISABLE_PLUGINS"

pm = pluggy.PluginManager("colorbench")
pm.add_hookspecs(hookspecs)

broken: dict[str, str] = {}
"""Plugins that failed to load or to register, by name -> the error: shown by
``colorbench plugins``, while everything else goes on working."""


def disabled() -> set[str]:
    """Plugin names turned off by COLORBENCH_DISABLE_PLUGINS=a,b (the way to
    recover from a plugin that breaks colorbench)."""
    return {name.strip() for name in os.environ.get(DISABLE_VARIABLE, "").split(",") if name.strip()}


def _warn(name: str, error: BaseException) -> None:
    if name in broken:  # said once per process, however often its hook is called
        return
    broken[name] = f"{type(error).__name__}: {error}"
    print(f"warning: plugin {name!r} is broken and was skipped ({broken[name]}); see `colorbench plugins`", file=sys.stderr)


@functools.cache
def load_plugins() -> None:
    """Load every installed plugin, built-in ones included, once per process; one
    that fails to import is recorded as broken instead of stopping the rest."""
    for name in disabled():
        pm.set_blocked(name)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep.name)
        except Exception as e:  # a third party's import error must not take colorbench down
            _warn(ep.name, e)
    pm.check_pending()  # a misspelled hook name fails loudly instead of never running


SAFE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""What a method or dataset may be called: it becomes part of file names, command
lines, terminal markup and markdown, so nothing in it may mean anything there."""


class BadName(Exception):
    """A plugin registered a name that is not a `SAFE_NAME`."""


def _collect(hook, what: str, key: Callable) -> dict:
    """Call each plugin's implementation in turn, so one that raises (or registers
    an unsafe name) is skipped and reported rather than hiding every other
    plugin's registrations."""
    found: dict = {}
    for impl in hook.get_hookimpls():
        mine: dict = {}

        def register(*args):
            name = key(*args)
            if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
                raise BadName(f"{what} name {name!r} is not lower-case letters, digits and _ (starting with a letter, at most 64)")
            if name in found or name in mine:
                raise UserError(f"two plugins register the {what} {name!r}; disable one with {DISABLE_VARIABLE}={impl.plugin_name}")
            mine[name] = args

        try:
            impl.function(register=register)
        except UserError:
            raise
        except Exception as e:  # all or nothing: a plugin that fails registers none of its objects
            _warn(impl.plugin_name, e)
            continue
        found.update(mine)
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


def installed() -> list[dict]:
    """Every plugin of the entry-point group: its distribution, version, the hooks it
    implements, and whether it is loaded, broken or disabled."""
    load_plugins()
    rows = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        plugin = pm.get_plugin(ep.name)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or []) if plugin else []
        status = "disabled" if ep.name in disabled() else "broken" if ep.name in broken else "loaded"
        rows.append({
            "name": ep.name,
            "module": ep.value,
            "distribution": ep.dist.name if ep.dist else None,
            "version": ep.dist.version if ep.dist else None,
            "hooks": hooks,
            "status": status,
            "error": broken.get(ep.name),
        })
    return rows
