from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Property and fuzz tests draw the same examples on every run by default, so CI is
# repeatable; `python -m pytest --hypothesis-profile=explore` draws new ones (and
# more of them) to look for cases nobody has tried yet.
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=200)
settings.load_profile("default")
from typer.testing import CliRunner

from colorbench.cli import app
from colorbench.plugins import pm
from tests.helpers import Sepia, SepiaPlugin

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests' tensors are tiny: one thread is as fast as two, and on a shared
    machine far faster (two threads then wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


INCEPTION_METRICS = ("fid", "kid", "fid_tv")


@pytest.fixture(autouse=True, scope="session")
def no_inception_metrics():
    """An Inception v3 forward at 299 px costs a tenth of a second per image on a CPU
    core: every run and score of the suite would pay it. They leave FID, KID and
    FID (tv) out by the user's own switch ($COLORBENCH_METRICS); the tests of those
    metrics (tests/scoring/test_fid.py) ask for them."""
    from colorbench import plugins
    from colorbench.scoring import selection

    left_out = ",".join(f"-{n}" for n in INCEPTION_METRICS if n in plugins.metrics())
    mp = pytest.MonkeyPatch()
    if left_out:
        mp.setenv(selection.ENVIRONMENT, left_out)
    yield
    mp.undo()


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
