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
from colorbench import devices, plugins
from colorbench.methods import settings
from colorbench.reporting import results, samples
from colorbench.scoring import bootstrap, diversity, metrics, speed
from colorbench.training import checkpoints, trainer as training
from colorbench.methods.colorizer import Colorizer
from colorbench.data.datasets import Dataset
from colorbench.errors import UsageError, UserError
from colorbench.scoring.evaluate import BATCH_SIZE, SAMPLE_BYTES, evaluate

EVALUATION_RULE = (
    "ground truth quantised to 8-bit sRGB; the method sees its L (CIE Lab, D65) at the working size; "
    "its ab is joined with that same L and both images are compared as 8-bit sRGB"
)


def _unfinished(out_dir: Path, identity: dict) -> tuple[str | None, str]:
    """(the newest unfinished run in ``out_dir`` started the same way, or None; and
    else how the newest unfinished run of the same method was started otherwise)."""
    states = sorted((Path(out_dir) / "checkpoints").glob("*-training.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    nearest = ""
    for path in states:
        record = checkpoints.read_training_run(path)
        if not record or record.get("plugin") != identity["plugin"]:
            continue
        started = {k: v for k, v in record.items() if k != "run_id"}
        if started == identity:
            return record["run_id"], ""
        if not nearest:
            nearest = f"{record.get('run_id')} was started with " + ", ".join(_differences(started, identity))
    return None, nearest


def _differences(started: dict, now: dict) -> list[str]:
    """"seed 1 (not 0)", "ngf 64 (not 4)": how a run was started, where it differs from now."""
    found = []
    for key in sorted(started.keys() | now.keys()):
        was, is_ = started.get(key), now.get(key)
        if key == "config" and isinstance(was, dict) and isinstance(is_, dict):
            found += [f"{k} {was.get(k)} (not {is_.get(k)})" for k in sorted(was.keys() | is_.keys()) if was.get(k) != is_.get(k)]
        elif was != is_:
            found.append(f"{key} {was} (not {is_})")
    return found


TRAINING_COPIES = 8
"""Floats held per trained parameter at a run's peak: the weight, its gradient and
Adam's two moments (every built-in method's optimiser), twice over while the
training speed is measured on a copy of the trained method (`speed.training_speed`)."""


def check(
    cls: type[Colorizer], data: Dataset, *, profile: str, device: torch.device, overrides: dict | None = None, n_samples: int | None = None
) -> None:
    """What would make `run` fail, found before any training: settings the method
    cannot work with (`check_settings`), a batch larger than the training set, a
    training state or a stochastic method's samples larger than the device's free memory."""
    overrides = overrides or {}
    colorizer = check_settings(cls, profile=profile, size=data.size, overrides=overrides)
    free = devices.free_memory(device)
    k = diversity.samples_for(profile) if n_samples is None else n_samples
    batch_of_samples = k * min(BATCH_SIZE, len(data.test)) * data.size**2 * SAMPLE_BYTES if cls.stochastic and k >= 2 else 0
    if free is not None and batch_of_samples > free:
        raise UsageError(
            f"{k} samples per test image (--samples) of {cls.name} take about {batch_of_samples / 2**30:.1f} GiB for a batch of "
            f"{min(BATCH_SIZE, len(data.test))} test images at {data.size}x{data.size}; {device} has {free / 2**30:.1f} GiB free: ask for fewer"
        )
    if not colorizer.trainable:
        return
    error = UsageError if overrides else UserError  # the user's setting, or the data and the profile's
    batch, items = colorizer.config.batch_size, len(data.train)
    if batch > items:  # every batch would be the whole set, smaller than the config says
        raise error(
            f"{cls.name}'s batch_size {batch} (profile {profile}) is more than the {items} training items of {data.name}: "
            f"add images, or run it alone with --set batch_size={items} or less"
        )
    weights = sum(p.numel() * p.element_size() for p in colorizer.nets.parameters() if p.requires_grad)
    if free is not None and TRAINING_COPIES * weights > free:
        raise error(
            f"{cls.name} ({colorizer.n_parameters():,} parameters{' with ' + settings.shown(overrides) if overrides else ''}) "
            f"needs at least {TRAINING_COPIES * weights / 2**30:.1f} GiB to train ({TRAINING_COPIES} floats per parameter); "
            f"{device} has {free / 2**30:.1f} GiB free"
        )


def check_settings(cls: type[Colorizer], *, profile: str, size: int, overrides: dict) -> Colorizer:
    """Build the method with ``overrides``, make its optimisers (a loss network's
    weights too) and colourize one blank image, on the CPU: a setting it cannot work
    with (a width of 0, a learning rate below 0, an unknown layer, negative steps)
    is a UsageError before any training, and what it needs but lacks (VGG weights
    offline) a UserError. Returns the method so built."""
    colorizer = cls.from_profile(profile, size=size, **overrides)

    def refused(why: str) -> UserError:
        if not overrides:  # the profile's own config: not the user's setting
            return UserError(f"{cls.name} cannot work at {size}x{size} (profile {profile}): {why}")
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
    except UserError as e:  # the method broke its contract (a wrong shape, NaN colours): say so as it is
        if not overrides:
            raise
        raise refused(str(e)) from None  # with settings given, they are the likely cause
    except Exception as e:
        raise refused(settings.reason(e)) from None
    return colorizer


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
    run_id, nearest = _unfinished(out_dir, identity) if resume else (None, "")
    if resume and run_id is None and colorizer.trainable:
        console.print(
            f"{cls.name}: nothing to resume in {out_dir} for this dataset, profile, seed and config"
            + (f" (the unfinished run {nearest})" if nearest else "") + ": starting a new run",
            highlight=False,
        )
    run_id = run_id or results.new_run_id(cls.name, data.name)
    state_path = Path(out_dir) / "checkpoints" / f"{run_id}-training"
    try:
        trained = training.train(
            colorizer, data, seed=seed, console=console, state_path=state_path, checkpoint_every=checkpoint_every,
            resume=resume, run={"run_id": run_id, **identity},
        )
    except Exception as e:  # not a user error (a damaged state to resume from says so itself)
        if not isinstance(e, UserError) and checkpoints.training_state_json(state_path).is_file():  # written whole, for this
            raise UserError(f"{one_line(e)}; its last saved training state is kept: --resume continues from it") from e
        raise
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

    try:
        _score(result, colorizer, data, seed=seed, n_samples=n_samples, out_dir=Path(out_dir), console=console)
    except BaseException as e:
        for name in (f"{run_id}.png", f"{run_id}-samples.png"):  # pictures of a result never written
            (Path(out_dir) / "samples" / name).unlink(missing_ok=True)
        if isinstance(e, Exception) and result["checkpoint"]:  # hours of training are not thrown away
            raise UserError(f"{one_line(e)}; the trained weights are kept: {result['checkpoint']['path']}") from e
        raise
    result["wall_seconds"] = round(time.perf_counter() - start, 3)
    result["file"] = str(results.write(result, out_dir))
    return result


def one_line(error: Exception) -> str:
    """One line: a user error as it is, anything else with its type."""
    return str(error).splitlines()[0] if isinstance(error, UserError) and str(error) else settings.reason(error)


def _score(result: dict, colorizer: Colorizer, data: Dataset, *, seed: int, n_samples: int, out_dir: Path, console: Console) -> None:
    """Colourize and score the test set, time the method and save its sample pictures, into ``result``."""
    cls, run_id = type(colorizer), result["run_id"]
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
        samples=samples.save(colorizer, data.test, out_dir=out_dir, run_id=run_id, seed=seed, n_samples=n_samples),
        evaluation={"seconds": scored["seconds"]},
    )
