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

A run on several processes (`colorbench.training.distributed`) makes its items
the second way (in its main process too, if it has no workers), each process
those of its shard of the step's batch: the N shards of a step are the batch of
one process with workers, split in N, crops and all.

Held-out model selection (`colorbench.training.selection`) takes whole images out
of training (`held_out_split`) and makes their items the same way at every
evaluation (`held_out_batches`), both seeded apart from the global RNG streams.
"""

from __future__ import annotations

import contextlib
import math
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
    (step, position, index) so a worker can seed it; with ``shard`` (positions
    [start, stop) of each batch: `distributed.shard`), that part of each batch,
    its positions those in the whole batch."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, total: int, shard: tuple[int, int] | None = None):
        self.n, self.batch_size, self.seed, self.start, self.total = n, batch_size, seed, start, total
        self.shard = shard or (0, batch_size)

    def __iter__(self):
        first, stop = self.shard
        for step in range(self.start, self.total):
            items = indices_at(self.n, self.batch_size, self.seed, step)[first:stop]
            yield [(step, position, i) for position, i in enumerate(items, start=first)]

    def __len__(self) -> int:
        return self.total - self.start


class SeededItems(Dataset):
    """``dataset``'s items by (step, position, index); with ``seeded``, every RNG of
    the process is first seeded from (seed, step, position) (in the main process,
    and put back after: its RNGs are the run's)."""

    def __init__(self, dataset, seed: int, seeded: bool):
        self.dataset, self.seed, self.seeded = dataset, seed, seeded

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        step, position, index = key
        if not self.seeded:
            return self.dataset[index]
        with _rngs_kept() if torch.utils.data.get_worker_info() is None else contextlib.nullcontext():
            _seed_every_rng(derived_seed(self.seed, step, position))
            return self.dataset[index]


def derived_seed(*keys: int) -> int:
    """A seed for one use, from the run's seed and keys naming the use."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0])


def _seed_every_rng(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def loader(
    dataset, *, batch_size: int, seed: int, start: int, total: int, workers: int = 0, shard: tuple[int, int] | None = None
) -> DataLoader:
    """Batches of steps ``start`` to ``total`` - 1 (see the module's two modes), or
    with ``shard`` this process's part of each (items seeded however many
    workers). Its own seeded generator keeps the DataLoader off the global RNG,
    which it would otherwise draw a base seed from."""
    return DataLoader(
        SeededItems(dataset, seed, seeded=workers > 0 or shard is not None),
        batch_sampler=StepBatches(len(dataset), batch_size, seed, start, total, shard),
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )


# ------------------------------------------------------------------ held out
HELD_OUT_FRACTION = 0.1
HELD_OUT_ITEMS = 1_000
"""Held-out model selection takes whole training images out of training, in a
seeded order, until they give a tenth of the training items, at most 1,000
(at least one image, and never every one); the held-out items evaluated are
at most 1,000 of theirs."""
# Keys that set these draws apart from (step, position), the workers' item seeds.
_SPLIT, _ITEMS = 2**40 + 1, 2**40 + 2


def source_of(dataset, index: int):
    """The image item ``index`` is made from: the dataset's ``source_of(index)``
    where it has one (several random crops of one photo), else the item itself."""
    return dataset.source_of(index) if hasattr(dataset, "source_of") else index


def held_out_split(dataset, seed: int) -> tuple[list[int], list[int]]:
    """(training items, held-out items) of ``dataset``, whole images held out (see
    `HELD_OUT_FRACTION`), drawn by their own generator seeded from ``seed``: the
    same for a seed whatever else the run draws. ValueError for a dataset of a
    single image, which cannot be split so."""
    images: dict = {}
    for index in range(len(dataset)):
        images.setdefault(source_of(dataset, index), []).append(index)
    if len(images) < 2:
        raise ValueError(f"only {len(images)} training image{'s' if len(images) != 1 else ''}")  # none left to train on
    wanted = min(math.ceil(HELD_OUT_FRACTION * len(dataset)), HELD_OUT_ITEMS)
    groups = list(images.values())
    held: list[int] = []
    for image in torch.randperm(len(groups), generator=torch.Generator().manual_seed(derived_seed(seed, _SPLIT))).tolist():
        if len(held) >= wanted or len(held) + len(groups[image]) == len(dataset):
            break
        held += groups[image]
    out = set(held)
    return [i for i in range(len(dataset)) if i not in out], sorted(held)[:HELD_OUT_ITEMS]


@contextlib.contextmanager
def _rngs_kept():
    """The process's RNGs (torch's CPU one, numpy's, Python's) as they were, after the block."""
    torch_state, numpy_state, python_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def held_out_batches(dataset, indices: list[int], batch_size: int, seed: int):
    """The held-out items, ``batch_size`` at a time, each made with every RNG seeded
    from (``seed``, its index): the same crops at every evaluation, and the RNG
    streams of training untouched."""
    for start in range(0, len(indices), batch_size):
        with _rngs_kept():
            items = []
            for index in indices[start : start + batch_size]:
                _seed_every_rng(derived_seed(seed, _ITEMS, index))
                items.append(dataset[index])
        yield torch.stack(items)
