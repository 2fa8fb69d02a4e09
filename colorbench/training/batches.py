"""Training batches: which items each step sees, and the DataLoader that makes them.

A step's items depend on (seed, step) alone: each epoch's order comes from its own
seeded generator, so a resumed run draws exactly the batches it would have drawn.

Two loader modes, with different numbers (each repeatable and resume-exact):
- ``workers=0``: items are made in the main process just before their step, their
  random crops drawn from the global torch RNG, interleaved with the method's own
  draws (noise, dropout), as colorbench always has;
- ``workers>=1``: items are made in worker processes, each with every RNG seeded
  from (seed, step, position in the batch), so the count of workers does not
  change a number and a resumed run repeats the crops it would have made.
"""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@lru_cache(maxsize=4)
def _order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def indices_at(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The items of a global step's batch, out of ``n``."""
    epoch, offset = divmod(step, max(1, n // batch_size))
    return _order(n, seed, epoch)[offset * batch_size : (offset + 1) * batch_size].tolist()


def batch_at(dataset, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """The batch of a global step, made here (crops from the global RNG)."""
    return torch.stack([dataset[i] for i in indices_at(len(dataset), batch_size, seed, step)])


class StepBatches(Sampler):
    """The batches of steps ``start`` to ``total`` - 1, each item keyed by
    (step, position, index) so a worker can seed it."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, total: int):
        self.n, self.batch_size, self.seed, self.start, self.total = n, batch_size, seed, start, total

    def __iter__(self):
        for step in range(self.start, self.total):
            yield [(step, position, i) for position, i in enumerate(indices_at(self.n, self.batch_size, self.seed, step))]

    def __len__(self) -> int:
        return self.total - self.start


class SeededItems(Dataset):
    """``dataset``'s items by (step, position, index); with ``seeded``, every RNG of
    the process is first seeded from (seed, step, position) (in a worker process
    only: the main process's RNGs are the run's)."""

    def __init__(self, dataset, seed: int, seeded: bool):
        self.dataset, self.seed, self.seeded = dataset, seed, seeded

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        step, position, index = key
        if self.seeded:
            item_seed = int(np.random.SeedSequence([self.seed, step, position]).generate_state(1, np.uint64)[0])
            torch.manual_seed(item_seed)
            np.random.seed(item_seed % 2**32)
            random.seed(item_seed)
        return self.dataset[index]


def loader(dataset, *, batch_size: int, seed: int, start: int, total: int, workers: int = 0) -> DataLoader:
    """Batches of steps ``start`` to ``total`` - 1 (see the module's two modes). Its
    own seeded generator keeps the DataLoader off the global RNG, which it would
    otherwise draw a base seed from."""
    return DataLoader(
        SeededItems(dataset, seed, seeded=workers > 0),
        batch_sampler=StepBatches(len(dataset), batch_size, seed, start, total),
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )
