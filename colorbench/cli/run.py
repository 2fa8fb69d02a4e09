"""colorbench run: train a method (or load nothing, for a baseline), score it, store the result."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stderr, stdout, use_json, warn
from colorbench.results import DEFAULT_DIR


def diversity_threshold() -> float:
    from colorbench.diversity import NOISE_IGNORED_LPIPS

    return NOISE_IGNORED_LPIPS


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
    samples: Annotated[
        Optional[int],
        typer.Option(help="Samples per test image to measure a stochastic method's diversity (default: 3 at smoke, 8 otherwise).", min=1),
    ] = None,
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
    done = [
        runner.run(m, data, profile=profile.value, seed=seed, device=dev, out_dir=out, console=stderr, n_samples=samples)
        for m in methods
    ]

    def number(value, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def spread(r) -> str:
        d = r["diversity"]
        if not d["applicable"]:
            return "—"
        text = number(d["lpips"], 4) if d["lpips"] is not None else f"σab {d['ab_std']:.2f}"
        return text + ("!" if d["noise_ignored"] else "")

    def render():
        first = done[0]
        table = Table(
            "method", "PSNR ↑", "SSIM ↑", "LPIPS ↓", "CF", "ΔCF ↓", "diversity", "train s",
            title=f"{data.name}, {data.size} px, {first['protocol']['dataset']['scored']} test images "
            f"(CF of the truth {first['metrics']['colourfulness_gt']:.2f})",
            title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
        )
        for r in done:
            m = r["metrics"]
            name = r["plugin"]["name"] + (" (hint)" if r["plugin"].get("hint") else "")
            table.add_row(
                escape(name), number(m["psnr"], 2), f"{m['ssim']:.4f}", number(m["lpips"], 4), f"{m['colourfulness']:.2f}",
                f"{m['delta_colourfulness']:.2f}", spread(r), f"{r['training']['seconds']:.1f}",
            )
        stdout.print(table)
        stochastic = [r for r in done if r["diversity"]["applicable"]]
        notes = ["Means over the test images; intervals, per-image values, speed: the result file."]
        if stochastic:
            notes.append(
                f"diversity: mean LPIPS between {stochastic[0]['diversity']['samples']} samples per image; "
                f"! = noise ignored (< {diversity_threshold()})."
            )
        if any(r["plugin"].get("hint") for r in done):
            notes.append("(hint): given a hint at test time.")
        for note in notes:
            stdout.print(note, highlight=False)
        excluded = first["protocol"]["dataset"]["excluded"]
        if excluded:
            stdout.print(f"{excluded} grayscale test image(s) excluded from scoring.")
        for r in done:
            if left := r.get("left_out_of_mean", {}).get("psnr"):
                stdout.print(f"{r['plugin']['name']}: {left['count']} image(s) identical to the truth left out of the PSNR mean (PSNR = +inf).")
            if reason := r.get("not_computed", {}).get("lpips"):
                stdout.print(f"{r['plugin']['name']}: LPIPS not computed: {escape(reason)}")
            if r["diversity"].get("noise_ignored"):
                stdout.print(f"{r['plugin']['name']}: its samples barely differ: the method ignores its noise.")
        for r in done:
            stdout.print(f"result: {r['file']}" + (f"\ncheckpoint: {r['checkpoint']['path']}" if r["checkpoint"] else ""), highlight=False)

    emit({"results": [{k: v for k, v in r.items() if k != "per_image"} for r in done]}, json_output, render)
