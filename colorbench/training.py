"""The training loop every method shares: batches in Lab, steps, a progress bar."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from colorbench.colorizer import Colorizer
from colorbench.datasets import Dataset
from colorbench.lab import rgb_to_normalized


def seed_everything(seed: int) -> None:
    """One seed for weights, noise and crops: a CPU run is then repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class NonFinite(Exception):
    """A loss, gradient or weight that is NaN or infinite: the step must not count."""


def batch_at(dataset, batch_size: int, seed: int, step: int, _orders: dict = {}) -> torch.Tensor:
    """The batch of a given global step: each epoch's order comes from its own seeded
    generator, so a resumed run draws exactly the batches it would have drawn."""
    n = len(dataset)
    per_epoch = max(1, n // batch_size)
    epoch, offset = divmod(step, per_epoch)
    key = (id(dataset), n, seed, epoch)
    if key not in _orders:
        _orders.clear()
        _orders[key] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    indices = _orders[key][offset * batch_size : (offset + 1) * batch_size]
    return torch.stack([dataset[int(i)] for i in indices])


# ------------------------------------------------------------------ state
def optimizers(colorizer: Colorizer) -> dict[str, torch.optim.Optimizer]:
    """The optimisers a method made in `setup_training` (any attribute that is one)."""
    return {k: v for k, v in sorted(vars(colorizer).items()) if isinstance(v, torch.optim.Optimizer)}


def capture(colorizer: Colorizer, step: int, remedies: list) -> dict:
    numpy_state, python_state = np.random.get_state(), random.getstate()
    state = {
        "step": step,
        "remedies": remedies,
        "nets": colorizer.nets.state_dict(),
        "optimizers": {k: opt.state_dict() for k, opt in optimizers(colorizer).items()},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
            "python": [python_state[0], list(python_state[1]), python_state[2]],
        },
    }
    return _copy(state)


def _copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_copy(v) for v in obj]
    return obj


def restore(colorizer: Colorizer, state: dict) -> None:
    colorizer.nets.load_state_dict(state["nets"])
    for name, opt in optimizers(colorizer).items():
        opt.load_state_dict(state["optimizers"][name])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"]:
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state((rng["numpy"][0], np.array(rng["numpy"][1], dtype=np.uint32), *rng["numpy"][2:]))
    random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))


def _guard(colorizer: Colorizer) -> None:
    """Refuse any optimiser step whose gradients are not finite, before it changes a weight."""

    def check(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None and not torch.isfinite(p.grad).all():
                    raise NonFinite("non-finite gradient")

    for opt in optimizers(colorizer).values():
        opt.register_step_pre_hook(check)


# ------------------------------------------------------------------ the loop
CHECKPOINT_SECONDS = 600  # by default a crash loses at most ten minutes of training
MAX_REMEDIES = 3
"""Divergence remedy: roll back to the last good state and halve every learning
rate, at most this many times; then the run ends marked diverged."""


def train(
    colorizer: Colorizer,
    data: Dataset,
    *,
    seed: int,
    console: Console,
    state_path: Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    run: dict | None = None,
) -> dict:
    """Run the colourizer's training phases in order; returns what the result records.

    With ``state_path``, the full training state (and the ``run`` record naming
    the run it belongs to) is written there every ``checkpoint_every`` steps, or
    every `CHECKPOINT_SECONDS` when that is 0, atomically; ``resume`` continues
    from it, and it is removed when training ends. A non-finite loss, gradient or
    weight rolls back to the last good state (see `MAX_REMEDIES`)."""
    from colorbench import checkpoints

    phases = colorizer.phases()
    if not colorizer.trainable:
        return {"status": "ok", "steps": 0, "images_seen": 0, "seconds": 0.0, "phases": []}
    device = colorizer.device
    colorizer.nets.train()
    colorizer.setup_training()
    _guard(colorizer)
    total = sum(p.steps for p in phases)
    bounds = [sum(p.steps for p in phases[:i]) for i in range(len(phases) + 1)]  # phase i: [bounds[i], bounds[i+1])

    step, remedies = 0, []
    if resume and state_path is not None and checkpoints.training_state_json(state_path).is_file():
        saved = checkpoints.read_training_state(state_path)
        restore(colorizer, saved)
        step, remedies = saved["step"], saved["remedies"]
        console.print(f"resuming {colorizer.name} at step {step} of {total} from {state_path}", highlight=False)
    good = capture(colorizer, step, remedies)  # what a divergence rolls back to

    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}  {task.fields[speed]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console,
    )
    tasks, losses_of, seconds_of = {}, {}, {}
    images, start, diverged = 0, time.perf_counter(), None
    last_saved = start
    batch_size = colorizer.config.batch_size
    with progress:
        for i, phase in enumerate(phases):
            done = min(max(step - bounds[i], 0), phase.steps)
            tasks[i] = progress.add_task(f"{colorizer.name} {phase.name}", total=phase.steps, completed=done, losses="", speed="")
        while step < total:
            i = next(k for k in range(len(phases)) if bounds[k] <= step < bounds[k + 1])
            t0 = time.perf_counter()
            rgb = batch_at(data.train, batch_size, seed, step)
            L, ab = rgb_to_normalized(rgb.to(device, non_blocking=True))
            try:
                losses = phases[i].step(L, ab)
                if not all(math.isfinite(v) for v in losses.values()):
                    raise NonFinite(f"non-finite loss {losses}")
                if not all(torch.isfinite(p).all() for p in colorizer.nets.parameters()):
                    raise NonFinite("non-finite weight")
            except NonFinite as e:
                remedies.append({"step": step, "phase": phases[i].name, "reason": str(e)})
                if len(remedies) > MAX_REMEDIES:
                    diverged = {"step": step, "phase": phases[i].name, "reason": str(e)}
                    break
                restore(colorizer, good)
                for opt in optimizers(colorizer).values():
                    for group in opt.param_groups:
                        group["lr"] *= 0.5 ** (len(remedies) - len(good["remedies"]))
                step = good["step"]
                console.print(Text.assemble(("warning:", "yellow"), f" {e} at step {remedies[-1]['step']}: rolled back to step {step}, learning rates halved"), highlight=False)
                progress.update(tasks[i], completed=max(step - bounds[i], 0))
                continue
            step += 1
            images += len(rgb)
            seconds_of[i] = seconds_of.get(i, 0.0) + time.perf_counter() - t0
            losses_of[i] = losses
            rate = images / (time.perf_counter() - start)
            progress.update(tasks[i], advance=1, losses="  ".join(f"{k} {v:.3f}" for k, v in losses.items()), speed=f"{rate:.0f} img/s")
            due = step % checkpoint_every == 0 if checkpoint_every else time.perf_counter() - last_saved >= CHECKPOINT_SECONDS
            if due and step < total:
                good = capture(colorizer, step, remedies)
                if state_path is not None:
                    checkpoints.write_training_state(state_path, {**good, "run": run or {}})
                last_saved = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if diverged is not None:
        restore(colorizer, good)  # leave the last good weights in place, never NaN ones
    elif state_path is not None:
        checkpoints.remove_training_state(state_path)
    log = [
        {"name": p.name, "steps": p.steps, "seconds": round(seconds_of.get(i, 0.0), 3), "final_losses": losses_of.get(i, {})}
        for i, p in enumerate(phases)
    ]
    return {
        "status": "diverged" if diverged else "ok",
        "diverged": diverged,
        "remedies": remedies,
        "steps": step,
        "images_seen": images,
        "seconds": round(time.perf_counter() - start, 3),
        "phases": log,
    }
