"""Result files: one JSON per run, carrying everything needed to trust its numbers.

A result holds the protocol (dataset, split, size, each metric's version and
colour space, seed, device) beside the values, so numbers made differently are
never put side by side. Files are written atomically and never rewritten.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import colorbench
from colorbench.files import write_atomic

SCHEMA_VERSION = 1
DEFAULT_DIR = Path("colorbench-results")


def git_commit() -> str | None:
    """The commit colorbench runs from (with '-dirty' for local changes), if any."""
    src = Path(colorbench.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src, capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(device) -> dict:
    import torch

    from colorbench import devices

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "device_name": devices.describe(device),
        "cpu_threads": torch.get_num_threads(),
        "allocator": devices.allocator(),
    }


def new_run_id(plugin: str, dataset: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset.split(":")[0])
    return f"{stamp}-{plugin}-{safe}-{uuid.uuid4().hex[:6]}"


def dumps(result: dict) -> bytes:
    """JSON text of a result; an infinity or NaN raises instead of writing
    ``Infinity``, which is not JSON (per-image values store them as null)."""
    return json.dumps(result, indent=1, allow_nan=False).encode()


def write(result: dict, out_dir: Path) -> Path:
    return write_atomic(Path(out_dir) / f"{result['run_id']}.json", dumps(result))


def read_all(results_dir: Path, warn=lambda message: print(f"warning: {message}", file=sys.stderr)) -> list[dict]:
    """Every valid result file in ``results_dir`` (recursively, checkpoints aside);
    a damaged one is skipped with one warning naming it and its first bad field,
    never fatal. Per-image values are checked, then dropped: nothing that reads a
    folder of results shows them, and they are most of a file's size."""
    from colorbench.reporting import schemas  # pydantic: only for the commands that read results

    results_dir = Path(results_dir)
    found = []
    for path in sorted(results_dir.rglob("*.json")):
        if path.suffix != ".json" or "checkpoints" in path.relative_to(results_dir).parts:  # folders above may have any name
            continue
        if not path.is_file():  # a folder, or a pipe that would block the read
            warn(f"skipping {path}: not a regular file")
            continue
        try:
            result = schemas.parse_json(path.read_bytes())
        except OSError as e:
            warn(f"skipping {path}: cannot be read ({e.strerror or e})")
            continue
        except schemas.SchemaError as e:
            warn(f"skipping {path}: not a readable result file ({e})")
            continue
        if not isinstance(result, dict) or "schema_version" not in result or "metrics" not in result:
            warn(f"skipping {path}: not a colorbench result file")
            continue
        try:
            schemas.check_result(result)
        except schemas.SchemaError as e:
            warn(f"skipping {path}: not a valid result file ({e})")
            continue
        result.pop("per_image", None)
        result["_path"] = str(path)
        found.append(result)
    return found
