"""LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018), offline and batched.

The network is the ``lpips`` package's own (`lpips.LPIPS`), with its linear
layers' weights as shipped inside the package, and ImageNet AlexNet
``features`` weights from `colorbench.weights.backbones` (nothing is downloaded when
they are cached). Every weight is loaded with a strict key check: a missing or
unexpected weight raises, it never gives a silently wrong number.

Inputs are 8-bit sRGB images (B, 3, H, W) uint8, scaled to [-1, 1] as the
package expects. Features are computed once per image, so distances between
many pairs (sample diversity) cost little more than one pass. The network is
built once per process and device (`network`).
"""

from __future__ import annotations

import functools
import itertools
import warnings
from pathlib import Path

import torch
from torch import Tensor

from colorbench.training import state_dicts
from colorbench.errors import UserError

MIN_SIZE = 31
"""AlexNet's two max-pools need images at least 31 pixels on the shorter side."""
_CHUNK_PIXELS = 1 << 22  # images per forward pass: about 4 Mpx at a time


def package_version() -> str:
    from importlib.metadata import version

    return version("lpips")


def _linear_weights_path() -> Path:
    import lpips

    return Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"


def full_state_dict(model: torch.nn.Module, backbone: dict[str, Tensor]) -> dict[str, Tensor]:
    """The LPIPS model's complete state: AlexNet ``features`` weights (torchvision
    keys, "0.weight"...) placed into its slices, plus the package's linear layers.

    Raises `UserError` when a weight the network has is not given, or one given
    has no place in it."""
    slot = {}  # torchvision index -> "net.sliceK.index"
    for k in range(1, model.net.N_slices + 1):
        for index in getattr(model.net, f"slice{k}")._modules:
            slot[index] = f"net.slice{k}.{index}"
    state, unexpected = {}, []
    for key, value in backbone.items():
        index, _, param = key.partition(".")
        if index in slot:
            state[f"{slot[index]}.{param}"] = value
        else:
            unexpected.append(key)
    try:
        linear = torch.load(_linear_weights_path(), map_location="cpu", weights_only=True)
    except Exception as e:  # the package's own file, damaged: reinstalling it mends it
        raise UserError(f"{_linear_weights_path()} cannot be read ({type(e).__name__}); reinstall the lpips package") from None
    for key, value in linear.items():
        state[key] = value  # lin0.model.1.weight ...
        state["lins." + key.removeprefix("lin")] = value  # the same modules, as lins.0...
    own = model.state_dict()
    for key in ("scaling_layer.shift", "scaling_layer.scale"):  # constants of the package, not weights
        state[key] = own[key]
    problems = state_dicts.differences(own, state)  # shapes and types too: load_state_dict would cast
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
    if name := state_dicts.non_finite(state):
        problems.append(f"NaN or infinity in {name}")
    if problems:
        raise UserError(f"LPIPS weights do not fit the network: {'; '.join(problems)}")
    return state


def build(backbone: dict[str, Tensor] | None = None) -> torch.nn.Module:
    """A fresh LPIPS(alex, v0.1) on the CPU in eval mode, every weight loaded strictly."""
    import lpips

    from colorbench.weights import backbones as weights

    if backbone is None:
        backbone = weights.features_state_dict("alexnet")
    with warnings.catch_warnings():  # torchvision's notice about `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    model.load_state_dict(full_state_dict(model, backbone), strict=True)
    return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=None)
def _network(device: str) -> torch.nn.Module:
    return build().to(device)


def network(device: torch.device | str = "cpu") -> torch.nn.Module:
    """The process-wide LPIPS network on ``device`` (built on first use)."""
    return _network(str(torch.device(device)))


def unavailable(device: torch.device | str = "cpu") -> str | None:
    """Why LPIPS cannot be computed here (its ImageNet weights cannot be found or
    fetched), or None. A run then records LPIPS as not computed, with this reason,
    rather than failing: every other metric needs nothing from the network."""
    try:
        network(device)
    except UserError as e:
        return str(e)
    return None


def _check(x: Tensor) -> None:
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected shape (B, 3, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"LPIPS (AlexNet) needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {tuple(x.shape[-2:])}")


def _chunks(n: int, h: int, w: int):
    step = max(1, _CHUNK_PIXELS // (h * w))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


@torch.no_grad()
def features(rgb_u8: Tensor) -> list[Tensor]:
    """Unit-normalised AlexNet activations at LPIPS's five layers, for uint8 images."""
    _check(rgb_u8)
    model = network(rgb_u8.device)
    parts: list[list[Tensor]] = []
    for part in _chunks(len(rgb_u8), *rgb_u8.shape[-2:]):
        x = rgb_u8[part].float() / 127.5 - 1  # [0, 255] -> [-1, 1]
        outs = model.net(model.scaling_layer(x))
        parts.append([_unit(o) for o in outs])
    return [torch.cat(layer) for layer in zip(*parts)]


def _unit(f: Tensor, eps: float = 1e-10) -> Tensor:
    # lpips.normalize_tensor: divide by the channel norm
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


@torch.no_grad()
def distance_maps(fa: list[Tensor], fb: list[Tensor]) -> list[Tensor]:
    """LPIPS's distance at every position of each layer, (B, 1, h, w) per layer:
    the distance is the sum over layers of their spatial means."""
    model = network(fa[0].device)
    return [lin((a - b).square()) for lin, a, b in zip(model.lins, fa, fb)]


@torch.no_grad()
def distance_from_features(fa: list[Tensor], fb: list[Tensor]) -> Tensor:
    """LPIPS (B,) between two batches of `features`, float64."""
    total = 0
    for layer in distance_maps(fa, fb):
        total = total + layer.mean(dim=(1, 2, 3))
    return total.double()


def receptive_fields(device: torch.device | str = "cpu") -> list[tuple[int, int, int]]:
    """(stride, offset, size) of each layer LPIPS compares, in input pixels along
    either axis: position i depends on pixels stride * i + offset up to
    stride * i + offset + size - 1 alone (zero padding counted as pixels, so the
    offset is negative). Read from the network's own convolutions and pools."""
    model = network(device)
    stride, offset, size, fields = 1, 0, 1, []
    for k in range(1, model.net.N_slices + 1):
        for layer in getattr(model.net, f"slice{k}"):
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
                kernel, step, pad, dilation = (_square(getattr(layer, a)) for a in ("kernel_size", "stride", "padding", "dilation"))
                offset -= pad * stride
                size += (kernel - 1) * dilation * stride
                stride *= step
        fields.append((stride, offset, size))
    return fields


def _square(value: int | tuple[int, int]) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ValueError(f"expected the same value on both axes, got {value}")
    return value[0]


def lpips(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """LPIPS v0.1 (alex) per image pair: (B,) float64, 0 for identical images."""
    if gt_u8.shape != pred_u8.shape:
        raise ValueError(f"shape mismatch: {tuple(gt_u8.shape)} vs {tuple(pred_u8.shape)}")
    both = features(torch.cat([gt_u8, pred_u8]))
    n = len(gt_u8)
    return distance_from_features([f[:n] for f in both], [f[n:] for f in both])


def mean_pairwise(samples_u8: Tensor) -> Tensor:
    """Mean LPIPS over all pairs of samples of each image: (k, B, 3, H, W) -> (B,)."""
    k, n = samples_u8.shape[:2]
    if k < 2:
        raise ValueError("pairwise LPIPS needs at least two samples")
    feats = [f.unflatten(0, (k, n)) for f in features(samples_u8.flatten(0, 1))]
    pairs = list(itertools.combinations(range(k), 2))
    total = sum(distance_from_features([f[i] for f in feats], [f[j] for f in feats]) for i, j in pairs)
    return total / len(pairs)
