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


@contextlib.contextmanager
def serve_folder(folder: Path):
    """A real HTTP server on localhost (a free port) serving ``folder``'s files from
    a thread: yields (its base URL, the list of paths asked for, growing as asked)."""
    import functools
    import http.server
    import threading

    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # the tests' output is not the server's log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def photo_crops(root: Path) -> Path:
    """A folder: dataset of 32 x 32 crops of scikit-image's colour photos, with its
    own train/ (5 images) and test/ (3 images) split."""
    from PIL import Image
    from skimage import data as photos

    for i, photo in enumerate([photos.astronaut(), photos.coffee(), photos.chelsea(), photos.rocket()]):
        small = np.asarray(Image.fromarray(photo).resize((64, 64)))
        for j, (y, x) in enumerate([(0, 0), (32, 32)]):
            write_png(root / ("test" if (i + j) % 3 == 0 else "train") / f"{i}_{j}.png", small[y : y + 32, x : x + 32])
    return root


_PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
dependencies = ["colorbench"]

[project.entry-points.colorbench]
{entry} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""


def one_module_package(folder: Path, module: str, source: str) -> Path:
    """A plugin package, as a newcomer writes one: ``module`` (colorbench_NAME) is its
    one module and its entry point; the distribution is named colorbench-NAME."""
    folder.mkdir(parents=True)
    entry = module.removeprefix("colorbench_")
    (folder / "pyproject.toml").write_text(_PLUGIN_PYPROJECT.format(dist=module.replace("_", "-"), entry=entry, module=module))
    (folder / f"{module}.py").write_text(source)
    return folder


def pip_install(package: Path, site: Path, env: dict | None = None) -> dict:
    """Install ``package`` as `pip install` would, into ``site`` (a folder of its own);
    returns ``env`` (default: this process's) with ``site`` on PYTHONPATH."""
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", site, package],
        check=True, capture_output=True,
    )
    env = dict(os.environ if env is None else env)
    return {**env, "PYTHONPATH": os.pathsep.join([str(site), env.get("PYTHONPATH", "")])}
