"""Making a study: draw photos (seeded), gather each method's colourization of them,
and write the study folder, all or nothing.

Two sources: folders (a folder of real photos and one folder of colourized
outputs per method, paired by relative path without the suffix, as
`colorbench score` pairs them), or stored results (each method's latest run on
one dataset: its checkpoint colourizes the chosen test images, as `run` scored
them). Every image is decoded by `colorbench.data.image_reading` (hostile files
are refused) and written again as a PNG under an opaque id, so neither a name nor
a file format tells real from fake.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import colorbench
from colorbench.errors import UsageError, UserError
from colorbench.study import manifest as study_manifest
from colorbench.study.protocol import Protocol

DEFAULT_IMAGES = 100
MAX_DEFAULT_TRIALS = 40
VIGILANCE_RULE = (
    "the real photo's L with false colours: hue turning with lightness (one and a half turns from black to white), "
    "chroma 60 (CIE Lab): obviously fake whatever the photo"
)


@dataclass
class Drawn:
    """The photos chosen, as PNG-ready arrays, and what was left out on the way."""

    photos: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = field(default_factory=list)  # (source, real, {method: fake})
    left_out: list[str] = field(default_factory=list)  # "source: why" (grayscale ground truth)


def _problem_error(problems: list[str], what: str) -> UserError:
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return UserError(f"{len(problems)} problem(s) with {what}, no study made: {shown}")


def _is_gray(rgb: np.ndarray) -> bool:
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def draw_from_folders(real: Path, methods: dict[str, Path], *, images: int, seed: int) -> Drawn:
    """``images`` photos of ``real``, drawn in a seeded order, with each method's output of them."""
    from colorbench.data.image_reading import UnreadableImage, load_rgb
    from colorbench.scoring.folder_scoring import Problems, images_by_key

    for folder, what in ((real, "--real"), *((path, f"--method {name}=") for name, path in methods.items())):
        if not Path(folder).is_dir():
            raise UsageError(f"{what}{folder}: no such folder")
    problems = Problems()
    truth = images_by_key(real, problems)
    outputs = {name: images_by_key(path, problems) for name, path in methods.items()}
    for name, found in outputs.items():
        problems.missing += [f"{truth[k]}: no {name} output {methods[name] / k}.*" for k in sorted(truth.keys() - found.keys())]
        problems.extra += [f"{found[k]}: no real photo {real / k}.*" for k in sorted(found.keys() - truth.keys())]
    if not truth and not problems.count():
        raise UserError(f"no images in --real {real}")
    if problems.count():
        raise _problem_error([item for items in problems.as_dict().values() for item in items], "the folders")

    order = sorted(truth)
    random.Random(seed).shuffle(order)
    drawn, bad = Drawn(), []
    for key in order:
        if len(drawn.photos) == images:
            break
        try:
            photo = load_rgb(truth[key])
            fakes = {name: load_rgb(found[key]) for name, found in outputs.items()}
        except UnreadableImage as e:
            bad.append(f"{key}: {e}")
            continue
        if sizes := [f"{name} {f.shape[1]}x{f.shape[0]}" for name, f in fakes.items() if f.shape != photo.shape]:
            bad.append(f"{key}: real {photo.shape[1]}x{photo.shape[0]}, " + ", ".join(sizes))
        elif _is_gray(photo):
            drawn.left_out.append(f"{truth[key]}: grayscale (no colour to judge)")
        else:
            drawn.photos.append((truth[key].relative_to(real).as_posix(), photo, fakes))
    if bad:
        raise _problem_error(bad, "the images drawn")
    return drawn


def latest_runs(results_dir: Path, methods: list[str], dataset: str | None, warn) -> list:
    """Each method's latest scored run in ``results_dir`` (on ``dataset`` if named); all on one dataset and size."""
    from colorbench.reporting import results
    from colorbench.reporting.schemas import ScoredRun

    if not Path(results_dir).is_dir():
        raise UsageError(f"--results {results_dir}: no such folder")
    runs = [r for r in results.read_all(results_dir, warn=warn) if isinstance(r, ScoredRun) and r.status == "ok"]
    chosen = []
    for name in methods:
        found = [r for r in runs if r.plugin.name == name and (dataset is None or r.protocol.dataset.name == dataset)]
        if not found:
            on = f" on {dataset}" if dataset else ""
            raise UserError(f"no scored run of {name}{on} in {results_dir}: run `colorbench run --plugin {name} --out {results_dir}` first")
        chosen.append(max(found, key=lambda r: r.created))
    shapes = {(r.protocol.dataset.name, r.protocol.dataset.size) for r in chosen}
    if len(shapes) > 1:
        listed = ", ".join(f"{r.plugin.name}: {r.protocol.dataset.name} at {r.protocol.dataset.size} px" for r in chosen)
        raise UsageError(f"the latest runs are on different datasets or sizes ({listed}): pass --dataset NAME")
    for r in chosen:
        if r.plugin.hint:
            raise UsageError(f"{r.plugin.name} is given a hint ({r.plugin.hint}) at test time: a study compares automatic colourizations")
    return chosen


def _colorizer(run, results_dir: Path, device):
    from colorbench import plugins
    from colorbench.training import checkpoints

    if run.checkpoint is not None:
        path = Path(results_dir) / "checkpoints" / Path(run.checkpoint.path).name  # where `run --out` keeps it
        if not path.is_file():
            raise UserError(f"{run.plugin.name}: its checkpoint {path} is missing (result {run._path})")
        colorizer, record = checkpoints.load_recorded(path, plugin=run.plugin.name, device=device)
        if record["sha256"] != run.checkpoint.sha256:
            raise UserError(f"{path} is not the checkpoint result {run._path} was scored with (its sha256 differs)")
        return colorizer, {"checkpoint": str(path), "checkpoint_sha256": record["sha256"]}
    colorizer = plugins.get_colorizer(run.plugin.name).from_profile(run.protocol.profile, size=run.protocol.dataset.size).to(device)
    if colorizer.n_parameters():
        raise UserError(f"{run.plugin.name}: result {run._path} kept no checkpoint, so its colourizations cannot be made again")
    return colorizer, {"checkpoint": None}


def draw_from_results(runs: list, results_dir: Path, *, images: int, seed: int, data_dir: Path | None, device) -> tuple[Drawn, list[dict]]:
    """``images`` test images of the runs' dataset, drawn in a seeded order, each colourized by every run's checkpoint."""
    from colorbench.data import datasets
    from colorbench.methods.colorize_files import colorize_array
    from colorbench.scoring.metrics import to_uint8

    first = runs[0].protocol
    data = datasets.load(first.dataset.name, size=first.dataset.size, data_dir=data_dir, seed=first.seed)
    loaded = [_colorizer(r, results_dir, device) for r in runs]
    order = list(range(len(data.test)))
    random.Random(seed).shuffle(order)
    drawn = Drawn()
    for index in order:
        if len(drawn.photos) == images:
            break
        image, image_id = data.test[index]
        real = to_uint8(image).permute(1, 2, 0).cpu().numpy()
        if _is_gray(real):
            drawn.left_out.append(f"{image_id}: grayscale (no colour to judge)")
            continue
        fakes = {r.plugin.name: colorize_array(c, real, seed=seed) for r, (c, _) in zip(runs, loaded)}
        drawn.photos.append((image_id, real, fakes))
    methods = [
        {"name": r.plugin.name, "run_id": getattr(r, "run_id", None), "result": r._path, "dataset": r.protocol.dataset.name,
         "size": r.protocol.dataset.size, "noise_seed": seed, **source}
        for r, (_, source) in zip(runs, loaded)
    ]
    return drawn, methods


def vigilance_fake(rgb: np.ndarray) -> np.ndarray:
    """The photo's own lightness with false colours no photo has (`VIGILANCE_RULE`)."""
    import torch

    from colorbench.data.datasets import to_float
    from colorbench.lab import AB_SCALE, normalized_lightness, normalized_to_rgb
    from colorbench.scoring.metrics import to_uint8

    L = normalized_lightness(to_float(rgb)[None])
    hue = (L + 1) / 2 * 3 * torch.pi
    ab = torch.cat([hue.cos(), hue.sin()], dim=1) * (60 / AB_SCALE)
    return to_uint8(normalized_to_rgb(L, ab))[0].permute(1, 2, 0).numpy()


def fit_protocol(protocol: Protocol, trials: int | None, photos: int) -> Protocol:
    """The protocol with its number of test pairs: ``trials``, or by default as many as
    the photos allow (at most 40); refused when the photos cannot hold it."""
    from dataclasses import replace

    room = photos - protocol.practice - protocol.vigilance
    if trials is None:
        trials = min(MAX_DEFAULT_TRIALS, room)
    if trials < 1 or trials > room:
        raise UsageError(
            f"{photos} photo(s) cannot hold {protocol.practice} practice, {max(trials, 1)} test and {protocol.vigilance} vigilance "
            f"pairs without showing a photo twice: draw more --images, or ask for fewer --trials/--practice/--vigilance"
        )
    return replace(protocol, trials=trials)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def write_study(out: Path, drawn: Drawn, *, methods: list[dict], protocol: Protocol, seed: int, title: str, source: dict) -> dict:
    """Write the study folder ``out`` (all or nothing); returns its manifest."""
    from colorbench import outputs

    rng = random.Random(f"study ids {seed}")  # seeded: the same draw makes the same study
    used: set[str] = set()

    def new_id() -> str:
        while (token := f"{rng.getrandbits(80):020x}") in used:
            pass
        used.add(token)
        return token

    files: dict[str, bytes] = {}

    def add(rgb: np.ndarray) -> str:
        token = new_id()
        files[f"{study_manifest.IMAGES}/{token}.png"] = _png(rgb)
        return token

    photos = []
    for name, real, fakes in drawn.photos:
        photos.append({
            "id": new_id(), "source": name, "real": add(real),
            "fakes": {m["name"]: add(fakes[m["name"]]) for m in methods}, "vigilance": add(vigilance_fake(real)),
        })
    manifest = {
        "format": study_manifest.FORMAT,
        "format_version": study_manifest.FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "colorbench_version": colorbench.__version__,
        "title": title,
        "seed": seed,
        "protocol": protocol.record(),
        "source": source | {"left_out": drawn.left_out, "draw": "photos shuffled with Python's random.Random(seed), the first that can be judged taken",
                            "vigilance": VIGILANCE_RULE},
        "methods": methods,
        "photos": photos,
    }
    study_manifest.Manifest.model_validate(manifest)  # what is written is what `open_study` accepts
    files[study_manifest.MANIFEST] = json.dumps(manifest, indent=1).encode()
    outputs.write_folder(out, files)
    return manifest
