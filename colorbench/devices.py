"""Where models run (cuda, then mps, then cpu, unless ``--device`` says otherwise),
and what is recorded about the machine beside their speed."""

from __future__ import annotations

import os
import platform

import torch

from colorbench.errors import UsageError


def pick(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):  # meta, xla...: torch names them, colorbench cannot run there
        raise UsageError(f"--device {name}: colorbench runs on cpu, cuda, cuda:N or mps (or auto), not on {device.type}")
    if device.type in ("cpu", "mps"):  # one of each: "cpu:0" is the CPU, "cpu:1" nothing
        if device.index:
            raise UsageError(f"--device {name}: there is one {device.type} device; use --device {device.type}")
        device = torch.device(device.type)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA GPU is available here; use --device cpu (or auto)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: MPS is not available here; use --device cpu (or auto)")
    return device


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give (None where that cannot be known): what a
    run's training state is checked against before any training."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):  # not Linux
            pass
    return None


def describe(device: torch.device) -> str:
    """A human name for the device, recorded with every result (speed depends on it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine()
    return device.type


def allocator() -> str:
    """The process's malloc, recorded beside the device: on a CPU it can move
    speed 2-3x. glibc's malloc hands big freed blocks back to the kernel and
    page-faults them in again on the next batch; tcmalloc keeps them
    (docs/cpu-speed.md)."""
    try:
        with open("/proc/self/maps") as maps:
            loaded = maps.read()
    except OSError:  # not Linux
        return "system malloc"
    for name in ("tcmalloc", "jemalloc", "mimalloc"):
        if f"lib{name}" in loaded:
            return name
    libc, version = platform.libc_ver()
    name = f"{libc} {version} malloc" if libc else "system malloc"
    tunables = [t for t in os.environ.get("GLIBC_TUNABLES", "").split(":") if t.startswith("glibc.malloc.")]
    return f"{name} ({', '.join(tunables)})" if tunables else name
