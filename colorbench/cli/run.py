"""colorbench run: train a method (or load nothing, for a baseline), score it, store the result."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stderr, stdout, use_json, warn
from colorbench.results import DEFAULT_DIR


class Profile(str, Enum):
    smoke = "smoke"
    quick = "quick"
    full = "full"


def run(
    plugin: Annotated[str, typer.Option("--plugin", "-p", help="The method to run; see `colorbench list`.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="builtin, folder:PATH or cifar10.")] = "builtin",
    profile: Annotated[
        Profile, typer.Option(help="Training budget: smoke (seconds), quick (minutes on a CPU), full (the paper's scale).")
    ] = Profile.quick,
    seed: Annotated[int, typer.Option(help="Seeds weights, noise and crops: a CPU run is repeatable.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")] = "auto",
    size: Annotated[Optional[int], typer.Option(help="Working size in pixels (a power of two); default: the dataset's.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Where a downloadable dataset is (or goes).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for result files and checkpoints.")] = DEFAULT_DIR,
    baseline: Annotated[bool, typer.Option(help="Also score the zero-chroma `gray` baseline on the same images.")] = True,
    json_output: JsonOption = False,
) -> None:
    """Train or load a method on a dataset, score it beside the gray baseline, and store the result."""
    from colorbench import datasets, devices, plugins, runner

    use_json(json_output)
    cls = plugins.get_colorizer(plugin)
    methods = [cls] + ([plugins.get_colorizer("gray")] if baseline and cls.name != "gray" else [])
    dev = devices.pick(device)
    data = datasets.load(dataset, size=size, data_dir=data_dir, seed=seed)
    if skipped := data.card.get("unreadable_skipped"):
        warn(f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    stderr.print(
        f"{data.name}: {len(data.train)} training items, {len(data.test)} test images at {data.size}x{data.size}; "
        f"profile {profile.value}, seed {seed}, device {dev}",
        highlight=False,
    )
    done = [runner.run(m, data, profile=profile.value, seed=seed, device=dev, out_dir=out, console=stderr) for m in methods]

    def render():
        table = Table("method", "PSNR ↑", "SSIM ↑", "CF", "CF (truth)", "ΔCF ↓", "train s", title=f"{data.name}, {data.size} px, {done[0]['protocol']['dataset']['scored']} test images")
        for r in done:
            m = r["metrics"]
            table.add_row(
                escape(r["plugin"]["name"]), f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['colourfulness']:.2f}",
                f"{m['colourfulness_gt']:.2f}", f"{m['delta_colourfulness']:.2f}", f"{r['training']['seconds']:.1f}",
            )
        stdout.print(table)
        excluded = done[0]["protocol"]["dataset"]["excluded"]
        if excluded:
            stdout.print(f"{excluded} grayscale test image(s) excluded from scoring.")
        for r in done:
            stdout.print(f"result: {r['file']}" + (f"\ncheckpoint: {r['checkpoint']['path']}" if r["checkpoint"] else ""), highlight=False)

    emit({"results": [{k: v for k, v in r.items() if k != "per_image"} for r in done]}, json_output, render)
