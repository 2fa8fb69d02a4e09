"""Helpers the tests share (fixtures are in conftest.py)."""

import contextlib
import ctypes
import json
import os
from pathlib import Path

import numpy as np
import torch

import colorbench
from colorbench.methods.colorizer import Colorizer


def one_json(result) -> dict:
    """The single JSON object a --json command must print on stdout."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


class Sepia(Colorizer):
    """A throwaway method: a constant warm tint, learned as one parameter."""

    name = "sepia_test"
    description = "constant sepia tint (test plugin)"
    paper = "none: a test"

    def build(self):
        return {"tint": torch.nn.Linear(1, 2, bias=False)}

    def predict(self, L, noise):
        tint = self.nets["tint"].weight.view(1, 2, 1, 1).tanh()
        return tint.expand(len(L), 2, *L.shape[2:])


class SepiaPlugin:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        register(Sepia)


def write_png(path: Path, array) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


_DAC_CAPABILITIES = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: how root reads and writes anywhere


def _root_bypasses_permissions(enabled: bool) -> None:
    """Turn root's two file-permission capabilities off in this thread's effective
    set, or back on (they stay permitted, so this can be undone)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective = data[0].effective | _DAC_CAPABILITIES if enabled else data[0].effective & ~_DAC_CAPABILITIES
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


@contextlib.contextmanager
def permissions_enforced():
    """Within the block, file permissions hold for this thread even as root (which
    otherwise reads and writes any folder): a folder of mode 000 cannot be listed,
    one of mode 555 cannot be written in."""
    as_root = os.geteuid() == 0
    if as_root:
        _root_bypasses_permissions(False)
    try:
        yield
    finally:
        if as_root:
            _root_bypasses_permissions(True)


def tiny_image(path: Path, seed: int = 0) -> Path:
    """An 8 x 8 colour image in the format its suffix names."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    return path


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Every file (its bytes), link (where it leads) and folder (None) under ``root``:
    equal snapshots mean nothing was changed, added or removed."""

    def state(p: Path) -> bytes | str | None:
        return os.readlink(p) if p.is_symlink() else None if p.is_dir() else p.read_bytes()

    return {p.relative_to(root).as_posix(): state(p) for p in sorted(root.rglob("*"))}


def refused(result, code: int, *words: str) -> None:
    """One line on stderr naming what was wrong, the given exit status, no traceback."""
    assert result.exit_code == code, result.output
    assert not result.exception or isinstance(result.exception, SystemExit), result.exception
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error:") and all(w in line for w in words), line
