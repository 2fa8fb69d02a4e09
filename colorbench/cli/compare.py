"""colorbench compare: the paired difference B - A of two results, or of two methods' groups of seeds, on the same images."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stdout, use_json
from colorbench.reporting.results import DEFAULT_DIR


def compare(
    result_a: Annotated[str, typer.Argument(help="A: a result file (from `run`, or `score --out`), several of one method's seeds "
                                            "(comma-separated), or a method's name: its row in --results.", show_default=False)],
    result_b: Annotated[str, typer.Argument(help="B, the same way, scored under the same protocol.", show_default=False)],
    results_dir: Annotated[Path, typer.Option("--results", help="Where a method named by name has its results.")] = DEFAULT_DIR,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="With names: the dataset whose table they are compared in.", show_default=False)] = None,
    json_output: JsonOption = False,
) -> None:
    """Paired difference B - A of every metric, image by image, with a bootstrap 95% interval.

    A method's results with several training seeds (`run --seeds`) are compared as
    groups: each side's seeds resampled apart, the test photos together, so the
    interval covers training too. Refuses results scored under different protocols
    (dataset, split, size, test images, metric versions)."""
    from colorbench.scoring import paired_comparison

    use_json(json_output)
    a, b = (side(text, results_dir, dataset) for text in (result_a, result_b))
    found = paired_comparison.compare(a, b)
    found = {"a": files(a), "b": files(b), **found}

    def name_of(runs) -> str:
        plugin = getattr(runs[0], "plugin", None)  # a `score` output has none
        name = plugin.name if plugin and plugin.name else Path(runs[0]._path).name
        return name + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")

    def number(v) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    def render():
        title = f"B - A on {found['images']} image(s): A = {name_of(a)}, B = {name_of(b)}"
        table = Table(
            "metric", "A", "B", "B - A", "95% interval", "better", title=title, title_justify="left",
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
        )
        for name, m in found["metrics"].items():
            ci = m["ci95"]
            table.add_row(
                name, number(m["a"]), number(m["b"]), number(m["difference"]),
                "" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]", m["better"].split(" (")[0],
            )
        stdout.print(table)
        stdout.print(f"Intervals: {found['bootstrap']['method']}.", highlight=False)
        stdout.print("better: the interval excludes 0 in that method's favour; neither: it contains 0.", highlight=False)

    emit(found, json_output, render)


def files(runs: list) -> str | list[str]:
    """A side's file, or its files when it is a group of seeds."""
    return runs[0]._path if len(runs) == 1 else [r._path for r in runs]


def side(text: str, results_dir: Path, dataset: Optional[str]) -> list:
    """One side of a comparison: result files (one, or a method's seeds, comma-separated),
    or a method's name: the results of its row in ``results_dir`` (`colorbench.reporting.groups`)."""
    from colorbench.errors import UsageError, UserError
    from colorbench.reporting import groups, results
    from colorbench.scoring import paired_comparison

    paths = [Path(p) for p in text.split(",") if p]
    if "," in text or Path(text).suffix == ".json" or Path(text).exists():
        runs = [paired_comparison.read(p) for p in paths]
        for run, path in zip(runs, paths):
            run._path = str(path)
        return runs
    if not results_dir.is_dir():
        raise UsageError(f"{text!r} is no result file, and --results {results_dir} is no folder to find the method {text!r} in")
    found = groups.groups(results.read_all(results_dir))
    rows = {key: runs for key, runs in found.items() if key[1] == text and (dataset is None or runs[-1].protocol.dataset.name == dataset)}
    if not rows:
        raise UserError(f"no results of {text!r}{f' on {dataset}' if dataset else ''} in {results_dir} (a method's name, or a result file)")
    if len(rows) > 1:
        tables = sorted({f"{runs[-1].protocol.dataset.name} (profile {key[2]})" for key, runs in rows.items()})
        raise UsageError(f"{text!r} has results in {len(rows)} tables of {results_dir}: {'; '.join(tables)}; choose one with --dataset")
    return next(iter(rows.values()))
