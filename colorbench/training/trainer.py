"""The core's training: a `Trainer` owns the optimisation, `train` runs a method's phases.

A method declares networks, optimisers (and schedulers) and, per phase, the
updates of one step (`colorbench.methods.colorizer.Phase`); the Trainer does
zero_grad, backward, clipping, the optimiser and scheduler steps, mixed
precision, the non-finite rollback, held-out model selection for a method that
asks for it (`selection`), the progress bar, and saves and restores everything an
exact resume needs. Under torchrun it trains on every process, each on its shard
of the batch (`distributed`); channels-last and torch.compile are opt-in.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from colorbench.data.datasets import Dataset
from colorbench.lab import rgb_to_normalized
from colorbench.methods.colorizer import Colorizer, Phase
from colorbench.errors import UserError
from colorbench.training import distributed
from colorbench.training import selection as model_selection
from colorbench.training import state_dicts
from colorbench.training.batches import derived_seed, loader

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Autocast's type for each ``precision``; fp32 runs without autocast."""
_RANK_NOISE = 2**40 + 4  # the key of a rank's noise seed (`derived_seed`): ranks draw apart


def seed_everything(seed: int) -> None:
    """One seed for weights, noise and crops: a CPU run is then repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class NonFinite(Exception):
    """A loss, gradient or weight that is NaN or infinite: the step must not count."""


def _value(term) -> float:
    return term.item() if isinstance(term, torch.Tensor) else float(term)


def _copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_copy(v) for v in obj]
    return obj


class Trainer:
    """The optimisation of one method's training: its optimisers, schedulers and
    (fp16) gradient scaler, made from what the method declares.

    ``precision``: fp32 (no autocast), bf16 or fp16 (autocast on the method's
    device; fp16 with a GradScaler, on CUDA and the CPU). ``clip_grad_norm``: the largest
    gradient norm of each optimiser's weights at its step (None: no clipping).
    ``loader``: "main" or "workers", how the batches are made (`batches`),
    recorded in the training state so a resume makes them the same way.
    ``selection``: the run's held-out model selection, saved and restored with
    the rest (None: the method selects no model). ``channels_last`` and
    ``compile``: see `wrapped`. ``world``: the processes that train together
    (`distributed.world()` under torchrun; by default this one alone)."""

    def __init__(
        self, colorizer: Colorizer, *, precision: str = "fp32", clip_grad_norm: float | None = None, loader: str = "main",
        selection: model_selection.Selection | None = None, channels_last: bool = False, compile: bool = False,
        world: distributed.World = distributed.World(),
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
        model_selection.every(colorizer)  # a select_every it cannot select by: said now
        self.colorizer, self.device = colorizer, colorizer.device
        self.precision, self.clip_grad_norm, self.loader = precision, clip_grad_norm, loader
        self.selection = selection
        self.channels_last, self.compile = channels_last, compile
        self.world = world
        self._wrapping: distributed.Wrapping | None = None
        self.optimizers = dict(colorizer.optimizers())
        self.schedulers = dict(colorizer.schedulers(self.optimizers))
        if unknown := sorted(set(self.schedulers) - set(self.optimizers)):
            raise ValueError(f"schedulers for no optimiser: {', '.join(unknown)} (optimisers: {', '.join(self.optimizers)})")
        for phase in colorizer.phases():  # a name no optimiser has: said now, not at its phase's first step
            for update in phase.updates:
                self._optimizer(update.optimizer)
        scaled = precision == "fp16" and self.device.type in ("cuda", "cpu")  # fp16's gradients underflow unscaled
        self.scaler = torch.amp.GradScaler(self.device.type) if scaled else None

    @property
    def nets(self) -> torch.nn.ModuleDict:
        """The method's networks as it built them, whatever wraps them for training:
        what states are captured from and restored to."""
        return self._wrapping.plain() if self._wrapping else self.colorizer.nets

    @contextlib.contextmanager
    def wrapped(self):
        """The networks ready for fast training, replacing ``nets[name]`` until the
        block ends: with ``channels_last``, in that memory format (conv nets on
        CUDA run faster); on several processes, batch norm synchronised and each
        trained network in DistributedDataParallel; with ``compile``, compiled
        (`distributed.Wrapping`). Then they are put back as they were built."""
        nets = self.colorizer.nets
        if self.channels_last:
            nets.to(memory_format=torch.channels_last)
        self._wrapping = distributed.Wrapping(nets, self.device, distributed=self.world.distributed, compile=self.compile)
        try:
            yield
        finally:
            self._wrapping.undo()
            self._wrapping = None
            if self.channels_last:  # evaluation and checkpoints as without it
                nets.to(memory_format=torch.contiguous_format)

    @contextlib.contextmanager
    def bare(self):
        """The networks as built within a `wrapped` block (held-out evaluation: no
        gradients, no synchronisation, on every rank alike)."""
        wrapped = dict(self.colorizer.nets.items())
        for name, module in self.nets.items():
            self.colorizer.nets[name] = module
        try:
            yield
        finally:
            for name, module in wrapped.items():
                self.colorizer.nets[name] = module

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    def _optimizer(self, name: str | None) -> tuple[str, torch.optim.Optimizer]:
        if name is None:
            if len(self.optimizers) != 1:
                raise ValueError(f"{self.colorizer.name}: an update without an optimiser's name needs exactly one optimiser, not {len(self.optimizers)}")
            name = next(iter(self.optimizers))
        if name not in self.optimizers:
            raise ValueError(f"{self.colorizer.name}: no optimiser {name!r} (its optimisers: {', '.join(self.optimizers)})")
        return name, self.optimizers[name]

    # ------------------------------------------------------------ one step
    def step(self, phase: Phase, L: torch.Tensor, ab: torch.Tensor) -> dict[str, float]:
        """One training step of ``phase`` on a batch: the shared forward, then each
        update's loss, zero_grad, backward, (clipping,) optimiser and scheduler step.
        Returns the logged terms; raises `NonFinite` for a gradient, loss or weight
        that is not finite (a gradient before its step changes any weight)."""
        with self._autocast():
            batch = {"L": L, "ab": ab, **(phase.shared(L, ab) if phase.shared else {})}
        terms = {}
        for update in phase.updates:
            name, optimizer = self._optimizer(update.optimizer)
            with self._autocast():
                out = update.loss(**batch)
            loss, named = out if isinstance(out, tuple) else (out, {"loss": out})
            optimizer.zero_grad(set_to_none=True)
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            self._optimizer_step(optimizer)
            if name in self.schedulers:
                self.schedulers[name].step()
            terms.update(named)
        losses = {k: _value(v) for k, v in terms.items()}
        if self.world.distributed:  # the whole batch's
            losses = distributed.mean(losses)
        if not all(math.isfinite(v) for v in losses.values()):
            raise NonFinite(f"non-finite loss {losses}")
        if not all(torch.isfinite(p).all() for p in self.nets.parameters()):
            raise NonFinite("non-finite weight")
        return losses

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if self.scaler is not None:  # it skips a step with inf gradients and lowers its scale: fp16's normal overflow
            if self.clip_grad_norm is not None:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        if not all(torch.isfinite(p.grad).all() for p in params):
            raise NonFinite("non-finite gradient")
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        optimizer.step()

    # ------------------------------------------------------------ divergence
    def halve_learning_rates(self, times: int) -> None:
        """Halve every learning rate ``times`` times, the schedulers' base rates too
        (else the next scheduler step would undo it)."""
        factor = 0.5**times
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= factor
        for scheduler in self.schedulers.values():
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]

    # ------------------------------------------------------------ state
    def capture(self, step: int, remedies: list) -> dict:
        """Everything resume needs, copied: weights, optimisers, schedulers, the
        scaler, every RNG, the step and the rollbacks so far. On several processes
        (every rank calls it at the same step) also their number and every rank's
        RNGs (``rng`` is this rank's)."""
        numpy_state, python_state = np.random.get_state(), random.getstate()
        state = {
            "step": step,
            "remedies": remedies,
            "loader": self.loader,
            "nets": self.nets.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
                "python": [python_state[0], list(python_state[1]), python_state[2]],
            },
            **({"selection": self.selection.state()} if self.selection else {}),
        }
        if self.world.distributed:
            state["world_size"] = self.world.size
            state["ranks_rng"] = distributed.gathered(_copy(state["rng"]))
        return _copy(state)

    def restore(self, state: dict) -> None:
        """Put ``state`` in place (this rank's RNGs, on several processes)."""
        self.nets.load_state_dict(state["nets"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        rng = state["ranks_rng"][self.world.rank] if self.world.distributed else state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"]:
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state((rng["numpy"][0], np.array(rng["numpy"][1], dtype=np.uint32), *rng["numpy"][2:]))
        random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
        if self.selection:
            self.selection.restore(state["selection"])

    def check_state(self, state: dict, total: int) -> None:
        """Raise ValueError ("field: what is wrong") unless a saved training state fits
        this training as set up, so that `restore` cannot fail half-way or restore what
        would fail at a later step: a step of this run, the way batches are made, the
        network's own weights (names, shapes, types, finite), each optimiser's groups
        and per-weight state, the schedulers' and scaler's settings, RNG states
        the generators accept, and the held-out selection's, if any."""
        colorizer = self.colorizer
        step = state.get("step")
        if type(step) is not int or not 0 <= step < total:
            raise ValueError(f"step: {step!r} is not a step of this run (0 to {total - 1})")
        remedies = state.get("remedies")
        if not isinstance(remedies, list) or len(remedies) > MAX_REMEDIES or not all(isinstance(r, dict) for r in remedies):
            raise ValueError(f"remedies: not a list of at most {MAX_REMEDIES} rollbacks")
        if state.get("world_size", 1) != self.world.size:
            raise ValueError(
                f"world_size: it was trained on {state.get('world_size', 1)!r} process(es), this run has {self.world.size}; "
                "resume it on as many (torchrun --nproc_per_node, or --nproc)"
            )
        if state.get("loader") != self.loader:
            made = {
                "main": "in the main process (workers 0)",
                "workers": "in worker processes (workers 1 or more), or each seeded on several processes",
            }
            raise ValueError(
                f"loader: {state.get('loader')!r}: its batches were made {made.get(state.get('loader'), 'some other way')}, "
                f"this run's {made[self.loader]}; resume as it was started"
            )
        nets = state.get("nets")
        if not isinstance(nets, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in nets.items()):
            raise ValueError("nets: not a set of weights")
        if problems := state_dicts.differences(self.nets.state_dict(), nets):
            raise ValueError(f"nets: weights {'; '.join(problems)}")
        _check_finite("nets", nets)
        saved, own = state.get("optimizers"), self.optimizers
        if not isinstance(saved, dict) or not all(isinstance(k, str) for k in saved) or sorted(saved) != sorted(own):
            raise ValueError(f"optimizers: not those of {colorizer.name} ({', '.join(own) or 'none'})")
        for name, opt in own.items():
            _check_optimizer(f"optimizers.{name}", opt, saved[name])
        saved = state.get("schedulers")
        if not isinstance(saved, dict) or sorted(saved, key=str) != sorted(self.schedulers):
            raise ValueError(f"schedulers: not those of {colorizer.name} ({', '.join(self.schedulers) or 'none'})")
        for name, scheduler in self.schedulers.items():
            _check_settings(f"schedulers.{name}", scheduler.state_dict(), saved[name])
        _check_settings("scaler", self.scaler.state_dict() if self.scaler else {}, state.get("scaler"))
        _check_rng("rng", state.get("rng"))
        if self.world.distributed:
            ranks = state.get("ranks_rng")
            if not isinstance(ranks, list) or len(ranks) != self.world.size:
                raise ValueError(f"ranks_rng: not the generator states of {self.world.size} processes")
            for rank, rng in enumerate(ranks):
                _check_rng(f"ranks_rng.{rank}", rng)
        if ("selection" in state) != (self.selection is not None):
            raise ValueError("selection: " + ("held by a run that selected its model, and this one does not" if self.selection is None else "missing"))
        if self.selection:
            self.selection.check_state(state["selection"])


def _check_rng(where: str, rng) -> None:
    if not isinstance(rng, dict):
        raise ValueError(f"{where}: not a set of generator states")
    try:  # each tried on a generator of its own: the process's are set by `restore` alone
        torch.Generator().set_state(rng.get("torch"))
        np.random.RandomState().set_state((rng["numpy"][0], np.array(rng["numpy"][1], dtype=np.uint32), *rng["numpy"][2:]))
        random.Random().setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as e:
        raise ValueError(f"{where}: not a generator's state ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})") from None
    if not isinstance(rng.get("cuda"), list) or not all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in rng["cuda"]):
        raise ValueError(f"{where}.cuda: not a list of CUDA generator states")


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


def _check_settings(where: str, own: dict, saved) -> None:
    """A scheduler's or scaler's saved state: the same keys as its own, each a value
    of the same kind (`load_state_dict` would take anything, to fail at a later step)."""
    if not isinstance(saved, dict) or sorted(saved, key=str) != sorted(own):
        raise ValueError(f"{where}: not its state ({', '.join(own) or 'none'})")
    for key, value in own.items():
        if not _same_kind(value, saved[key]):
            raise ValueError(f"{where}.{key}: {saved[key]!r} is not a {type(value).__name__}")


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
    workers: int = 0,
    precision: str = "fp32",
    clip_grad_norm: float | None = None,
    channels_last: bool = False,
    compile: bool = False,
) -> dict:
    """Run the colourizer's training phases in order; returns what the result records.

    With ``state_path``, the full training state (and the ``run`` record naming
    the run it belongs to) is written there every ``checkpoint_every`` steps, or
    every `CHECKPOINT_SECONDS` when that is 0, atomically; ``resume`` continues
    from it, and it is removed when training ends. A non-finite loss, gradient or
    weight rolls back to the last good state (see `MAX_REMEDIES`).

    ``workers``: 0 makes each batch in this process just before its step, its
    crops from the global RNG (colorbench's numbers); 1 or more makes batches in
    that many worker processes, each item's crop seeded from (seed, step,
    position): other numbers than with 0, the same for any count of workers.
    ``precision``, ``clip_grad_norm``, ``channels_last`` and ``compile``: see `Trainer`.

    Under torchrun with several processes (`distributed`), every process runs this
    together: each trains on its shard of every batch (items seeded as with
    workers), draws its noise from its own stream (seeded from the seed and its
    rank), and logs the whole batch's losses; rank 0 alone shows progress and
    writes the training state, which holds every rank's RNGs.

    A method whose config has ``select_every`` > 0 trains on all but the held-out
    training images and ends with the model that did best on them
    (`colorbench.training.selection`); what is returned then says which."""
    from colorbench.training import checkpoints

    phases = colorizer.phases()
    if not colorizer.trainable:
        return {"status": "ok", "steps": 0, "images_seen": 0, "seconds": 0.0, "phases": []}
    device = colorizer.device
    world = distributed.world()
    if world.distributed:
        distributed.init(device)
    if not world.main:
        console = Console(quiet=True)  # rank 0 reports
    shard = distributed.shard(colorizer.config.batch_size) if world.distributed else None
    seeded = workers > 0 or world.distributed
    colorizer.nets.train()
    selection = model_selection.Selection(colorizer, data, seed) if model_selection.every(colorizer) else None
    train_items = selection.train if selection else data.train
    colorizer.prepare_training(train_items)
    trainer = Trainer(
        colorizer, precision=precision, clip_grad_norm=clip_grad_norm, loader="workers" if seeded else "main", selection=selection,
        channels_last=channels_last, compile=compile, world=world,
    )
    if world.rank > 0:  # each rank its own noise (rank 0's stream is a single process's)
        seed_everything(derived_seed(seed, _RANK_NOISE, world.rank) % 2**32)
    total = sum(p.steps for p in phases)
    bounds = [sum(p.steps for p in phases[:i]) for i in range(len(phases) + 1)]  # phase i: [bounds[i], bounds[i+1])

    step, remedies = 0, []
    saved = _saved_state(trainer, state_path, total, colorizer.name) if resume and state_path is not None else None
    if saved is not None:
        trainer.restore(saved)
        step, remedies = saved["step"], saved["remedies"]
        console.print(f"resuming {colorizer.name} at step {step} of {total} from {state_path}", highlight=False)
    good = trainer.capture(step, remedies)  # what a divergence rolls back to

    def batches_from(start: int):
        return iter(loader(
            train_items, batch_size=colorizer.config.batch_size, seed=seed, start=start, total=total, workers=workers, shard=shard,
        ))

    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}  {task.fields[speed]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console,
    )
    tasks, losses_of, seconds_of = {}, {}, {}
    images, start, diverged = 0, time.perf_counter(), None
    last_saved = start
    batches = batches_from(step)
    with progress, trainer.wrapped():
        for i, phase in enumerate(phases):
            done = min(max(step - bounds[i], 0), phase.steps)
            tasks[i] = progress.add_task(f"{colorizer.name} {phase.name}", total=phase.steps, completed=done, losses="", speed="")
        while step < total:
            i = next(k for k in range(len(phases)) if bounds[k] <= step < bounds[k + 1])
            t0 = time.perf_counter()
            rgb = next(batches)
            L, ab = rgb_to_normalized(rgb.to(device, non_blocking=True))
            if channels_last:
                L, ab = L.contiguous(memory_format=torch.channels_last), ab.contiguous(memory_format=torch.channels_last)
            try:
                losses = trainer.step(phases[i], L, ab)
            except NonFinite as e:
                remedies.append({"step": step, "phase": phases[i].name, "reason": str(e)})
                if len(remedies) > MAX_REMEDIES:
                    diverged = {"step": step, "phase": phases[i].name, "reason": str(e)}
                    break
                trainer.restore(good)
                trainer.halve_learning_rates(len(remedies) - len(good["remedies"]))
                step = good["step"]
                batches = batches_from(step)
                console.print(Text.assemble(("warning:", "yellow"), f" {e} at step {remedies[-1]['step']}: rolled back to step {step}, learning rates halved"), highlight=False)
                progress.update(tasks[i], completed=max(step - bounds[i], 0))
                continue
            except Exception as e:
                if compile and distributed.compile_failure(e):
                    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                    raise UserError(f"--compile: torch.compile failed on {colorizer.name} ({type(e).__name__}: {first}); run without --compile") from e
                raise
            step += 1
            images += len(rgb) * world.size
            seconds_of[i] = seconds_of.get(i, 0.0) + time.perf_counter() - t0
            losses_of[i] = losses
            rate = images / (time.perf_counter() - start)
            progress.update(tasks[i], advance=1, losses="  ".join(f"{k} {v:.3f}" for k, v in losses.items()), speed=f"{rate:.0f} img/s")
            if selection and selection.due(phases[i], step - bounds[i]):
                with trainer.bare():  # every rank alike: the same weights, the same held-out items
                    selection.evaluate(step)
            due = step % checkpoint_every == 0 if checkpoint_every else time.perf_counter() - last_saved >= CHECKPOINT_SECONDS
            if world.distributed and not checkpoint_every:
                due = distributed.from_main(due)  # rank 0's clock: every rank captures at the same step
            if due and step < total:
                good = trainer.capture(step, remedies)
                if state_path is not None and world.main:
                    checkpoints.write_training_state(state_path, {**good, "run": run or {}})
                last_saved = time.perf_counter()
    del batches  # its worker processes, if any, end here
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if diverged is not None:
        trainer.restore(good)  # leave the last good weights in place, never NaN ones
    else:
        if selection and selection.best:
            selection.finish()
            console.print(
                f"{colorizer.name}: kept the model of step {selection.best['step']} of {total}, the lowest held-out loss: "
                f"{selection.best['value']:.4g} over {len(selection.held_out)} items", highlight=False,
            )
        if state_path is not None and world.main:
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
        "loader": {"workers": workers, "crops": "seeded per item" if seeded else "global RNG"},
        "precision": precision,
        "channels_last": channels_last,
        "compile": compile,
        "world_size": world.size,
        **({"backend": distributed.backend(), "batch_per_process": colorizer.config.batch_size // world.size} if world.distributed else {}),
        **({"selection": selection.record()} if selection else {}),
    }


def _saved_state(trainer: Trainer, state_path: Path, total: int, name: str) -> dict | None:
    """The training state to resume from, checked against this training (None:
    none saved). On several processes rank 0 reads it and hands it to the others,
    whose disks need not hold it; every rank waits here for every other."""
    from colorbench.training import checkpoints

    found = None
    if trainer.world.main and checkpoints.training_state_json(state_path).is_file():
        try:
            saved = checkpoints.read_training_state(state_path)
            trainer.check_state(saved, total)
            found = ("state", saved)
        except ValueError as e:
            found = ("error", checkpoints.unusable_state(checkpoints.training_state_json(state_path), f"it does not fit {name} as configured ({e})"))
        except UserError as e:
            found = ("error", e)
    found = distributed.from_main(found)
    if found is None:
        return None
    if found[0] == "error":
        raise found[1] from None
    return found[1]
