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
from colorbench.errors import UserError
from colorbench.files import write_atomic

SCHEMA_VERSION = 2
"""2: each metric's record in ``protocol.metrics`` says its kind, column title,
digits and valid range (schema-1 files are migrated on read: `migrate`)."""
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


def metric_records(metrics=None) -> dict:
    """{name: metadata} of the metrics scored (default: `colorbench.scoring.selection.select`),
    as a result's protocol keeps them."""
    from colorbench.scoring import selection

    return {name: m.record() for name, m in (selection.select() if metrics is None else metrics).items()}


# ------------------------------------------------------------------ building a result
# One function per kind of result builds it; `add_scores` is what both hold of
# their scoring, so `run` and `score` record it the same way.
def for_run(
    *, run_id: str, status: str, commit: str | None, device, plugin: dict, dataset: dict, evaluation: str,
    diversity_samples: int | None, profile: str, overrides: dict, seed: int, training: dict, metrics=None,
) -> dict:
    """A method's run, before it is scored (a diverged one never is); ``metrics``:
    {name: Metric} it is scored with (default: `colorbench.scoring.selection.select`)."""
    from colorbench.scoring import bootstrap

    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "created": _now(),
        "colorbench_version": colorbench.__version__,
        "git_commit": commit,
        "machine": machine_info(device),
        "plugin": plugin,
        "protocol": {
            "dataset": dataset,
            "evaluation": evaluation,
            "metrics": metric_records(metrics),
            "ci95": bootstrap.describe(units="photo" if dataset.get("photo_of") else None),
            "diversity_samples": diversity_samples,
            "profile": profile,
            "overrides": overrides,
            "seed": seed,
            "device": str(device),
        },
        "training": training,
        "metrics": {},
        "checkpoint": None,
    }


def for_score(*, device, dataset: dict, pairing: str, evaluation: str, predictions: Path, scored: dict, metrics=None) -> dict:
    """`colorbench score`'s result: images scored as they are, no method."""
    from colorbench.scoring import bootstrap

    result = {
        "kind": "score",
        "schema_version": SCHEMA_VERSION,
        "created": _now(),
        "colorbench_version": colorbench.__version__,
        "machine": machine_info(device),
        "protocol": {
            "dataset": dataset,
            "pairing": pairing,
            "evaluation": evaluation,
            "metrics": metric_records(metrics),
            "ci95": bootstrap.describe(units="photo" if dataset.get("photo_of") else None),
            "device": str(device),
        },
        "predictions": str(predictions),
    }
    return add_scores(result, scored)


def for_submitted(*, device, name: str, paper: str, dataset: dict, predictions: Path, scored: dict, metrics=None) -> dict:
    """`colorbench score --dataset`'s result: a system's outputs on a named test set (`colorbench.scoring.submitted`)."""
    from colorbench.scoring import submitted

    result = for_score(device=device, dataset=dataset, pairing=submitted.PAIRING_RULE, evaluation=submitted.EVALUATION_RULE,
                       predictions=predictions, scored=scored, metrics=metrics)
    result["kind"] = "submitted"
    return result | {"run_id": new_run_id(name, dataset["name"]), "plugin": {"name": name, "paper": paper}, "native_output": scored["native_output"]}


def add_scores(result: dict, scored: dict) -> dict:
    """Record what scoring (`evaluate.evaluate`, `folder_scoring.score_folders`) found, in place."""
    result["protocol"]["dataset"].update(
        scored=scored["scored"],
        excluded=scored["excluded"]["count"],
        excluded_ids=scored["excluded"]["ids"],
        excluded_reason=scored["excluded"]["reason"],
    )
    result.update(
        metrics=scored["metrics"],
        ci95=scored["ci95"],
        left_out_of_mean=scored["left_out_of_mean"],
        not_computed=scored["not_computed"],
        evaluation={"seconds": scored["seconds"]},
        per_image=scored["per_image"],
    )
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # two results of one second still have an order


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


def as_read(result: dict, path: Path | None = None):
    """``result`` as the one reader reads its file (`parse` of `dumps`), typed, with
    ``path``, the file holding it, if any: what a command shows is what is stored."""
    from colorbench.reporting import schemas

    try:
        typed = parse(dumps(result))
    except schemas.SchemaError as e:  # a plugin metric's value outside its declared range...
        raise UserError(f"the result{f' {path}' if path else ''} would not read back from its file ({e}): a bug in a method or metric plugin?") from None
    typed._path = str(path or "")
    return typed


class NotAResult(ValueError):
    """JSON, but not a colorbench result file at all."""


def migrate(result: dict) -> dict:
    """A schema-1 result as schema 2, in place: its metric records gain a kind,
    title, digits and valid range, from the built-in declarations (the only
    metrics schema 1 ever held). Values are untouched."""
    if result.get("schema_version") == 1:
        from colorbench.scoring.builtin_metrics import BY_NAME

        records = (result.get("protocol") or {}).get("metrics")
        for name, record in records.items() if isinstance(records, dict) else ():
            if name in BY_NAME and isinstance(record, dict):
                record |= {k: v for k, v in BY_NAME[name].record().items() if k not in record}
        result["schema_version"] = 2
    return result


def parse(data: bytes):
    """The one reader of result files: a file's bytes -> its result, migrated to the
    current schema, checked and typed (`schemas.Result`). Raises `NotAResult`, or
    `schemas.SchemaError` naming the first bad field (strict JSON: `schemas.parse_json`)."""
    from colorbench.reporting import schemas  # pydantic: only for the commands that read results

    result = schemas.parse_json(data)
    if not isinstance(result, dict) or "schema_version" not in result or "metrics" not in result:
        raise NotAResult("not a colorbench result file")
    return schemas.check_result(migrate(result))


def read_all(results_dir: Path, warn=lambda message: print(f"warning: {message}", file=sys.stderr)) -> list:
    """Every valid result file in ``results_dir`` (recursively, checkpoints aside);
    a damaged one is skipped with one warning naming it and its first bad field,
    never fatal. Per-image values are kept: a table's intervals over several
    seeds, and its marks against gray, are computed from them."""
    from colorbench.reporting import schemas

    results_dir = Path(results_dir)
    found = []
    for path in sorted(results_dir.rglob("*.json")):
        if path.suffix != ".json" or "checkpoints" in path.relative_to(results_dir).parts:  # folders above may have any name
            continue
        if not path.is_file():  # a folder, or a pipe that would block the read
            warn(f"skipping {path}: not a regular file")
            continue
        try:
            result = parse(path.read_bytes())
        except OSError as e:
            warn(f"skipping {path}: cannot be read ({e.strerror or e})")
            continue
        except NotAResult as e:
            warn(f"skipping {path}: {e}")
            continue
        except schemas.SchemaError as e:
            warn(f"skipping {path}: not a valid result file ({e})")
            continue
        result._path = str(path)
        found.append(result)
    return found
