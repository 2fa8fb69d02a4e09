"""Comparing a set of weights read from a file with the network that is to hold them.

`torch.nn.Module.load_state_dict` casts silently (int8 weights become float32
numbers) and says nothing of NaN, so weights from a file are compared first:
names, shapes and types, and every value finite.
"""

from __future__ import annotations

import torch


def _kind(t) -> str:
    return f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}" if isinstance(t, torch.Tensor) else f"a {type(t).__name__}"


def _few(names: list[str]) -> str:
    return ", ".join(map(str, names[:3])) + (", ..." if len(names) > 3 else "")


def differences(network: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """How ``state`` differs from ``network`` (a state dict, on the meta device
    will do): "2 missing (a, b)", "1 unexpected (c)", "1 of another shape or type
    (d is int8 [3], the network's float32 [3])". Empty when it fits exactly."""
    missing = [k for k in network if k not in state]
    unexpected = [k for k in state if k not in network]
    different = [
        f"{k} is {_kind(state[k])}, the network's {_kind(v)}"
        for k, v in network.items()
        if k in state and (not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape or state[k].dtype != v.dtype)
    ]
    return [
        f"{len(found)} {what} ({_few(found)})"
        for what, found in (("missing", missing), ("unexpected", unexpected), ("of another shape or type", different))
        if found
    ]


def non_finite(state: dict) -> str | None:
    """The name of the first floating-point tensor in ``state`` holding NaN or infinity."""
    return next(
        (k for k, t in state.items() if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()),
        None,
    )
