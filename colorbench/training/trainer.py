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

from colorbench.training import state_dicts
from colorbench.methods.colorizer import Colorizer
from colorbench.data.datasets import Dataset
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


def check_state(colorizer: Colorizer, state: dict, total: int) -> None:
    """Raise ValueError ("field: what is wrong") unless a saved training state fits
    ``colorizer`` as built, so that `restore` cannot fail half-way or restore what
    would fail at a later step: a step of this run, the network's own weights
    (names, shapes, types, finite), each optimiser's groups and per-weight state,
    and RNG states the generators accept."""
    step = state.get("step")
    if type(step) is not int or not 0 <= step < total:
        raise ValueError(f"step: {step!r} is not a step of this run (0 to {total - 1})")
    remedies = state.get("remedies")
    if not isinstance(remedies, list) or len(remedies) > MAX_REMEDIES or not all(isinstance(r, dict) for r in remedies):
        raise ValueError(f"remedies: not a list of at most {MAX_REMEDIES} rollbacks")
    nets = state.get("nets")
    if not isinstance(nets, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in nets.items()):
        raise ValueError("nets: not a set of weights")
    if problems := state_dicts.differences(colorizer.nets.state_dict(), nets):
        raise ValueError(f"nets: weights {'; '.join(problems)}")
    _check_finite("nets", nets)
    saved, own = state.get("optimizers"), optimizers(colorizer)
    if not isinstance(saved, dict) or not all(isinstance(k, str) for k in saved) or sorted(saved) != sorted(own):
        raise ValueError(f"optimizers: not those of {colorizer.name} ({', '.join(own) or 'none'})")
    for name, opt in own.items():
        _check_optimizer(f"optimizers.{name}", opt, saved[name])
    rng = state.get("rng")
    if not isinstance(rng, dict):
        raise ValueError("rng: not a set of generator states")
    try:  # each tried on a generator of its own: the process's are set by `restore` alone
        torch.Generator().set_state(rng.get("torch"))
        np.random.RandomState().set_state((rng["numpy"][0], np.array(rng["numpy"][1], dtype=np.uint32), *rng["numpy"][2:]))
        random.Random().setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as e:
        raise ValueError(f"rng: not a generator's state ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})") from None
    if not isinstance(rng.get("cuda"), list) or not all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in rng["cuda"]):
        raise ValueError("rng.cuda: not a list of CUDA generator states")


def _check_finite(where: str, tensors: dict) -> None:
    if name := state_dicts.non_finite(tensors):
        raise ValueError(f"{where}.{name}: holds NaN or infinity")


def _check_optimizer(where: str, opt: torch.optim.Optimizer, saved) -> None:
    """What `Optimizer.load_state_dict` leaves to the first step: per-weight state
    (Adam's moments...) of the weight's shape, and finite."""
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) or not isinstance(saved.get("state"), dict):
        raise ValueError(f"{where}: not an optimiser's state")
    groups = [len(g["params"]) if isinstance(g, dict) and isinstance(g.get("params"), list) else None for g in saved["param_groups"]]
    if groups != [len(g["params"]) for g in opt.param_groups]:
        raise ValueError(f"{where}.param_groups: not this optimiser's groups of weights")
    for i, (own, theirs) in enumerate(zip(opt.param_groups, saved["param_groups"])):
        for key, value in own.items():  # lr, betas...: a value of the kind the optimiser takes
            if key != "params" and key in theirs and not _same_kind(value, theirs[key]):
                raise ValueError(f"{where}.param_groups.{i}.{key}: {theirs[key]!r} is not a {type(value).__name__}")
    params = [p for g in opt.param_groups for p in g["params"]]
    ids = [i for g in saved["param_groups"] for i in g["params"]]
    for key, per_weight in saved["state"].items():
        if key not in ids or not isinstance(per_weight, dict):
            raise ValueError(f"{where}.state.{key}: not one of its weights")
        param = params[ids.index(key)]
        for name, t in per_weight.items():
            if not (t is None or isinstance(t, torch.Tensor)):  # Adam's step too is a tensor: a number fails its first step
                raise ValueError(f"{where}.state.{key}.{name}: {t!r} is not a tensor")
            if isinstance(t, torch.Tensor) and t.ndim and t.shape != param.shape:
                raise ValueError(f"{where}.state.{key}.{name}: shape {list(t.shape)}, its weight's {list(param.shape)}")
        _check_finite(f"{where}.state.{key}", per_weight)


def _same_kind(own, saved) -> bool:
    """Whether a saved hyperparameter can stand for ``own`` (JSON made tuples lists)."""
    if isinstance(own, bool) or own is None or isinstance(own, str):
        return type(saved) is type(own)
    if isinstance(own, (int, float)):
        return isinstance(saved, (int, float)) and not isinstance(saved, bool) and math.isfinite(saved)
    if isinstance(own, (list, tuple)):
        return isinstance(saved, (list, tuple)) and len(saved) == len(own) and all(map(_same_kind, own, saved))
    return True  # a tensor or another type of the optimiser's own: load_state_dict's concern


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
    from colorbench.training import checkpoints

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
        try:
            check_state(colorizer, saved, total)
        except ValueError as e:
            raise checkpoints.unusable_state(
                checkpoints.training_state_json(state_path), f"it does not fit {colorizer.name} as configured ({e})"
            ) from None
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
