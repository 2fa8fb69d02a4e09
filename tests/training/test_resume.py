"""A run killed with SIGKILL at any point and resumed ends with the same weights as
one never interrupted (CPU, fixed seed)."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

ARGS = [
    "run", "--plugin", "unet_cgan", "--profile", "smoke", "--size", "16", "--no-baseline", "--samples", "2",
    "--set", "steps=150", "--set", "ngf=8", "--set", "ndf=8", "--checkpoint-every", "10", "--json",
]


def colorbench(*args):
    return [sys.executable, "-m", "colorbench", *args]


def final_weights(out_dir):
    (result,) = json.loads(next(line for line in out_dir.joinpath("stdout").read_text().splitlines() if line.startswith("{")))["results"]
    return load_file(result["checkpoint"]["path"])


def run_to_end(out_dir, *extra):
    out_dir.mkdir(exist_ok=True)
    done = subprocess.run(colorbench(*ARGS, "--out", str(out_dir), *extra), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out_dir.joinpath("stdout").write_text(done.stdout)
    return done


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    run_to_end(out)
    return final_weights(out)


@pytest.mark.parametrize("delay", [0.0, 0.35])
def test_sigkill_then_resume_gives_the_same_weights(uninterrupted, tmp_path, delay):
    out = tmp_path / "killed"
    out.mkdir()
    process = subprocess.Popen(colorbench(*ARGS, "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "checkpoints").glob("*-training.json")):  # wait for a first checkpoint...
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    time.sleep(delay)  # ...then kill it wherever it is: mid-step, mid-write
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before the kill: make it longer"

    resumed = run_to_end(out, "--resume")
    assert "resuming unet_cgan at step" in resumed.stderr
    weights = final_weights(out)
    assert weights.keys() == uninterrupted.keys()
    for name in weights:
        assert torch.equal(weights[name], uninterrupted[name]), name
    assert not list((out / "checkpoints").glob("*-training*"))  # the state is gone once the run is done


# ------------------------------------------------------------------ in both loader modes
KILLABLE = """
import os, signal, sys
import torch
from rich.console import Console
from safetensors.torch import save_file
from colorbench.data import datasets
from colorbench.plugins import get_colorizer
from colorbench.training import trainer as training

workers, init_seed, kill_at, state, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
training.seed_everything(init_seed)
model = get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=8, ndf=8, steps=6)
generate, calls = model.generate, [0]

def killed_at(L, ab):  # SIGKILL from inside a step: nothing is flushed or cleaned up
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return generate(L, ab)

model.generate = killed_at
training.train(model, datasets.load("builtin", size=16), seed=0, console=Console(quiet=True),
               state_path=state, checkpoint_every=2, resume=True, workers=workers)
save_file(model.nets.state_dict(), out)
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_then_resume_gives_the_same_weights_with_or_without_worker_processes(tmp_path, workers):
    def train(init_seed, kill_at, state, out):
        return subprocess.run([sys.executable, "-c", KILLABLE, str(workers), str(init_seed), str(kill_at), str(state), str(out)])

    assert train(0, 0, tmp_path / "whole-training", tmp_path / "whole.safetensors").returncode == 0
    assert train(0, 6, tmp_path / "run-training", tmp_path / "never.safetensors").returncode == -signal.SIGKILL  # after step 4's state
    assert train(123, 0, tmp_path / "run-training", tmp_path / "resumed.safetensors").returncode == 0  # other weights, other RNG
    whole, resumed = load_file(tmp_path / "whole.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert whole.keys() == resumed.keys()
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), name
