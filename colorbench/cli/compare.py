"""colorbench compare: the paired difference B - A of two results on the same images."""

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stdout, use_json


def compare(
    result_a: Annotated[Path, typer.Argument(help="Result file A (from `run`, or `score --out`).", show_default=False)],
    result_b: Annotated[Path, typer.Argument(help="Result file B, scored the same way.", show_default=False)],
    json_output: JsonOption = False,
) -> None:
    """Paired difference B - A of every metric, image by image, with a bootstrap 95% interval.

    Refuses results scored under different protocols (dataset, split, size,
    test images, metric versions)."""
    from colorbench.scoring import paired_comparison

    use_json(json_output)
    a, b = paired_comparison.read(result_a), paired_comparison.read(result_b)
    found = paired_comparison.compare(a, b)
    found = {"a": str(result_a), "b": str(result_b), **found}

    def name_of(r, path: Path) -> str:
        plugin = getattr(r, "plugin", None)  # a `score` output has none
        return plugin.name if plugin and plugin.name else path.name

    def number(v) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    def render():
        title = f"B - A on {found['images']} image(s): A = {name_of(a, result_a)}, B = {name_of(b, result_b)}"
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
        stdout.print("better: the interval excludes 0 in that method's favour; neither: it contains 0.", highlight=False)

    emit(found, json_output, render)
