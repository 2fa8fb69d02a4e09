"""How fast a method is, measured the way timm's benchmark measures it.

Warm-up iterations first (not timed: allocator, cuDNN autotuning, lazy init),
then timed iterations, each closed by `torch.cuda.synchronize()` on a GPU so
the clock measures the work and not its queuing. Iterations are capped by a
small time budget so the measurement stays a few seconds inside every
`colorbench run` on a CPU.

- inference: images/s of ``colorize(L)`` (the method alone, at the working
  size) at a batch size;
- latency: p50 and p95 of one image at batch 1, in ms;
- training: images/s of the method's own training step, on a *deep copy* of
  the trained colourizer with fresh optimisers (its last training phase, one
  real training batch): the benchmarked weights are never trained further;
- parameters, FLOPs per image (`torch.utils.flop_counter.FlopCounterMode` on one
  prediction at batch 1: 2 per multiply-accumulate of convolutions and matrix
  products), and peak memory: CUDA's max allocated during inference on a GPU,
  the process's peak RSS on a CPU (the whole process, labelled so).
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from typing import Callable

import torch

WARMUP = {"cuda": 5}  # untimed iterations before each measurement, by device type
WARMUP_DEFAULT = 1  # a CPU has no autotuning to settle: one pass warms its caches
METHOD = "timm-style: warm-up iterations, then timed iterations (torch.cuda.synchronize() after each on a GPU)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, *, warmup: int, iterations: int, min_iterations: int, budget_s: float) -> list[float]:
    """Seconds per timed call of ``fn``: ``warmup`` untimed calls, then up to
    ``iterations`` timed ones, stopping early (after ``min_iterations``) once
    ``budget_s`` is spent."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < iterations and (len(times) < min_iterations or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"bytes": int(torch.cuda.max_memory_allocated(device)), "kind": "CUDA max allocated during inference"}
    try:
        import resource
    except ImportError:  # Windows
        return {"bytes": None, "kind": "process peak RSS (not available on this platform)"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {"bytes": int(rss * scale), "kind": "process peak RSS on the CPU (the whole process, not the model alone)"}


def flops_per_image(colorizer, L1: torch.Tensor, reference: torch.Tensor | None) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        colorizer.colorize(L1, n_samples=1, seed=0, reference=reference)
    return int(counter.get_total_flops())


def training_speed(colorizer, data, *, seed: int, budget_s: float) -> dict:
    """Images/s of one `Trainer` step of the last training phase, on a deep copy (fresh optimisers)."""
    if not colorizer.trainable:
        return {"applicable": False, "reason": "nothing to train"}
    from colorbench.lab import rgb_to_normalized
    from colorbench.training.batches import batch_at
    from colorbench.training.trainer import Trainer

    device = colorizer.device
    clone = copy.deepcopy(colorizer)
    try:
        phase = [p for p in clone.phases() if p.steps > 0][-1]
        clone.nets.train()
        clone.prepare_training(data.train)
        trainer = Trainer(clone)
        rgb = batch_at(data.train, clone.config.batch_size, seed, 0).to(device)

        def step():
            L, ab = rgb_to_normalized(rgb)
            trainer.step(phase, L, ab)

        times = timed(step, device, warmup=1, iterations=20, min_iterations=1, budget_s=budget_s)
    finally:
        del clone
    return {
        "applicable": True,
        "images_per_s": len(rgb) * len(times) / sum(times),
        "batch_size": len(rgb),
        "phase": phase.name,
        "warmup_steps": 1,
        "timed_steps": len(times),
        "how": "one training step of the core's Trainer (losses, backward, optimiser steps) on a deep copy of the "
        "trained colourizer with fresh optimisers, one real training batch; the benchmarked weights are not trained further",
    }


@torch.no_grad()
def measure(colorizer, data, *, seed: int = 0, batch_size: int | None = None, budget_s: float = 1.0) -> dict:
    """The ``speed`` section of a result: about three ``budget_s`` plus warm-ups
    (a few seconds on a CPU). ``batch_size``: 16 on a CPU, 64 on a GPU."""
    from colorbench.reporting import results
    from colorbench.lab import rgb_to_normalized

    device = colorizer.device
    batch_size = batch_size or (64 if device.type == "cuda" else 16)
    warmup = WARMUP.get(device.type, WARMUP_DEFAULT)
    first = torch.stack([data.test[i][0] for i in range(min(len(data.test), batch_size))]).to(device)
    if first.shape[-1] != colorizer.size:  # test images larger than the working size: the method sees them at its own
        first = torch.nn.functional.interpolate(first, size=(colorizer.size,) * 2, mode="bicubic", antialias=True).clamp(0, 1)
    repeats = -(-batch_size // len(first))
    rgb = first.repeat(repeats, 1, 1, 1)[:batch_size]
    L, ab = rgb_to_normalized(rgb)
    reference = ab if colorizer.hint else None

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def batch():
        colorizer.colorize(L, n_samples=1, seed=seed, reference=reference)

    def single():
        colorizer.colorize(L[:1], n_samples=1, seed=seed, reference=None if reference is None else reference[:1])

    batch_times = timed(batch, device, warmup=warmup, iterations=50, min_iterations=2, budget_s=budget_s)
    single_times = timed(single, device, warmup=warmup, iterations=100, min_iterations=3, budget_s=budget_s)
    memory = peak_memory(device)
    flops = flops_per_image(colorizer, L[:1], None if reference is None else reference[:1])
    try:
        with torch.enable_grad():
            training = training_speed(colorizer, data, seed=seed, budget_s=budget_s)
    except Exception as e:  # a measurement must not lose a finished run; the reason is kept
        training = {"applicable": False, "reason": f"could not be measured: {type(e).__name__}: {e}"}
    parameters = next(colorizer.nets.parameters(), None)
    return {
        **results.machine_info(device),  # speed is comparable only on one machine
        "dtype": str(parameters.dtype if parameters is not None else L.dtype).removeprefix("torch."),
        "image_size": list(L.shape[-2:]),
        "method": METHOD,
        "inference": {
            "images_per_s": batch_size * len(batch_times) / sum(batch_times),
            "batch_size": batch_size,
            "warmup_iterations": warmup,
            "timed_iterations": len(batch_times),
            "what": "colorize(L) -> ab at the working size: the method alone, no Lab conversion or scoring",
        },
        "latency_ms": {
            "p50": 1000 * _percentile(single_times, 50),
            "p95": 1000 * _percentile(single_times, 95),
            "batch_size": 1,
            "warmup_iterations": warmup,
            "timed_iterations": len(single_times),
        },
        "training": training,
        "parameters": colorizer.n_parameters(),
        "flops_per_image": flops,
        "flops_how": "torch.utils.flop_counter.FlopCounterMode on one prediction at batch 1 "
        "(2 per multiply-accumulate of convolutions and matrix products)",
        "peak_memory": memory,
    }
