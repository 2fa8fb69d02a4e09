"""Where models run, and what is recorded about the machine beside each speed."""

import ctypes.util
import os
import platform
import subprocess
import sys

import pytest
import torch

from colorbench import devices
from colorbench.errors import UsageError

GLIBC_LINUX = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def allocator_in(env: dict) -> str:
    """devices.allocator() as a fresh process started with ``env`` sees it."""
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    code = "from colorbench import devices; print(devices.allocator())"
    return subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True, check=True).stdout.strip()


def test_cpu_is_always_there_and_unknown_devices_are_usage_errors():
    assert devices.pick("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="not a device"):
        devices.pick("gpu0")


@pytest.mark.skipif(not GLIBC_LINUX, reason="glibc's malloc and its tunables exist on glibc Linux only")
def test_allocator_names_glibc_and_its_malloc_tunables():
    version = platform.libc_ver()[1]
    assert allocator_in({}) == f"glibc {version} malloc"
    tunables = "glibc.malloc.trim_threshold=1073741824:glibc.elision.enable=0:glibc.malloc.top_pad=67108864"
    assert allocator_in({"GLIBC_TUNABLES": tunables}) == (
        f"glibc {version} malloc (glibc.malloc.trim_threshold=1073741824, glibc.malloc.top_pad=67108864)"
    )


TCMALLOC = ctypes.util.find_library("tcmalloc_minimal") if sys.platform == "linux" else None


@pytest.mark.skipif(not TCMALLOC, reason="tcmalloc is not installed here (Debian: libtcmalloc-minimal4)")
def test_allocator_sees_a_preloaded_tcmalloc():
    assert allocator_in({"LD_PRELOAD": TCMALLOC}) == "tcmalloc"
