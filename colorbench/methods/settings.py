"""A method's settings, typed by its `Config` dataclass: ``--set KEY=VALUE`` text
parsed by the field's declared type, and values given in code checked against it.

Every accepted number is finite: a NaN or infinite setting could only train
nonsense, and no result holding it could be written as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from types import UnionType
from typing import Any


class Unsettable(Exception):
    """A declared type this module cannot parse or check (set it in code, or not at all)."""


def declared_types(config_cls: type) -> dict[str, Any]:
    """{field name: its declared type}; where an annotation cannot be resolved,
    the type of its default."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # a plugin's annotation naming something not importable
        hints = {}
    defaults = config_cls()
    return {f.name: hints.get(f.name, type(getattr(defaults, f.name))) for f in dataclasses.fields(config_cls)}


def derived(field: dataclasses.Field) -> str | None:
    """How a derived setting is computed ("pretrain_steps + gan_steps"), or None
    for one the user may set. A config marks it with ``metadata={"derived": ...}``."""
    return field.metadata.get("derived")


def describe(kind) -> str:
    """What a setting of type ``kind`` takes, in words: "2 numbers separated by commas"."""
    nouns = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text"}
    if kind in nouns:
        return nouns[kind]
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and args and args[-1] is not Ellipsis and len(set(args)) == 1 and args[0] in nouns:
        return f"{len(args)} {_plural(args[0])} separated by commas"
    if origin in (tuple, list) and args and args[0] in nouns:
        return f"{_plural(args[0])} separated by commas"
    if origin is dict and len(args) == 2 and all(a in nouns for a in args):
        return f"a JSON object of {_plural(args[0])} to {_plural(args[1])}"
    if _optional(kind) is not None:
        return f"{describe(_optional(kind))} or none"
    return f"a value of type {getattr(kind, '__name__', kind)}"


def _plural(kind) -> str:
    return {bool: "true/false values", int: "whole numbers", float: "finite numbers", str: "texts"}[kind]


def example(value) -> str:
    """A value as one would type it after ``--set KEY=``."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "'" + json.dumps(value) + "'"
    return str(value).lower() if isinstance(value, bool) else str(value)


def shown(overrides: dict) -> str:
    """Settings as one would type them: "ngf=0 pretrain_betas=0.5,0.9"."""
    return " ".join(f"{key}={example(value)}" for key, value in overrides.items())


def reason(error: Exception) -> str:
    """The first line of what went wrong, for a one-line message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _optional(kind):
    """X for ``X | None`` (or ``Optional[X]``), else None."""
    if typing.get_origin(kind) in (typing.Union, UnionType):
        others = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(others) == 1 and len(typing.get_args(kind)) == 2:
            return others[0]
    return None


def parse(text: str, kind):
    """``--set`` text -> a value of type ``kind``; ValueError if it is not one,
    `Unsettable` if no text can be."""
    if kind is bool:
        if text.strip().lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.strip().lower() in ("true", "1")
    if kind is int:
        return int(text)
    if kind is float:
        return check(float(text), float)
    if kind is str:
        return text
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        if text.lstrip().startswith("["):  # a JSON array, for items that are not plain numbers
            return check(_json(text), kind)
        args = typing.get_args(kind)
        item = args[0] if args else str
        if any(a not in (bool, int, float, str) for a in args if a is not Ellipsis):
            raise Unsettable(kind)
        items = text.split(",") if text.strip() else []
        kinds = args if origin is tuple and args and args[-1] is not Ellipsis else [item] * len(items)
        if len(kinds) != len(items):
            raise ValueError(text)
        return check([parse(t, k) for t, k in zip(items, kinds)], kind)
    if origin is dict:
        return check(_json(text), kind)
    if (inner := _optional(kind)) is not None:
        return None if text.strip().lower() in ("none", "null") else parse(text, inner)
    raise Unsettable(kind)


def _json(text: str):
    try:
        return json.loads(text)
    except RecursionError:  # absurdly deep nesting
        raise ValueError(text) from None


def check(value, kind):
    """``value`` as the declared type ``kind`` (an int where a float is declared
    becomes that float, a list where a tuple is, that tuple); ValueError if it is
    not one, or is a number that is not finite."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(value)
        return value
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(value)
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float
            raise ValueError(value) from None
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise ValueError(value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ValueError(value)
            items = [check(v, k) for v, k in zip(value, args)]
        else:
            items = [check(v, args[0]) for v in value] if args else list(value)
        return origin(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(value)
        key_kind, value_kind = args if len(args) == 2 else (Any, Any)
        return {check(k, key_kind): check(v, value_kind) for k, v in value.items()}
    if (inner := _optional(kind)) is not None:
        return None if value is None else check(value, inner)
    if kind is Any:
        return value
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise ValueError(value)
        return value
    raise Unsettable(kind)
