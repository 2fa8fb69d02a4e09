"""Training on several processes: torchrun's environment, the process group, the
networks' wrapping for training, and the few collectives the Trainer needs.

A run started by torchrun (``torchrun --nproc_per_node=N -m colorbench run ...``, or
``colorbench run --nproc N``, which starts torchrun itself) is one process per rank,
each on its own device (cuda:LOCAL_RANK; on the CPU, gloo). Each rank trains on
its shard of every step's batch (`colorbench.training.batches.StepBatches`), so
``batch_size`` is the global batch and the learning rates are those of one
process: DistributedDataParallel averages the gradients over the ranks, and
batch norm is synchronised, so a step on N processes x B/N images is the step of
one process on B images, to float rounding. Rank 0 alone writes checkpoints,
results, samples and logs, and scores; the other ranks only train.

With one process (no torchrun, or torchrun with one) nothing here runs.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from colorbench.errors import UsageError, UserError

WAIT = timedelta(days=7)
"""How long a rank waits for the others where waiting is expected: rank 0 scores a
method while the others wait to train the next. A rank that dies is torchrun's to
notice (it stops the others at once); this limit is only for one that hangs."""


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes, ``local_rank``
    on its machine (its GPU's index)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes, reports and scores."""
        return self.rank == 0


def world() -> World:
    """This process's `World`, from torchrun's environment (one process without it)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
    except ValueError:
        raise UsageError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers (torchrun sets them)") from None


def device_for(device: torch.device) -> torch.device:
    """The device of this rank: cuda:LOCAL_RANK for a CUDA run, the CPU for a CPU
    one. UsageError for a device a run on several processes cannot use."""
    w = world()
    if not w.distributed:
        return device
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UsageError(f"training on several processes runs on CUDA GPUs (NCCL) or on the CPU (gloo), not on {device.type}")
    if device.index is not None:
        raise UsageError(f"--device {device}: on several processes each takes its own GPU (cuda:LOCAL_RANK); pass --device cuda")
    if w.local_rank >= torch.cuda.device_count():
        raise UsageError(f"process {w.local_rank} of this machine has no GPU: {torch.cuda.device_count()} visible, start at most that many per machine")
    return torch.device("cuda", w.local_rank)


_side: dist.ProcessGroup | None = None  # gloo, for waiting and for Python objects


def init(device: torch.device) -> None:
    """Join torchrun's process group (NCCL for a CUDA run, gloo on the CPU), once."""
    global _side
    w = world()
    if not w.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    _side = dist.new_group(backend="gloo", timeout=WAIT)
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def backend() -> str | None:
    return dist.get_backend() if dist.is_initialized() else None


def from_main(value):
    """``value`` as rank 0 has it, on every rank (after every rank got here: rank 0
    may come from scoring a method)."""
    if not world().distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, group=_side)
    return box[0]


def gathered(value) -> list:
    """Every rank's ``value``, in rank order, on every rank."""
    if not world().distributed:
        return [value]
    out = [None] * world().size
    dist.all_gather_object(out, value, group=_side)
    return out


def mean(values: dict[str, float]) -> dict[str, float]:
    """The mean over the ranks of each logged term: with equal shards, the term of
    the whole batch (for a mean over its images)."""
    if not world().distributed or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t, group=_side)
    return dict(zip(values, (t / world().size).tolist()))


def shard(batch_size: int) -> tuple[int, int]:
    """This rank's positions [start, stop) in a batch of ``batch_size``; ValueError
    unless the ranks get equal shards."""
    w = world()
    if batch_size % w.size:
        raise ValueError(
            f"batch_size {batch_size} does not split into {w.size} equal shards: it is the global batch, "
            f"so it must be a multiple of the number of processes ({w.size})"
        )
    per = batch_size // w.size
    return w.rank * per, (w.rank + 1) * per


# ------------------------------------------------------------------ the networks' wrapping
class _DDP(DistributedDataParallel):
    """DistributedDataParallel that lends its network's own attributes, so that a
    method's ``self.nets["C"].histograms`` or ``.weighted_histogram(L)`` work while
    it trains. (What is called other than forward is not synchronised: a method's
    trained weights must get their gradients through the network's forward.)"""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            module = self.__dict__.get("_modules", {}).get("module")
            if module is None:
                raise
            return getattr(module, name)


class _Summed(torch.autograd.Function):
    """The sum of a tensor over the ranks; its gradient is the sum of theirs (each
    rank's loss depends on every rank's part of the statistics)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _Summed.apply(grad.contiguous())


class GlooSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with statistics over every rank's part of the batch, on the CPU,
    where torch's SyncBatchNorm does not run (CUDA tensors only). It holds the
    batch norm's own weights and running statistics (the same tensors); the sums
    go through a differentiable all_reduce, so the gradient is that of the whole
    batch's normalisation (as SyncBatchNorm's). Statistics in float32 at least,
    whatever the autocast type."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        self.weight, self.bias = bn.weight, bn.bias
        self.running_mean, self.running_var, self.num_batches_tracked = bn.running_mean, bn.running_var, bn.num_batches_tracked
        self.train(bn.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch = self.training or self.running_mean is None
        if not use_batch:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        dims, shape = [0, *range(2, x.dim())], (1, -1) + (1,) * (x.dim() - 2)
        x32 = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16 and fp16 summed in float32
        n = x32.numel() // x32.shape[1] * world().size  # equal shards (`shard`)
        mean = _Summed.apply(x32.sum(dims)) / n
        centred = x32 - mean.view(shape)
        var = _Summed.apply(centred.square().sum(dims)) / n
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * n / max(n - 1, 1), alpha=momentum)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


class Wrapping:
    """The networks of ``nets`` made ready for training across processes, in place:
    batch norm synchronised (torch's SyncBatchNorm on CUDA, `GlooSyncBatchNorm` on
    the CPU: both hold the original layers' tensors), each network with weights
    to train wrapped in DistributedDataParallel; with ``compile``, each trained
    network compiled (torch.compile). `undo` puts the original modules back, with
    what training made of their weights. Frozen loss networks (VGG) are kept as
    attributes, not in ``nets``: never wrapped."""

    def __init__(self, nets: nn.ModuleDict, device: torch.device, *, distributed: bool, compile: bool):
        self.nets, self.originals, self.swapped = nets, dict(nets.items()), []
        if distributed:
            for parent in list(nets.modules()):
                for name, child in list(parent.named_children()):
                    if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, GlooSyncBatchNorm)):
                        synced = nn.SyncBatchNorm.convert_sync_batchnorm(child) if device.type == "cuda" else GlooSyncBatchNorm(child)
                        parent.add_module(name, synced)
                        self.swapped.append((parent, name, child))
            self.synced = dict(nets.items())  # the top-level networks as they train (a network may itself be a batch norm)
        for name, module in list(nets.items()):
            if not any(p.requires_grad for p in module.parameters()):
                continue  # nothing to synchronise or compile
            if distributed:
                module = _DDP(module, device_ids=[device.index] if device.type == "cuda" else None, **_NO_BUFFER_SYNC)
            if compile:
                module = torch.compile(module)
            nets[name] = module

    def plain(self) -> nn.ModuleDict:
        """The networks as the method built them (state-dict keys without wrappers),
        holding the weights that train."""
        return nn.ModuleDict(getattr(self, "synced", self.originals))

    def undo(self) -> None:
        for name, module in self.originals.items():
            self.nets[name] = module
        for parent, name, child in reversed(self.swapped):
            child.train(getattr(parent, name).training)
            parent.add_module(name, child)
        self.swapped = []


# Buffers are not broadcast at each forward: synchronised batch norm keeps the running
# statistics equal on every rank, and a forward of rank 0 alone would wait for the others.
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}  # its name in older torch
)


def compile_failure(error: BaseException) -> bool:
    """Whether ``error`` is torch.compile's (Dynamo or its backend)."""
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor"))


# ------------------------------------------------------------------ launching
def launch(nproc: int, argv: list[str], *, debug: bool = False) -> None:
    """Run ``colorbench ARGV`` on ``nproc`` processes of this machine through torchrun
    (torch.distributed.run, as ``torchrun --standalone --nproc_per_node=NPROC -m
    colorbench ARGV``). A process that fails ends the run (torchrun stops the
    others): its own error line is what it printed (exit status 1 or 2, passed on);
    one that is killed or crashes is named here in one line."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if world().distributed or "TORCHELASTIC_RUN_ID" in os.environ:
        raise UsageError("--nproc starts torchrun; this process was started by torchrun already: leave --nproc out")
    os.environ[_LAUNCHED] = str(nproc)  # its processes leave a lost peer to this one to report (`lost`)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))  # torchrun's default is 1
    if not debug:  # its log lines (rendezvous, worker groups, its failure report) are replaced by one line
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    args = torchrun.parse_args(["--standalone", f"--nproc_per_node={nproc}", "-m", "colorbench", *argv])
    try:
        torchrun.run(args)
    except ChildFailedError as e:
        failures = sorted(e.failures.items(), key=lambda item: (item[1].timestamp, item[0]))
        # torchrun stops the others with SIGTERM once one has failed: the one that failed first is the one to name
        killed = [(r, f) for r, f in failures if f.exitcode < 0 and f.exitcode != -signal.SIGTERM]
        said = [(r, f) for r, f in failures if f.exitcode in (1, 2)]  # a colorbench error, printed by that process
        if said and not killed:
            raise SystemExit(said[0][1].exitcode) from None
        rank, failure = (killed or failures)[0]
        how = f"was killed by {signal.Signals(-failure.exitcode).name}" if failure.exitcode < 0 else f"ended with exit status {failure.exitcode}"
        raise UserError(
            f"process {rank} of {nproc} {how}, and the run stopped: run the same command with --resume to continue "
            "from its last saved training state (saved every --checkpoint-every steps, by default every 10 minutes)"
        ) from None


_LAUNCHED = "COLORBENCH_NPROC"


def lost(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is another process of the run gone:
    a collective that failed. Under ``--nproc`` the launcher names that process
    (`launch`), so this one need not say anything."""
    while error is not None:
        if isinstance(error, dist.DistError) or isinstance(error, RuntimeError) and any(
            word in str(error) for word in ("gloo", "NCCL", "Connection closed by peer", "Connection reset by peer")
        ):
            return True
        error = error.__cause__
    return False


def launched() -> bool:
    """Whether this process was started by `launch` (``colorbench run --nproc``)."""
    return _LAUNCHED in os.environ


def stop_quietly_when_told() -> None:
    """Under `launch`: when torchrun stops this process (SIGTERM) because another
    failed, end without a word (files being written are removed as for Ctrl-C):
    the launcher says what happened."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N``: what each process runs."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def say(message: str) -> None:
    """An error of a rank other than 0, whose console is quiet (rank 0 reports):
    one line naming the rank, on stderr."""
    print(f"Error (process {world().rank}): {message}", file=sys.stderr, flush=True)
