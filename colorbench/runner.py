"""One benchmark run: train the method, or load its weights (a checkpoint, published
weights; nothing, for a baseline), colourize the test set, score it, and write the
result file with its full protocol. How the run is made is one `RunSettings`."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.text import Text

from colorbench import devices, plugins
from colorbench.methods import settings
from colorbench.reporting import results, samples
from colorbench.scoring import diversity, selection, speed
from colorbench.training import checkpoints, distributed, trainer as training
from colorbench.methods.colorizer import Colorizer
from colorbench.data.datasets import Dataset, NoTrainingImages
from colorbench.errors import UsageError, UserError
from colorbench.run_settings import Checkpoint, Published, RunSettings, WeightsSource
from colorbench.weights import published
from colorbench.scoring.evaluate import BATCH_SIZE, FULL_RESOLUTION, SAMPLE_BYTES, evaluate

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


def check(cls: type[Colorizer], data: Dataset, run_settings: RunSettings) -> None:
    """What would make `run` fail, found before any training: settings the method
    cannot work with (`check_settings`), weights to load that cannot be had or do
    not fit (`check_loaded`), a batch larger than the training set, a training
    state or a stochastic method's samples larger than the device's free memory."""
    profile, device, n_samples = run_settings.profile, run_settings.device, run_settings.n_samples
    overrides = dict(run_settings.overrides)
    if (source := weights_source(cls, run_settings)) is not None:
        colorizer = check_loaded(cls, data, source)
    else:
        colorizer = check_settings(cls, profile=profile, size=data.size, overrides=overrides, train_data=data.train)
    free = devices.free_memory(device)
    k = diversity.samples_for(profile) if n_samples is None else n_samples
    batch_of_samples = k * min(BATCH_SIZE, len(data.test)) * data.size**2 * SAMPLE_BYTES if cls.stochastic and k >= 2 else 0
    if free is not None and batch_of_samples > free:
        raise UsageError(
            f"{k} samples per test image (--samples) of {cls.name} take about {batch_of_samples / 2**30:.1f} GiB for a batch of "
            f"{min(BATCH_SIZE, len(data.test))} test images at {data.size}x{data.size}; {device} has {free / 2**30:.1f} GiB free: ask for fewer"
        )
    if not colorizer.trainable or source is not None:
        return
    error = UsageError if overrides else UserError  # the user's setting, or the data and the profile's
    batch, items = colorizer.config.batch_size, len(data.train)
    if (processes := distributed.world().size) > 1 and batch % processes:
        raise UsageError(
            f"{cls.name}'s batch_size {batch} (profile {profile}) does not split evenly over {processes} processes: it is the "
            f"global batch; run it alone with --set batch_size=N, N a multiple of {processes}, or on a number of processes that divides {batch}"
        )
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


def check_settings(cls: type[Colorizer], *, profile: str, size: int, overrides: dict, train_data) -> Colorizer:
    """Build the method with ``overrides``, prepare its training on ``train_data``
    (a loss network's weights too), make its optimisers and colourize one blank image, on the CPU: a setting it cannot work
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
    if colorizer.trainable and isinstance(train_data, NoTrainingImages):  # a published test set without its training set
        raise UserError(f"{cls.name} trains, and this dataset has no training images: {train_data.reason}")
    try:
        if colorizer.trainable:
            colorizer.prepare_training(train_data)
            training.Trainer(colorizer)  # its optimisers and schedulers
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

def seed_matters(cls: type[Colorizer], data: Dataset, run_settings: RunSettings) -> bool:
    """Whether another seed can give ``cls`` other numbers: it draws noise, or its
    weights are not loaded but initialised from the seed (trained or not); gray has none."""
    if cls.stochastic:
        return True
    if weights_source(cls, run_settings) is not None:
        return False
    return any(True for _ in cls.from_profile(run_settings.profile, size=data.size, **dict(run_settings.overrides)).nets.parameters())


def weights_source(cls: type[Colorizer], run_settings: RunSettings) -> WeightsSource | None:
    """Where ``cls``'s weights come from in this run: ``run_settings.weights``; for a
    method that trains nothing but has published weights, its default ones; else
    None: it is trained (or, a baseline, has none)."""
    if run_settings.weights is not None:
        return run_settings.weights
    return Published() if published.loads_by_default(cls, run_settings.profile) else None


def load(cls: type[Colorizer], source: WeightsSource, *, device: torch.device | str, size: int) -> tuple[Colorizer, dict]:
    """``cls`` with the weights ``source`` names, on ``device``, and what the result
    records of them (the ``loaded`` part of its ``training``). They must work at
    ``size``, the run's working size."""

    def refuse_at(their_size: int, where: str) -> None:
        if their_size != size:
            raise UsageError(
                f"{cls.name} from {where} works at {their_size}x{their_size}, not at this run's {size}x{size}: "
                f"run it alone with --size {their_size} (or without --size)"
            )

    if isinstance(source, Checkpoint):
        colorizer, record = checkpoints.load_recorded(source.path, plugin=cls.name, device=device)
        refuse_at(colorizer.size, f"checkpoint {source.path}")
        return colorizer, record
    name, declared = published.choose(cls, source.name)
    refuse_at(declared.size, f"its published weights {name!r}")  # before any download
    colorizer, record = published.load(cls, name, file=source.file, device=device)
    return colorizer, {"from": "published", **record}


def check_loaded(cls: type[Colorizer], data: Dataset, source: WeightsSource) -> Colorizer:
    """Load the weights as `run` will (every check it makes, a download included)
    and colourize one blank image with them, on the CPU. Returns the method so loaded."""
    colorizer, _ = load(cls, source, device="cpu", size=data.size)
    size = data.size
    try:
        colorizer.colorize(torch.zeros(1, 1, size, size), reference=torch.zeros(1, 2, size, size) if cls.hint else None)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{cls.name} cannot colourize with the weights it loads: {settings.reason(e)}") from None
    return colorizer


def run(cls: type[Colorizer], data: Dataset, run_settings: RunSettings, *, console: Console):
    """Run ``cls`` on ``data`` as ``run_settings`` say and write its result into its
    ``out_dir``; returns the result as its file is read (`results.as_read`: a
    `schemas.ScoredRun` or `schemas.DivergedRun`).

    The method is trained, or (``weights``, or a method that trains nothing but has
    published weights) loaded and not trained: its ``training`` record then says
    what was ``loaded``. A run that diverges is written with status "diverged"
    and no scores."""
    profile, seed, device, out_dir = run_settings.profile, run_settings.seed, run_settings.device, Path(run_settings.out_dir)
    overrides = dict(run_settings.overrides)
    n_samples = diversity.samples_for(profile) if run_settings.n_samples is None else run_settings.n_samples
    source = weights_source(cls, run_settings)
    if not distributed.world().main and source is not None:
        return None  # on several processes, the others only train
    start = time.perf_counter()
    commit = results.git_commit()  # the code that runs, not what the tree holds when it ends
    training.seed_everything(seed)
    if source is None:
        colorizer = cls.from_profile(profile, size=data.size, **overrides).to(device)
        if not distributed.world().main and not colorizer.trainable:
            return None
    else:
        colorizer, loaded = load(cls, source, device=device, size=data.size)
    config = dataclasses.asdict(colorizer.config)
    try:  # known now, not after training: a diverged run's result must be writable too
        results.dumps({"config": config})
    except (TypeError, ValueError) as e:
        raise UserError(f"{cls.name}'s config cannot be recorded in a result ({e}): every setting must be finite JSON") from None
    if source is None:
        run_id, trained = _train(colorizer, data, run_settings, config=config, console=console)
        if not distributed.world().main:
            return None  # rank 0 writes and scores
    else:
        run_id = results.new_run_id(cls.name, data.name)
        trained = {"status": "ok", "steps": 0, "images_seen": 0, "seconds": 0.0, "phases": [], "loaded": loaded}
    result = results.for_run(
        run_id=run_id,
        status=trained["status"],
        commit=commit,
        device=device,
        plugin={
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
        dataset={"name": data.name, "split": "test", "size": data.size, "test_size": data.test_size, "count": len(data.test), "card": data.card,
                 **({"photo_of": data.photo_of} if data.photo_of else {})},
        evaluation=EVALUATION_RULE if data.test_size == data.size else FULL_RESOLUTION.format(test=data.test_size, size=data.size),
        diversity_samples=n_samples if cls.stochastic else None,
        profile=profile,
        overrides=overrides or {},
        seed=seed,
        training=trained,
        metrics=scored_metrics(run_settings),
    )
    if trained["status"] == "diverged":  # no scores: a NaN never reaches a result as a number
        result["diverged"] = trained["diverged"]
        result["wall_seconds"] = round(time.perf_counter() - start, 3)
        return results.as_read(result, results.write(result, out_dir))

    if source is None and colorizer.trainable:
        path, digest = checkpoints.save(
            colorizer, Path(out_dir) / "checkpoints" / run_id, run_id=run_id, dataset=data.name, profile=profile, seed=seed
        )
        result["checkpoint"] = {"path": str(path), "sha256": digest}

    try:
        _score(result, colorizer, data, seed=seed, n_samples=n_samples, out_dir=Path(out_dir), console=console, metrics=scored_metrics(run_settings),
               workers=run_settings.workers)
    except BaseException as e:
        for name in (f"{run_id}.png", f"{run_id}-samples.png"):  # pictures of a result never written
            (Path(out_dir) / "samples" / name).unlink(missing_ok=True)
        if isinstance(e, Exception) and result["checkpoint"]:  # hours of training are not thrown away
            raise UserError(f"{one_line(e)}; the trained weights are kept: {result['checkpoint']['path']}") from e
        raise
    result["wall_seconds"] = round(time.perf_counter() - start, 3)
    return results.as_read(result, results.write(result, out_dir))


def _train(colorizer: Colorizer, data: Dataset, run_settings: RunSettings, *, config: dict, console: Console) -> tuple[str, dict]:
    """Train ``colorizer`` (continuing an unfinished run started the same way, with
    ``resume``); returns the run's id and what its result records of the training."""
    cls, out_dir, resume = type(colorizer), Path(run_settings.out_dir), run_settings.resume
    identity = {
        "plugin": cls.name, "plugin_version": cls.version, "dataset": data.name, "size": data.size,
        "profile": run_settings.profile, "seed": run_settings.seed, "config": config,
        # other numbers than the defaults': never continued by a run made otherwise
        **({"precision": run_settings.precision} if run_settings.precision != "fp32" else {}),
        **({"loader": "workers"} if run_settings.workers else {}),
        **({"world_size": world.size} if (world := distributed.world()).distributed else {}),
        **{flag: True for flag in ("channels_last", "compile") if getattr(run_settings, flag)},
    }
    run_id, nearest = _unfinished(out_dir, identity) if resume and world.main else (None, "")
    if resume and run_id is None and colorizer.trainable:
        console.print(
            f"{cls.name}: nothing to resume in {out_dir} for this dataset, profile, seed and config"
            + (f" (the unfinished run {nearest})" if nearest else "") + ": starting a new run",
            highlight=False,
        )
    run_id = run_id or results.new_run_id(cls.name, data.name)
    if world.distributed and colorizer.trainable:  # rank 0's, whose disk holds the states; the others wait here while it scores a method
        distributed.init(colorizer.device)
        run_id = distributed.from_main(run_id)
    state_path = Path(out_dir) / "checkpoints" / f"{run_id}-training"
    try:
        trained = training.train(
            colorizer, data, seed=run_settings.seed, console=console, state_path=state_path, checkpoint_every=run_settings.checkpoint_every,
            resume=resume, run={"run_id": run_id, **identity}, workers=run_settings.workers, precision=run_settings.precision,
            channels_last=run_settings.channels_last, compile=run_settings.compile,
        )
    except Exception as e:  # not a user error (a damaged state to resume from says so itself)
        if not isinstance(e, UserError) and checkpoints.training_state_json(state_path).is_file():  # written whole, for this
            raise UserError(f"{one_line(e)}; its last saved training state is kept: --resume continues from it") from e
        raise
    return run_id, trained


def one_line(error: Exception) -> str:
    """One line: a user error as it is, anything else with its type."""
    return str(error).splitlines()[0] if isinstance(error, UserError) and str(error) else settings.reason(error)


def scored_metrics(run_settings: RunSettings) -> dict:
    """{name: Metric} a run is scored with: those ``run_settings`` name, or the default."""
    if run_settings.metrics is None:
        return selection.select()
    return {n: m for n, m in plugins.metrics().items() if n in run_settings.metrics}


def _score(
    result: dict, colorizer: Colorizer, data: Dataset, *, seed: int, n_samples: int, out_dir: Path, console: Console, metrics: dict, workers: int = 0
) -> None:
    """Colourize and score the test set (read by ``workers`` processes), time the method and save its sample pictures, into ``result``."""
    cls, run_id = type(colorizer), result["run_id"]
    scored = evaluate(colorizer, data.test, seed=seed, n_samples=n_samples, metrics=metrics, photo_of=data.photo_of, workers=workers)
    timing = speed.measure(colorizer, data, seed=seed)
    if not timing["training"].get("applicable", True) and timing["training"]["reason"].startswith("could not"):
        console.print(Text.assemble(("warning:", "yellow"), f" {cls.name}: training speed {timing['training']['reason']}"), highlight=False)
    results.add_scores(result, scored)
    if "native_output" in scored:
        result["native_output"] = scored["native_output"]
    result.update(
        diversity=scored["diversity"],
        speed=timing,
        samples=samples.save(colorizer, data.test, out_dir=out_dir, run_id=run_id, seed=seed, n_samples=n_samples),
    )
