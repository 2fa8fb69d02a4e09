"""A small study made from synthetic folders, and its server run as a user runs it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import one_json

METHODS = ("alpha", "beta")


def make_folders(root: Path, photos: int = 40) -> Path:
    """real/ (JPEG) and one folder of PNG "colourizations" per method: channel swaps and washed-out colours."""
    y, x = np.mgrid[0:48, 0:64] / 64
    for name in ("real", *METHODS):
        (root / name).mkdir(parents=True)
    for i in range(photos):
        rgb = (np.stack([np.sin(x * 6 + i), np.cos(y * 5 + i / 3), np.sin((x + y) * 4 - i)], -1) * 127.5 + 127.5).astype(np.uint8)
        Image.fromarray(rgb).save(root / "real" / f"p{i:02d}.jpg", quality=95)
        Image.fromarray(rgb[..., [1, 0, 2]]).save(root / "alpha" / f"p{i:02d}.png")
        Image.fromarray((rgb * 0.6 + 50).astype(np.uint8)).save(root / "beta" / f"p{i:02d}.png")
    return root


def create_study(cli, tmp: Path, *options) -> Path:
    data = make_folders(tmp / "data")
    out = tmp / "study"
    result = cli("study", "create", "--out", out, "--real", data / "real", *(a for m in METHODS for a in ("--method", f"{m}={data / m}")),
                 "--dataset", "synthetic", "--json", *options)
    assert result.exit_code == 0, result.output
    assert one_json(result)["photos"] == 40
    return out


@pytest.fixture
def study(cli, tmp_path) -> Path:
    """40 photos, 2 methods; each participant: 10 practice, 18 test and 2 vigilance pairs, shown briefly (tests' speed)."""
    return create_study(cli, tmp_path, "--trials", "18", "--display-ms", "150", "--gap-ms", "20", "--title", "<img src=x onerror=alert(1)> & co")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`colorbench study serve` in its own process, as a user starts it."""

    def __init__(self, study: Path):
        self.study, self.port = study, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.start_args: list[str] = []

    def start(self, timeout: float = 60) -> "Server":
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "colorbench", "study", "serve", str(self.study), "--port", str(self.port), *self.start_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.process.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the server did not start listening in time")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(study):
    running = Server(study).start()
    yield running
    running.stop()
