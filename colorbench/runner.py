"""One benchmark run: train (or load nothing, for a baseline), colourize the test
set, score it, and write the result file with its full protocol."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console
from rich.text import Text

import colorbench
from colorbench import bootstrap, checkpoints, diversity, metrics, plugins, results, samples, settings, speed, training
from colorbench.colorizer import Colorizer
from colorbench.datasets import Dataset
from colorbench.errors import UsageError, UserError
from colorbench.evaluate import evaluate

EVALUATION_RULE = (
    "ground truth quantised to 8-bit sRGB; the method sees its L (CIE Lab, D65) at the working size; "
    "its ab is joined with that same L and both images are compared as 8-bit sRGB"
)


def _resumable(out_dir: Path, identity: dict) -> str | None:
    """The newest unfinished run in ``out_dir`` that was started the same way."""
    states = sorted((Path(out_dir) / "checkpoints").glob("*-training.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in states:
        record = checkpoints.read_training_run(path)
        if record and {k: v for k, v in record.items() if k != "run_id"} == identity:
            return record["run_id"]
    return None


def check_settings(cls: type[Colorizer], *, profile: str, size: int, overrides: dict) -> None:
    """Build the method with ``overrides``, make its optimisers and colourize one
    blank image, on the CPU: a setting it cannot work with (a width of 0, a learning
    rate below 0, an unknown layer, negative steps) is a UsageError before any training."""
    colorizer = cls.from_profile(profile, size=size, **overrides)

    def refused(why: str) -> UsageError:
        return UsageError(f"{cls.name} cannot work with {settings.shown(overrides)} at {size}x{size}: {why}")

    if negative := [f"{p.name} {p.steps}" for p in colorizer.phases() if p.steps < 0]:
        raise refused(f"steps cannot be negative (phase {', '.join(negative)})")
    if colorizer.trainable and colorizer.config.batch_size < 1:
        raise refused("batch_size must be at least 1")
    try:
        if colorizer.trainable:
            colorizer.setup_training()
    except UserError:
        raise  # not a setting's doing (VGG weights that cannot be had offline...)
    except Exception as e:
        raise refused(settings.reason(e)) from None
    try:
        colorizer.colorize(torch.zeros(1, 1, size, size), reference=torch.zeros(1, 2, size, size) if cls.hint else None)
    except Exception as e:  # non-finite colours from a network just built are a setting's doing too
        raise refused(settings.reason(e)) from None


def run(
    cls: type[Colorizer],
    data: Dataset,
    *,
    profile: str,
    seed: int,
    device: torch.device,
    out_dir: Path,
    console: Console,
    n_samples: int | None = None,
    overrides: dict | None = None,
    resume: bool = False,
    checkpoint_every: int = 0,
) -> dict:
    """Run ``cls`` on ``data`` and write its result into ``out_dir``; returns the result.

    ``n_samples``: samples per test image for a stochastic method's diversity
    (default: by profile). ``overrides``: Config fields set by hand (recorded in
    the config). ``resume``: continue the newest unfinished run started the
    same way, if there is one. A run that diverges is written with status
    "diverged" and no scores."""
    if n_samples is None:
        n_samples = diversity.samples_for(profile)
    start = time.perf_counter()
    commit = results.git_commit()  # the code that runs, not what the tree holds when it ends
    training.seed_everything(seed)
    colorizer = cls.from_profile(profile, size=data.size, **(overrides or {})).to(device)
    config = dataclasses.asdict(colorizer.config)
    try:  # known now, not after training: a diverged run's result must be writable too
        results.dumps({"config": config})
    except (TypeError, ValueError) as e:
        raise UserError(f"{cls.name}'s config cannot be recorded in a result ({e}): every setting must be finite JSON") from None
    identity = {"plugin": cls.name, "plugin_version": cls.version, "dataset": data.name, "size": data.size, "profile": profile, "seed": seed, "config": config}
    run_id = _resumable(out_dir, identity) if resume else None
    if resume and run_id is None and colorizer.trainable:
        console.print(f"{cls.name}: nothing to resume in {out_dir} for this dataset, profile, seed and config: starting a new run", highlight=False)
    run_id = run_id or results.new_run_id(cls.name, data.name)
    state_path = Path(out_dir) / "checkpoints" / f"{run_id}-training"
    trained = training.train(
        colorizer, data, seed=seed, console=console, state_path=state_path, checkpoint_every=checkpoint_every,
        resume=resume, run={"run_id": run_id, **identity},
    )
    result = {
        "schema_version": results.SCHEMA_VERSION,
        "run_id": run_id,
        "status": trained["status"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "colorbench_version": colorbench.__version__,
        "git_commit": commit,
        "machine": results.machine_info(device),
        "plugin": {
            "name": cls.name,
            "version": cls.version,
            "description": cls.description,
            "paper": cls.paper,
            "stochastic": cls.stochastic,
            "hint": cls.hint,
            "distribution": plugins.distribution_of(cls),
            "config": config,
            "parameters": colorizer.n_parameters(),
        },
        "protocol": {
            "dataset": {"name": data.name, "split": "test", "size": data.size, "count": len(data.test), "card": data.card},
            "evaluation": EVALUATION_RULE,
            "metrics": metrics.protocol(),
            "ci95": bootstrap.describe(),
            "diversity_samples": n_samples if cls.stochastic else None,
            "profile": profile,
            "overrides": overrides or {},
            "seed": seed,
            "device": str(device),
        },
        "training": trained,
        "metrics": {},
        "checkpoint": None,
    }
    if trained["status"] == "diverged":  # no scores: a NaN never reaches a result as a number
        result["diverged"] = trained["diverged"]
        result["wall_seconds"] = round(time.perf_counter() - start, 3)
        result["file"] = str(results.write(result, out_dir))
        return result

    if colorizer.trainable:
        path, digest = checkpoints.save(
            colorizer, Path(out_dir) / "checkpoints" / run_id, run_id=run_id, dataset=data.name, profile=profile, seed=seed
        )
        result["checkpoint"] = {"path": str(path), "sha256": digest}

    scored = evaluate(colorizer, data.test, seed=seed, n_samples=n_samples)
    timing = speed.measure(colorizer, data, seed=seed)
    if not timing["training"].get("applicable", True) and timing["training"]["reason"].startswith("could not"):
        console.print(Text.assemble(("warning:", "yellow"), f" {cls.name}: training speed {timing['training']['reason']}"), highlight=False)
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
        diversity=scored["diversity"],
        speed=timing,
        per_image=scored["per_image"],
        samples=samples.save(colorizer, data.test, out_dir=Path(out_dir), run_id=run_id, seed=seed, n_samples=n_samples),
        evaluation={"seconds": scored["seconds"]},
        wall_seconds=round(time.perf_counter() - start, 3),
    )
    result["file"] = str(results.write(result, out_dir))
    return result
