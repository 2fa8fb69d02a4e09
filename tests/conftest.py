from pathlib import Path

import pytest
from typer.testing import CliRunner

from colorbench.cli import app
from colorbench.plugins import pm
from tests.helpers import Sepia, SepiaPlugin

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def cli():
    """Invoke the CLI in-process: cli("list", "--json") -> click Result."""
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def shared_cifar():
    path = SHARED / "cifar10-subset"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the shared CIFAR-10 subset lives beside the project, not in it")
    return path


@pytest.fixture
def sepia_plugin():
    pm.register(SepiaPlugin(), name="sepia_test")
    yield Sepia
    pm.unregister(name="sepia_test")
