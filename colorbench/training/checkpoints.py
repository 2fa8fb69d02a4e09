"""Checkpoints: safetensors weights plus a JSON of the config that rebuilds the model.

``NAME.safetensors`` holds tensors only (nothing in it can run code);
``NAME.json`` beside it names the plugin, its version, the working size and the
full config, so ``load`` needs nothing but the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

import colorbench
from colorbench.methods import settings
from colorbench.reporting import schemas
from colorbench.training import state_dicts
from colorbench.methods.colorizer import Colorizer
from colorbench.errors import UsageError, UserError
from colorbench.files import sha256, write_atomic

FORMAT = schemas.CHECKPOINT_FORMAT
FORMAT_VERSION = schemas.CHECKPOINT_FORMAT_VERSION


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
        meta = schemas.parse_json(meta_path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{meta_path} is missing: a checkpoint needs the JSON config saved beside its weights") from None
    except OSError as e:
        raise UserError(f"{meta_path} cannot be read ({e.strerror or e})") from None
    except schemas.SchemaError as e:
        raise UserError(f"{meta_path} is not valid JSON ({e}); restore it from where the checkpoint came from") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path} is not a colorbench checkpoint config")
    try:
        schemas.check_checkpoint_config(meta)
    except schemas.SchemaError as e:
        raise UserError(f"{meta_path} is damaged ({e}); restore it from where the checkpoint came from") from None
    return meta


def _weights(path: Path, meta: dict) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, once they are known to be the ones it was saved
    with (the sha256 its config records) and finite."""
    try:
        data = path.read_bytes()
        state = safetensors_load(data)
    except (SafetensorError, OSError) as e:
        raise UserError(f"checkpoint {path} is not a readable safetensors file ({e})") from None
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        raise UserError(
            f"checkpoint {path} is not the weights its {config_path(path).name} was saved with (sha256 differs): "
            "it was changed or damaged; restore both files from where the checkpoint came from"
        )
    if name := state_dicts.non_finite(state):
        raise UserError(f"checkpoint {path} holds non-finite weights (NaN or infinity) in {name}; retrain it with `colorbench run`")
    return state


PROVENANCE = ("run_id", "dataset", "profile", "seed")
"""What `colorbench run` records of how a checkpoint was trained (``save``'s provenance)."""


def load(path: Path, *, plugin: str | None = None, device: torch.device | str = "cpu") -> Colorizer:
    """Rebuild the colourizer a checkpoint was made by, with its weights.

    ``plugin``, when given, must be the plugin that made the checkpoint."""
    return load_recorded(path, plugin=plugin, device=device)[0]


def load_recorded(path: Path, *, plugin: str | None = None, device: torch.device | str = "cpu") -> tuple[Colorizer, dict]:
    """`load`, and what a result scored from the checkpoint records of it: the file,
    its sha256, and how it was trained (the provenance its config records)."""
    path = Path(path)
    meta = read_config(path)
    colorizer = _rebuild(path, meta, plugin=plugin).to(device)
    record = {
        "from": "checkpoint",
        "path": str(path.resolve()),
        "sha256": meta["weights_sha256"],
        "plugin_version": meta["plugin_version"],
        "trained_with": {key: meta[key] for key in PROVENANCE if key in meta},
    }
    return colorizer, record


def check_plugin(path: Path, meta: dict, plugin: str | None) -> None:
    if plugin is not None and meta["plugin"] != plugin:
        raise UsageError(f"checkpoint {path} was made by plugin {meta['plugin']!r}, not {plugin!r}; pass --plugin {meta['plugin']}")


def _rebuild(path: Path, meta: dict, *, plugin: str | None) -> Colorizer:
    from colorbench import plugins

    check_plugin(path, meta, plugin)
    cls = plugins.get_colorizer(meta["plugin"])
    kinds = settings.declared_types(cls.Config)
    for key, value in meta["config"].items():  # as strictly as --set: ngf "64" is refused here, not by torch later
        try:
            settings.check(value, kinds.get(key, object))
        except ValueError:
            raise UserError(
                f"{config_path(path)} is damaged (config.{key}: {cls.name}'s {key} takes {settings.describe(kinds[key])}, "
                f"not {value!r}); restore it from where the checkpoint came from"
            ) from None
        except settings.Unsettable:  # a type of the method's own: its concern
            pass
    try:
        config = cls.Config(**meta["config"])
    except (TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} has a config that {cls.name} {cls.version} does not know ({e}); it was made by another version") from None
    state = _weights(path, meta)
    try:  # the network's shapes alone, on no memory: a config of absurd widths or size is refused by them
        with torch.device("meta"):
            shapes = cls(config, size=meta["size"]).nets.state_dict()
    except Exception:  # a method that cannot be built without memory: the real build below says what is wrong
        shapes = None
    if shapes is not None:
        _check_fits(path, cls.name, shapes, state)
    try:
        colorizer = cls(config, size=meta["size"])
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as e:  # a negative width, an overflowing one...
        first = (str(e).splitlines() or [""])[0]
        raise UserError(f"{config_path(path)}: its config does not make a {cls.name} network ({type(e).__name__}: {first})") from None
    _check_fits(path, cls.name, colorizer.nets.state_dict(), state)
    colorizer.nets.load_state_dict(state, strict=True)
    return colorizer


def _check_fits(path: Path, plugin: str, network: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    if problems := state_dicts.differences(network, state):
        raise UserError(
            f"checkpoint {path} does not match plugin {plugin} as {config_path(path).name} configures it: "
            f"weights {'; '.join(problems)}; restore both files from where the checkpoint came from"
        )


# ------------------------------------------------------------------ training state
# Everything a run needs to continue exactly where it stopped: weights, optimiser
# state, the step, every RNG. Tensors go to safetensors and the rest to JSON, so
# resuming never unpickles anything.

def _flatten(obj, tensors: dict, prefix: str):
    """Nested dicts/lists with tensors -> JSON-able tree, tensors moved to ``tensors``."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):  # keys may be ints (optimiser state): keep their type
        return {"__items__": [[k, _flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    return obj


def _unflatten(tree, tensors: dict | None):
    """The inverse of `_flatten`; with ``tensors`` None (the JSON read alone) a
    tensor is None, else one the JSON names and ``tensors`` lacks raises KeyError."""
    if isinstance(tree, dict) and "__tensor__" in tree:
        if tensors is None:
            return None
        if tree["__tensor__"] not in tensors:
            raise KeyError(f"tensor {tree['__tensor__']} is missing")
        return tensors[tree["__tensor__"]]
    if isinstance(tree, dict) and "__items__" in tree:
        return {k: _unflatten(v, tensors) for k, v in tree["__items__"]}
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    return tree


def state_to_files(state: dict) -> tuple[bytes, bytes]:
    """A training state (nested dicts of tensors and plain values) -> (safetensors, JSON)."""
    tensors: dict = {}
    tree = _flatten(state, tensors, "s")
    return safetensors_bytes(tensors), json.dumps(tree).encode()


def training_state_json(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".json")


def write_training_state(path: Path, state: dict) -> None:
    """Crash-safe at any instant: the tensors go to a file named by the step, then
    the JSON that names that file replaces the old JSON (the commit point), then
    older tensor files go. A kill never pairs a JSON with another step's tensors."""
    path = Path(path)
    tensors, tree = state_to_files(state)
    weights = path.with_name(f"{path.name}.step{state['step']}.safetensors")
    write_atomic(weights, tensors)
    write_atomic(training_state_json(path), json.dumps({"tensors": weights.name, "state": json.loads(tree)}).encode())
    for old in path.parent.glob(f"{path.name}.step*.safetensors"):
        if old != weights:
            old.unlink(missing_ok=True)


def remove_training_state(path: Path) -> None:
    path = Path(path)
    training_state_json(path).unlink(missing_ok=True)
    for old in path.parent.glob(f"{path.name}.step*.safetensors"):
        old.unlink(missing_ok=True)


def unusable_state(json_path: Path, why: str) -> UserError:
    return UserError(f"cannot resume from {json_path}: {why}; delete it to start afresh")


def _state_json(json_path: Path) -> dict:
    """A training state's JSON, checked (`schemas.check_training_state`)."""
    try:
        saved = schemas.parse_json(json_path.read_bytes())
    except OSError as e:
        raise unusable_state(json_path, f"it cannot be read ({e.strerror or e})") from None
    except schemas.SchemaError as e:
        raise unusable_state(json_path, f"it is not valid JSON ({e})") from None
    try:
        schemas.check_training_state(saved, json_path.name.removesuffix(".json"))
    except schemas.SchemaError as e:
        raise unusable_state(json_path, str(e)) from None
    return saved


def read_training_state(path: Path) -> dict:
    """The state `write_training_state` saved at ``path``. A file that is not one
    (damaged, hand-edited, naming tensors of another step or outside its folder)
    raises `UserError` naming it; whether the state fits the method is
    `colorbench.training.trainer.check_state`'s to say."""
    path = Path(path)
    json_path = training_state_json(path)
    saved = _state_json(json_path)
    try:
        tensors = load_file(path.with_name(saved["tensors"]))
    except (OSError, SafetensorError) as e:
        raise unusable_state(json_path, f"its tensors {saved['tensors']} cannot be read ({e})") from None
    try:
        state = _unflatten(saved["state"], tensors)
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise unusable_state(json_path, f"state: {e.args[0] if isinstance(e, KeyError) else e}") from None
    if saved["tensors"] != f"{path.name}.step{state.get('step')}.safetensors":
        raise unusable_state(json_path, f"tensors: {saved['tensors']} are not those of the step the state is at ({state.get('step')!r})")
    return state


def read_training_run(path: Path) -> dict | None:
    """The ``run`` record of a training state's JSON (which run it belongs to);
    None when it has none. A file that is not a training state raises `UserError`:
    passed over unsaid, it would start the run afresh."""
    path = Path(path)
    try:
        run = _unflatten(_state_json(path)["state"], None).get("run")
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise unusable_state(path, f"state: {e}") from None
    return run if isinstance(run, dict) else None
