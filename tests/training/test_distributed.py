"""Training on two processes (gloo, on the CPU) is the training of one process.

One step of every phase of every built-in method on 2 processes x B/2 images
gives the weights of one process on B (float rounding); a short run on two
processes follows the loss curve of one with the same global batch; through the
CLI (`colorbench run --nproc 2`, torchrun) only rank 0 writes, a killed process
ends the run in one line with a resumable state, and the resumed run ends with
the weights of one never interrupted.

Noise is fixed where a method draws it inside a step (bottleneck vectors,
dropout masks, noise on D's input, SAGAN's uniform z): each process draws its
own from its own stream, so the noise of image i of the batch depends on how
the batch is split; with it fixed, what is left is the arithmetic. The step is
compared in float64: in float32 the rounding of a batch's statistics, summed in
another order, grows through a deep stack of batch norms on 2-image shards to
0.1 % of a gradient, and Adam turns the rounding of a gradient that is zero (a
bias before batch norm) into a whole step of either sign; in float64 both stay
near 1e-13, so a tolerance of 1e-9 leaves no room for a real difference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from rich.console import Console

from colorbench import plugins
from colorbench.lab import rgb_to_normalized
from colorbench.training import distributed, trainer as training

SIZE, BATCH = 16, 4
QUIET = Console(quiet=True)
NOISE_FREE = {"z_dim": 0, "dropout": 0.0, "d_input_noise": 0.0, "critic_dropout": 0.0}
"""Settings that draw noise inside a training step, set so that none is drawn."""

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


def _trainable_methods() -> list[str]:
    names = []
    for name, cls in sorted(plugins.colorizers().items()):
        if cls.from_profile("smoke", size=SIZE).trainable:
            names.append(name)
    return names


@contextlib.contextmanager
def _noise_fixed():
    """SAGAN's z (uniform noise joined to L) has no setting that turns it off: zero.
    (And the colour histograms, counted in float32 whatever the input, given in
    the input's type for the comparison in float64.)"""
    from colorbench.methods import histograms
    from colorbench_plugins import class_histogram_gan, histogram_cgan, sagan

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sagan, "uniform_noise", lambda L, generator=None: torch.zeros_like(L))
        for module in (class_histogram_gan, histogram_cgan):
            patch.setattr(module, "ab_histogram", lambda ab, bins: histograms.ab_histogram(ab.float(), bins).to(ab.dtype))
        yield


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _one_step(name: str, shard: tuple[int, int]) -> dict[str, torch.Tensor]:
    """One step of each of ``name``'s phases on positions [shard) of a fixed batch;
    after it: the weights and buffers, each weight's gradient (of the last update
    that reached it), and the optimisers' state (Adam's moments: the gradients
    each optimiser stepped with)."""
    cls = plugins.get_colorizer(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    training.seed_everything(0)
    colorizer = cls.from_profile("smoke", size=SIZE, **{k: v for k, v in NOISE_FREE.items() if k in fields})
    colorizer.nets.train()
    colorizer.prepare_training(list(_images(16, 1)))
    for module in [colorizer.nets, *(v for v in vars(colorizer).values() if isinstance(v, torch.nn.Module))]:
        module.double()  # its networks and its loss networks (VGG)
    trainer = training.Trainer(colorizer, world=distributed.world())
    L, ab = rgb_to_normalized(_images(BATCH, 2)[shard[0] : shard[1]].double())
    with _noise_fixed(), trainer.wrapped():
        for phase in colorizer.phases():
            if phase.steps > 0:
                trainer.step(phase, L, ab)
    state = {k: v.detach().clone() for k, v in colorizer.nets.state_dict().items()}
    state |= {f"{k}.grad": p.grad.clone() for k, p in colorizer.nets.named_parameters() if p.grad is not None}
    for opt_name, opt in trainer.optimizers.items():
        for i, per_weight in opt.state_dict()["state"].items():
            state |= {f"optimizer {opt_name}.{i}.{k}": v.clone() for k, v in per_weight.items() if isinstance(v, torch.Tensor)}
    return state


def _join(rank: int, port: int) -> None:
    """This spawned process as rank ``rank`` of 2, as torchrun would start it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    distributed.init(torch.device("cpu"))


CURVE_METHOD = "pretrained_g_gan"  # noise-free; two phases, three optimisers' worth of updates, held-out selection


def _curve(workers: int) -> tuple[list[dict], dict, dict]:
    """A smoke training of `CURVE_METHOD` on the built-in photos: the loss terms of
    every step, what the result records, and the weights after."""
    from colorbench.data import datasets

    curve, step = [], training.Trainer.step

    def recorded(self, *args):
        curve.append(step(self, *args))
        return curve[-1]

    training.Trainer.step = recorded
    try:
        training.seed_everything(0)
        colorizer = plugins.get_colorizer(CURVE_METHOD).from_profile("smoke", size=SIZE)
        data = datasets.load("builtin", size=SIZE, seed=0)
        log = training.train(colorizer, data, seed=0, console=QUIET, workers=workers)
    finally:
        training.Trainer.step = step
    return curve, log, {k: v.clone() for k, v in colorizer.nets.state_dict().items()}


def _worker(rank: int, port: int, out: str, names: list[str]) -> None:
    """Rank ``rank`` of 2: one step of each method, then the short training."""
    _join(rank, port)
    for name in names:
        torch.save(_one_step(name, distributed.shard(BATCH)), Path(out) / f"{name}.{rank}.pt")
    torch.save(_curve(workers=0), Path(out) / f"curve.{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(worker, *args) -> None:
    mp.start_processes(worker, args=(_free_port(), *args), nprocs=2, start_method="spawn", join=True)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """What the two processes of `_worker` saved (one start for both tests: each
    process imports torch and loads VGG), and the methods it stepped."""
    out, names = tmp_path_factory.mktemp("ranks"), _trainable_methods()
    _spawn(_worker, str(out), names)
    return out, names


def test_one_step_on_two_processes_is_one_step_on_one_for_every_method(two_processes):
    tmp_path, names = two_processes
    assert {"unet_cgan", "sagan", "perceptual_cnn", "pretrained_g_gan", "class_histogram_gan"} <= set(names)
    for name in names:
        one, initial = _one_step(name, (0, BATCH)), _initial(name)
        ranks = [torch.load(tmp_path / f"{name}.{r}.pt") for r in range(2)]
        assert ranks[0].keys() == one.keys() and any(k.endswith(".grad") for k in one), name
        for key, value in one.items():
            assert torch.equal(ranks[0][key], ranks[1][key]), f"{name}: {key} differs between the two processes"
            if not value.is_floating_point() or value.ndim == 0:  # a count of batches or of steps
                assert torch.equal(ranks[0][key], value), f"{name}: {key}"
                continue
            scale = max(v.abs().max().item() for k, v in one.items() if _kind(k) == _kind(key))  # a gradient before batch norm is ~0
            torch.testing.assert_close(ranks[0][key], value, rtol=1e-9, atol=1e-9 * scale, msg=lambda m: f"{name}: {key}: {m}")
        moved = [k for k, v in initial.items() if v.is_floating_point() and not torch.equal(v.double(), one[k])]
        assert moved, f"{name}: the step changed no weight, so the comparison shows nothing"


def _kind(key: str) -> str:
    """What a key of `_one_step` holds: "weight" (or buffer), "grad", or an optimiser's "exp_avg"..."""
    return key.rsplit(".", 1)[-1] if key.startswith("optimizer ") or key.endswith(".grad") else "weight"


def test_a_short_run_on_two_processes_follows_the_loss_curve_of_one(two_processes):
    """The same global batch of 4: 2 x 2 images on two processes, 4 on one (with a
    worker, whose crops are seeded per item as on several processes)."""
    tmp_path, _ = two_processes
    (curve, log, weights), (curve_1, log_1, weights_1) = (torch.load(tmp_path / f"curve.{r}.pt") for r in range(2))
    one_curve, one_log, one_weights = _curve(workers=1)
    assert len(curve) == len(one_curve) == 6 and curve == curve_1  # every rank logs the whole batch's losses
    for step, (two, one) in enumerate(zip(curve, one_curve)):
        assert two.keys() == one.keys()
        for term in one:
            assert two[term] == pytest.approx(one[term], rel=1e-3, abs=1e-5), f"step {step}: {term}"
    assert all(torch.equal(weights[k], weights_1[k]) for k in weights)
    for key, value in one_weights.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-3, atol=1e-4, msg=lambda m: f"{key}: {m}")
    assert log["world_size"] == 2 and log["backend"] == "gloo" and log["batch_per_process"] == 2 and one_log["world_size"] == 1
    assert log["images_seen"] == one_log["images_seen"] == 6 * 4
    assert log["loader"]["crops"] == one_log["loader"]["crops"] == "seeded per item"
    evaluated, one_evaluated = log["selection"]["evaluated"], one_log["selection"]["evaluated"]
    assert [s for s, _ in evaluated] == [s for s, _ in one_evaluated] == [3, 5, 6]
    assert [v for _, v in evaluated] == pytest.approx([v for _, v in one_evaluated], rel=1e-3)
    assert log["selection"]["step"] == one_log["selection"]["step"]


_initial_cache: dict = {}


def _initial(name: str) -> dict:
    if name not in _initial_cache:
        cls = plugins.get_colorizer(name)
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        training.seed_everything(0)
        colorizer = cls.from_profile("smoke", size=SIZE, **{k: v for k, v in NOISE_FREE.items() if k in fields})
        _initial_cache[name] = {k: v.clone() for k, v in colorizer.nets.state_dict().items()}
    return _initial_cache[name]


# ------------------------------------------------------------------ through the CLI and torchrun
RUN = [
    sys.executable, "-m", "colorbench", "run", "--plugin", "unet_cgan", "--profile", "smoke", "--size", str(SIZE), "--nproc", "2",
    "--metrics", "psnr", "--no-baseline", "--set", "ngf=4", "--set", "ndf=4", "--set", "steps=60", "--checkpoint-every", "2",
]


def _rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((int(v[5:]) for v in environ if v.startswith(b"RANK=")), None)


def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found += children.get(todo.pop(), [])
        todo += [c for c in children.get(found[-1], []) if c not in found] if found else []
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the processes through /proc")
def test_a_killed_process_ends_the_run_in_one_line_and_resume_finishes_it_exactly(tmp_path):
    out = tmp_path / "out"
    run = [*RUN, "--out", str(out)]
    started = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "checkpoints").glob("*-training.json")) and started.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    rank_1 = [pid for pid in _descendants(started.pid) if _rank_of(pid) == 1]
    assert rank_1, "no process of rank 1 found while it trains"
    os.kill(rank_1[0], signal.SIGKILL)
    stdout, stderr = started.communicate(timeout=120)
    errors = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert started.returncode == 1 and stdout == ""
    assert errors == ["Error: process 1 of 2 was killed by SIGKILL, and the run stopped: run the same command with --resume to continue "
                      "from its last saved training state (saved every --checkpoint-every steps, by default every 10 minutes)"], stderr
    (state,) = (out / "checkpoints").glob("*-training.json")
    assert not list(out.glob("*.json"))  # no result

    resumed = subprocess.run([*run, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("resuming unet_cgan at step") == 1 and resumed.stderr.count("training items") == 1  # rank 0 alone speaks
    assert resumed.stdout.count("result: ") == 1 and resumed.stdout.count("PSNR") == 1
    (result,) = out.glob("*.json")  # rank 0 alone writes: one result, one checkpoint, its samples; no training state left
    assert result.stem == state.name.removesuffix("-training.json")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"{result.stem}.json", f"{result.stem}.safetensors"]
    assert len(list((out / "samples").iterdir())) == 2
    record = json.loads(result.read_text())
    assert record["training"]["world_size"] == 2 and record["training"]["steps"] == 60 and record["training"]["backend"] == "gloo"

    # exactly where it stopped: every rank's RNGs (its dropout masks) are in the saved state
    whole = subprocess.run([*run[:-2], "--out", str(tmp_path / "whole"), "--json"], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    assert json.loads(whole.stdout)["results"][0]["checkpoint"]["sha256"] == record["checkpoint"]["sha256"]


# ------------------------------------------------------------------ settings refused before anything starts
def test_a_batch_that_does_not_split_evenly_is_refused_before_training(monkeypatch):
    from colorbench import runner
    from colorbench.data import datasets
    from colorbench.errors import UsageError
    from colorbench.run_settings import RunSettings

    monkeypatch.setenv("WORLD_SIZE", "2")
    data = datasets.load("builtin", size=SIZE, seed=0)
    cls = plugins.get_colorizer("unet_cgan")
    runner.check(cls, data, RunSettings(profile="smoke", overrides={"batch_size": 4, "ngf": 4, "ndf": 4}))  # 2 x 2
    with pytest.raises(UsageError, match=r"batch_size 3 \(profile smoke\) does not split evenly over 2 processes: it is the global batch"):
        runner.check(cls, data, RunSettings(profile="smoke", overrides={"batch_size": 3, "ngf": 4, "ndf": 4}))
    assert distributed.shard(4) == (0, 2)
    monkeypatch.setenv("RANK", "1")
    assert distributed.shard(4) == (2, 4)


def test_each_process_takes_its_own_gpu_and_no_other_device(monkeypatch):
    from colorbench.errors import UsageError

    assert distributed.device_for(torch.device("mps")) == torch.device("mps")  # one process: as asked
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.device_for(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(UsageError, match="CUDA GPUs .NCCL. or on the CPU .gloo., not on mps"):
        distributed.device_for(torch.device("mps"))
    with pytest.raises(UsageError, match="each takes its own GPU .cuda:LOCAL_RANK.; pass --device cuda"):
        distributed.device_for(torch.device("cuda", 1))


def test_nproc_is_what_the_launcher_alone_sees(cli, monkeypatch):
    assert distributed.strip_nproc(["run", "--nproc", "2", "--plugin", "x", "--nproc=3", "--seed", "1"]) == ["run", "--plugin", "x", "--seed", "1"]
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "r")  # started by torchrun
    result = cli("run", "--plugin", "unet_cgan", "--nproc", "2")
    assert result.exit_code == 2 and "was started by torchrun already: leave --nproc out" in result.output
