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
from colorbench.errors import UsageError, UserError, unknown_name
from colorbench.text import printable

if TYPE_CHECKING:
    from colorbench.methods.colorizer import Colorizer
    from colorbench.scoring.registry import Metric

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


class BadCitation(Exception):
    """A colourizer registered without a real `paper` or `description`."""


PLACEHOLDERS = {"", "todo", "tbd", "tba", "fixme", "xxx", "none", "no paper", "n/a", "na", "-", "?", "paper", "citation", "unknown"}
UNFINISHED = {"todo", "tbd", "tba", "fixme", "xxx"}  # as the first word: "TODO: cite it"
SLOT = re.compile(r"<[^<>]*[\s,][^<>]*>|^<[^<>]*>$")  # "<authors, year, title>", "<why>"; not "<b>x</b>"
FILE_NUMBER = re.compile(r"\bseeds?[\s_-]*\d{3}\b|\b\d{3}_[0-9a-f]{8,}", re.IGNORECASE)
"""A paper cited by a local file's number ("seed" and three digits, "000_442b...txt"): meaningless to a reader."""


def _placeholder(text: str) -> bool:
    """A slot left unfilled: "TODO", "n/a", "?", "<authors, year, title>", "TBD: later"."""
    bare = text.strip().lower()
    first_word = re.split(r"[\s:;,.]", bare, maxsplit=1)[0]
    return bare.rstrip(" .:;,!") in PLACEHOLDERS or first_word in UNFINISHED or SLOT.search(bare) is not None


HOW = {
    "description": "say in one line what the method is",
    "paper": "cite its paper (authors, title, year, sections), or say why there is none: 'none: a constant baseline'",
}


def check_paper(name: str, paper: str) -> None:
    """A submitted system's ``--paper`` (`colorbench score --dataset`): one line citing
    authors, title and year, as a method's ``paper`` does; else a UsageError."""
    text = paper.strip()
    if _placeholder(text) or FILE_NUMBER.search(text) or not text.isprintable() or not re.search(r"\b(1[89]|20)\d\d\b", text):
        raise UsageError(f"--paper {printable(paper)!r} does not cite a paper: give its authors, title and year, "
                         f"e.g. --paper 'Kang et al., \"DDColor: ...\", ICCV 2023'")


def check_citation(cls: type) -> None:
    """A colourizer says what it is and which paper it follows (authors, title, year,
    sections), since results are compared by it; one that follows none says why,
    "none: a constant baseline"."""
    for attribute in ("description", "paper"):
        value = getattr(cls, attribute, None)
        if not isinstance(value, str):
            raise BadCitation(f"colourizer {cls.name!r}: {attribute} must be text, not {value!r}; {HOW[attribute]}")
        if _placeholder(value):
            raise BadCitation(f"colourizer {cls.name!r}: {attribute} {value!r} is a placeholder; {HOW[attribute]}")
    paper = cls.paper.strip()
    if reason := re.fullmatch(r"none\s*:\s*(.*)", paper, re.IGNORECASE | re.DOTALL):
        if _placeholder(reason[1]) or len(reason[1].split()) < 2:
            raise BadCitation(f"colourizer {cls.name!r}: paper {paper!r} gives no reason; a method that follows no paper says why, e.g. 'none: a constant baseline'")
    if FILE_NUMBER.search(paper):
        raise BadCitation(f"colourizer {cls.name!r}: paper {paper!r} names a file, not a paper; cite its authors, title and year")


def _collect(hook, what: str, key: Callable, check: Callable = lambda *args: None) -> dict:
    """Call each plugin's implementation in turn, so one that raises (or registers
    an unsafe name, or fails ``check``) is skipped and reported rather than hiding
    every other plugin's registrations."""
    found: dict = {}
    for impl in hook.get_hookimpls():
        mine: dict = {}

        def register(*args):
            name = key(*args)
            if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
                raise BadName(f"{what} name {name!r} is not lower-case letters, digits and _ (starting with a letter, at most 64)")
            check(*args)
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
    found = _collect(pm.hook.register_colorizers, "colourizer", lambda cls: cls.name, check_citation)
    return {name: found[name][0] for name in sorted(found)}


def _not_registered(kind: str, name: str, known) -> UserError:
    """Why ``name`` is not among ``known``: its plugin is broken or disabled, or it is a
    typo (with the closest names, and the plugins that failed to load, if any)."""
    if name in broken:
        return UserError(f"plugin {name!r} is installed but failed to load ({broken[name]}); see `colorbench plugins`")
    if name in disabled():
        return UsageError(f"plugin {name!r} is turned off by {DISABLE_VARIABLE}; remove it from there to use it")
    error = unknown_name(kind, name, known)
    if broken:
        return UsageError(f"{error} (failed to load: {', '.join(sorted(broken))}; see `colorbench plugins`)")
    return error


def get_colorizer(name: str) -> type[Colorizer]:
    known = colorizers()
    if name not in known:
        raise _not_registered("plugin", name, known)
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
        raise _not_registered("dataset", name, known)
    return known[name]


def metrics() -> dict[str, Metric]:
    """Registered metrics by name: the built-in ones first (their order is the
    tables' column order), then each plugin's in the order it registers them."""
    from colorbench.scoring import registry

    load_plugins()
    found = _collect(pm.hook.register_metrics, "metric", lambda m: getattr(m, "name", None), registry.check)
    titles: dict[str, str] = {}
    for name, (metric,) in found.items():
        if metric.title is not None and titles.setdefault(metric.title, name) != name:
            raise UserError(f"metrics {titles[metric.title]!r} and {name!r} both have the column title {metric.title!r}; disable one's plugin with {DISABLE_VARIABLE}")
    return {name: metric for name, (metric,) in found.items()}


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
    colorizers(), datasets(), metrics()  # a plugin that imports but fails to register is broken too
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
