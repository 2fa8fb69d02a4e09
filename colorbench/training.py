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
    """Train for ``colorizer.config.steps`` steps; returns what the result records."""
    steps, batch_size = colorizer.config.steps, colorizer.config.batch_size
    if not colorizer.trainable:
        return {"steps": 0, "images_seen": 0, "seconds": 0.0}
    device = colorizer.device
    colorizer.nets.train()
    colorizer.setup_training()
    progress = Progress(
        TextColumn(f"[bold]{colorizer.name}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}  {task.fields[speed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    )
    losses: dict[str, float] = {}
    start = time.perf_counter()
    with progress:
        task = progress.add_task("train", total=steps, losses="", speed="")
        for step, rgb in zip(range(steps), batches(data.train, batch_size, seed)):
            L, ab = rgb_to_normalized(rgb.to(device, non_blocking=True))
            losses = colorizer.train_step(L, ab)
            elapsed = time.perf_counter() - start
            progress.update(
                task, advance=1,
                losses="  ".join(f"{k} {v:.3f}" for k, v in losses.items()),
                speed=f"{(step + 1) * len(rgb) / elapsed:.0f} img/s",
            )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"steps": steps, "images_seen": steps * batch_size, "seconds": round(seconds, 3), "final_losses": losses}
