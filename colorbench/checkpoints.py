"""Checkpoints: safetensors weights plus a JSON of the config that rebuilds the model.

``NAME.safetensors`` holds tensors only (nothing in it can run code);
``NAME.json`` beside it names the plugin, its version, the working size and the
full config, so ``load`` needs nothing but the file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

import colorbench
from colorbench.colorizer import Colorizer
from colorbench.errors import UsageError, UserError
from colorbench.files import sha256, write_atomic

FORMAT = "colorbench-checkpoint"
FORMAT_VERSION = 1


def config_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def save(colorizer: Colorizer, path: Path, **provenance) -> tuple[Path, str]:
    """Save weights and config; ``provenance`` (dataset, seed...) goes into the JSON.
    Returns the weights' path and sha256."""
    path = Path(path).with_suffix(".safetensors")
    tensors = {k: v.detach().cpu().contiguous() for k, v in colorizer.nets.state_dict().items()}
    write_atomic(path, safetensors_bytes(tensors))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "plugin": colorizer.name,
        "plugin_version": colorizer.version,
        "colorbench_version": colorbench.__version__,
        "size": colorizer.size,
        "config": dataclasses.asdict(colorizer.config),
        "weights_sha256": sha256(path),
        **provenance,
    }
    write_atomic(config_path(path), json.dumps(meta, indent=2).encode())
    return path, meta["weights_sha256"]


def read_config(path: Path) -> dict:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise UsageError(f"checkpoint {path} is not a .safetensors file; pass the weights file that `colorbench run` printed")
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found; train one with `colorbench run --plugin NAME`, which prints its path")
    meta_path = config_path(path)
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{meta_path} is missing: a checkpoint needs the JSON config saved beside its weights") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{meta_path} is not valid JSON ({e}); restore it from where the checkpoint came from") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path} is not a colorbench checkpoint config")
    return meta


def load(path: Path, *, plugin: str | None = None, device: torch.device | str = "cpu") -> Colorizer:
    """Rebuild the colourizer a checkpoint was made by, with its weights.

    ``plugin``, when given, must be the plugin that made the checkpoint."""
    from colorbench import plugins

    path = Path(path)
    meta = read_config(path)
    if plugin is not None and meta["plugin"] != plugin:
        raise UsageError(f"checkpoint {path} was made by plugin {meta['plugin']!r}, not {plugin!r}; pass --plugin {meta['plugin']}")
    cls = plugins.get_colorizer(meta["plugin"])
    try:
        config = cls.Config(**meta["config"])
    except TypeError as e:
        raise UserError(f"checkpoint {path} has a config that {cls.name} {cls.version} does not know ({e}); it was made by another version") from None
    colorizer = cls(config, size=int(meta["size"]))
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise UserError(f"checkpoint {path} is not a readable safetensors file ({e})") from None
    try:
        colorizer.nets.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise UserError(f"checkpoint {path} does not match plugin {cls.name}: {first}") from None
    return colorizer.to(device)
