"""The training loop every method shares: batches in Lab, steps, a progress bar."""

from __future__ import annotations

import itertools
import time

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.utils.data import DataLoader

from colorbench.colorizer import Colorizer
from colorbench.datasets import Dataset
from colorbench.lab import rgb_to_normalized


def seed_everything(seed: int) -> None:
    """One seed for weights, noise and crops: a CPU run is then repeatable."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(dataset, batch_size: int, seed: int):
    """Endless shuffled batches, epoch after epoch, in a seeded order."""
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) >= batch_size,
        generator=torch.Generator().manual_seed(seed),
    )
    for _ in itertools.count():
        yield from loader


def train(colorizer: Colorizer, data: Dataset, *, seed: int, console: Console) -> dict:
    """Run the colourizer's training phases in order; returns what the result records."""
    phases = colorizer.phases()
    if not colorizer.trainable:
        return {"steps": 0, "images_seen": 0, "seconds": 0.0, "phases": []}
    device = colorizer.device
    colorizer.nets.train()
    colorizer.setup_training()
    progress = Progress(
        TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}  {task.fields[speed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console,
    )
    stream = batches(data.train, colorizer.config.batch_size, seed)  # one stream across phases
    log, images, start = [], 0, time.perf_counter()
    with progress:
        for phase in phases:
            task = progress.add_task(f"{colorizer.name} {phase.name}", total=phase.steps, losses="", speed="")
            phase_start, losses = time.perf_counter(), {}
            for step, rgb in zip(range(phase.steps), stream):
                L, ab = rgb_to_normalized(rgb.to(device, non_blocking=True))
                losses = phase.step(L, ab)
                images += len(rgb)
                rate = (step + 1) * len(rgb) / (time.perf_counter() - phase_start)
                progress.update(task, advance=1, losses="  ".join(f"{k} {v:.3f}" for k, v in losses.items()), speed=f"{rate:.0f} img/s")
            log.append({"name": phase.name, "steps": phase.steps, "seconds": round(time.perf_counter() - phase_start, 3), "final_losses": losses})
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    steps = sum(p["steps"] for p in log)
    return {"steps": steps, "images_seen": images, "seconds": round(time.perf_counter() - start, 3), "phases": log}
