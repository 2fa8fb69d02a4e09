"""One benchmark run: train (or load nothing, for a baseline), colourize the test
set, score it, and write the result file with its full protocol."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console

import colorbench
from colorbench import bootstrap, checkpoints, diversity, metrics, plugins, results, speed, training
from colorbench.colorizer import Colorizer
from colorbench.datasets import Dataset
from colorbench.evaluate import evaluate

EVALUATION_RULE = (
    "ground truth quantised to 8-bit sRGB; the method sees its L (CIE Lab, D65) at the working size; "
    "its ab is joined with that same L and both images are compared as 8-bit sRGB"
)


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
) -> dict:
    """Run ``cls`` on ``data`` and write its result into ``out_dir``; returns the result.

    ``n_samples``: samples per test image for a stochastic method's diversity
    (default: by profile, `diversity.SAMPLES`)."""
    if n_samples is None:
        n_samples = diversity.samples_for(profile)
    start = time.perf_counter()
    training.seed_everything(seed)
    colorizer = cls.from_profile(profile, size=data.size).to(device)
    run_id = results.new_run_id(cls.name, data.name)
    trained = training.train(colorizer, data, seed=seed, console=console)

    checkpoint = None
    if colorizer.trainable:
        path, digest = checkpoints.save(
            colorizer, out_dir / "checkpoints" / run_id, run_id=run_id, dataset=data.name, profile=profile, seed=seed
        )
        checkpoint = {"path": str(path), "sha256": digest}

    scored = evaluate(colorizer, data.test, seed=seed, n_samples=n_samples)
    timing = speed.measure(colorizer, data, seed=seed)
    if not timing["training"].get("applicable", True) and timing["training"]["reason"].startswith("could not"):
        console.print(f"[yellow]warning:[/] {cls.name}: training speed {timing['training']['reason']}", highlight=False)
    result = {
        "schema_version": results.SCHEMA_VERSION,
        "run_id": run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "colorbench_version": colorbench.__version__,
        "git_commit": results.git_commit(),
        "machine": results.machine_info(device),
        "plugin": {
            "name": cls.name,
            "version": cls.version,
            "description": cls.description,
            "paper": cls.paper,
            "stochastic": cls.stochastic,
            "hint": cls.hint,
            "distribution": plugins.distribution_of(cls),
            "config": dataclasses.asdict(colorizer.config),
            "parameters": colorizer.n_parameters(),
        },
        "protocol": {
            "dataset": {
                "name": data.name,
                "split": "test",
                "size": data.size,
                "count": len(data.test),
                "scored": scored["scored"],
                "excluded": scored["excluded"]["count"],
                "excluded_ids": scored["excluded"]["ids"],
                "excluded_reason": scored["excluded"]["reason"],
                "card": data.card,
            },
            "evaluation": EVALUATION_RULE,
            "metrics": metrics.protocol(),
            "ci95": bootstrap.describe(),
            "diversity_samples": n_samples if cls.stochastic else None,
            "profile": profile,
            "seed": seed,
            "device": str(device),
        },
        "metrics": scored["metrics"],
        "ci95": scored["ci95"],
        "left_out_of_mean": scored["left_out_of_mean"],
        "not_computed": scored["not_computed"],
        "diversity": scored["diversity"],
        "speed": timing,
        "per_image": scored["per_image"],
        "training": trained,
        "evaluation": {"seconds": scored["seconds"]},
        "wall_seconds": round(time.perf_counter() - start, 3),
        "checkpoint": checkpoint,
    }
    result["file"] = str(results.write(result, out_dir))
    return result
