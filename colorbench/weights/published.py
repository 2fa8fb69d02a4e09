"""Published weights: a method's trained weights at a URL, declared as timm declares
its pretrained configs, downloaded once into the cache, checked, and loaded as safetensors.

A `Colorizer` declares them by name; the first is its default::

    published_weights = {
        "places": PublishedWeights(
            url="https://example.org/colorizer-places.safetensors",
            sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            size=256, description="trained on Places365", licence="MIT", paper="Someone et al. 2024",
        ),
    }

The cache (``<cache>/weights/published/SHA256.safetensors``) is keyed by content:
a file lands there only once its sha256 is the declared one (downloaded or copied
to a temporary file first, then renamed), and is checked again whenever it is
read, so a file is never parsed before it is known to be the one declared.
Offline, the file can be put there by hand, or passed with ``--weights-file``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Mapping

import torch

from colorbench.errors import UsageError, UserError, unknown_name

if TYPE_CHECKING:
    from colorbench.methods.colorizer import Colorizer

SHA256 = re.compile(r"[0-9a-f]{64}")
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class PublishedWeights:
    """Weights a method's authors published. ``size``: the working size they were
    made at (and are scored at); ``config``: the settings they were made with, over
    the method's `Config` defaults (its profiles are for training, not these)."""

    url: str
    sha256: str
    size: int
    config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    licence: str = ""
    paper: str = ""

    def __post_init__(self):  # a plugin's slip is named when it is imported, not at download time
        if not isinstance(self.sha256, str) or not SHA256.fullmatch(self.sha256):
            raise ValueError(f"PublishedWeights sha256 {self.sha256!r} is not 64 lower-case hex digits")
        if not isinstance(self.url, str) or not self.url.startswith(("https://", "http://", "file:")):
            raise ValueError(f"PublishedWeights url {self.url!r} is not an http(s) or file URL")
        if not isinstance(self.size, int) or self.size < 16 or self.size & (self.size - 1):
            raise ValueError(f"PublishedWeights size {self.size!r} is not a power of two of at least 16")

    def record(self, name: str) -> dict:
        """What a result records of them."""
        return {"name": name, **{k: v for k, v in dataclasses.asdict(self).items() if k != "config"}, "config": dict(self.config)}


def declared(cls: type[Colorizer]) -> dict[str, PublishedWeights]:
    return dict(getattr(cls, "published_weights", None) or {})


def choose(cls: type[Colorizer], name: str | None) -> tuple[str, PublishedWeights]:
    """(name, weights): those named, or the method's default (its first declared)."""
    found = declared(cls)
    if not found:
        raise UsageError(f"{cls.name} declares no published weights; see `colorbench weights list`")
    if name is None:
        name = next(iter(found))
    if name not in found:
        raise unknown_name(f"weights of {cls.name}", name, found)
    return name, found[name]


def loads_by_default(cls: type[Colorizer], profile: str) -> bool:
    """Whether `run` scores ``cls`` from its default published weights: it has some,
    and trains nothing at ``profile``."""
    if not declared(cls):
        return False
    _, weights = choose(cls, None)
    return not cls.from_profile(profile, size=weights.size).trainable


def cache_dir() -> Path:
    from colorbench.weights.backbones import cache_dir as weights_cache

    return weights_cache() / "published"


def cached_path(weights: PublishedWeights) -> Path:
    return cache_dir() / f"{weights.sha256}.safetensors"


def _what(cls: type[Colorizer], name: str) -> str:
    return f"{cls.name}'s published weights {name!r}"


def fetch(cls: type[Colorizer], name: str | None = None, *, file: Path | None = None) -> Path:
    """The cached file of ``cls``'s weights ``name`` (default: its default): already
    there, else copied from ``file`` or downloaded from the declared URL, once its
    sha256 is the declared one. Anything else is one line, and nothing is cached."""
    from colorbench import outputs

    name, weights = choose(cls, name)
    target = cached_path(weights)
    if file is None and _intact(target, weights):
        return target
    outputs.check_folder(cache_dir(), "the weights cache (under $XDG_CACHE_HOME)")
    if target.is_dir():
        raise UserError(f"{target} is a folder where cached weights go: move it away, then run again")
    with _source(cls, name, weights, file) as source:
        digest = _store(source, target, weights.sha256)
    if digest != weights.sha256:
        where = f"--weights-file {file}" if file is not None else f"the file downloaded from {weights.url}"
        then = f"pass the file downloaded from {weights.url}" if file is not None else "try again later, or tell the method's authors"
        raise UserError(f"{where} is not {_what(cls, name)} (its sha256 is {digest}, {cls.name} declares {weights.sha256}): nothing was cached; {then}")
    return target


def _source(cls: type[Colorizer], name: str, weights: PublishedWeights, file: Path | None) -> BinaryIO:
    """``file`` opened, or the declared URL's download."""
    if file is not None:
        try:
            return open(file, "rb")
        except OSError as e:
            raise UsageError(f"--weights-file {file}: {e.strerror or e}; pass the file downloaded from {weights.url}") from None
    try:
        return urllib.request.urlopen(weights.url, timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, ValueError) as e:  # URLError, HTTPError and timeouts are OSErrors
        raise UserError(
            f"could not download {_what(cls, name)} from {weights.url} ({getattr(e, 'reason', None) or e}): "
            f"download that file and pass it with --weights-file PATH, or put it at {cached_path(weights)}"
        ) from None


def _store(source: BinaryIO, target: Path, expected: str) -> str:
    """Copy ``source`` to a temporary file beside ``target``, hashing it on the way;
    rename it to ``target`` only if its sha256 is ``expected`` (else delete it).
    Returns the sha256."""
    digest = hashlib.sha256()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"could not write in {target.parent} ({e.strerror or e}); nothing was cached") from None
    try:
        with os.fdopen(fd, "wb") as out:
            while block := source.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() == expected:
            os.replace(tmp, target)
    except OSError as e:  # a full disk, a connection cut mid-way
        raise UserError(f"copying into {target} failed ({e.strerror or e}); nothing was cached") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digest.hexdigest()


def _intact(path: Path, weights: PublishedWeights) -> bool:
    from colorbench.files import sha256

    try:
        return path.is_file() and sha256(path) == weights.sha256
    except OSError:
        return False


def build(cls: type[Colorizer], weights: PublishedWeights) -> Colorizer:
    """The method as its published weights were made: its defaults with their config, at their size."""
    try:
        config = dataclasses.replace(cls.Config(), **weights.config)
    except (TypeError, ValueError) as e:
        raise UserError(f"{cls.name} {cls.version} cannot take the config its published weights declare ({e}): a bug in the plugin") from None
    return cls(config, size=weights.size)


def load(cls: type[Colorizer], name: str | None = None, *, file: Path | None = None, device: torch.device | str = "cpu") -> tuple[Colorizer, dict]:
    """The method with its published weights ``name`` (fetched first when they are not
    cached), and what a result records of them. The file's bytes are checked against
    the declared sha256 before they are parsed, and the weights must fit the network
    exactly (names, shapes, types; every value finite)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as safetensors_load

    from colorbench.training import state_dicts

    name, weights = choose(cls, name)
    path = fetch(cls, name, file=file)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path} cannot be read ({e.strerror or e}); delete it and run again") from None
    if hashlib.sha256(data).hexdigest() != weights.sha256:  # changed since it was fetched
        raise UserError(f"{path} is not {_what(cls, name)} (sha256 differs): delete it and run again to download it anew")
    try:
        state = safetensors_load(data)
    except SafetensorError as e:
        raise UserError(f"{_what(cls, name)} ({weights.url}) are not a safetensors file ({e}): a bug in the plugin") from None
    problems = state_dicts.differences(build_shapes(cls, weights), state)
    if bad := state_dicts.non_finite(state) if not problems else None:
        problems = [f"NaN or infinity in {bad}"]
    if problems:
        raise UserError(f"{_what(cls, name)} do not fit {cls.name} {cls.version} (weights {'; '.join(problems)}): a bug in the plugin")
    colorizer = build(cls, weights)
    colorizer.nets.load_state_dict(state, strict=True)
    return colorizer.to(device), weights.record(name)


def build_shapes(cls: type[Colorizer], weights: PublishedWeights) -> dict[str, torch.Tensor]:
    """The network's weights as shapes alone (the meta device: no memory), or built for real when it cannot be so."""
    try:
        with torch.device("meta"):
            return build(cls, weights).nets.state_dict()
    except UserError:
        raise
    except Exception:
        return build(cls, weights).nets.state_dict()

