"""colorbench export: a dataset's test images, for a system that is not a plugin to colourize."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from colorbench.cli.output import JsonOption, emit, stderr, stdout, use_json


def export(
    dataset: Annotated[str, typer.Argument(help="builtin, cifar10:subset-6k, imagenet:val5k, ... (as `run --dataset`).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="A new folder: ground_truth/ and gray/ are written in it.", show_default=False)],
    data_dir: Annotated[Optional[Path], typer.Option(help="Where the dataset's files are.", show_default=False)] = None,
    size: Annotated[Optional[int], typer.Option(help="Working size, as for `run` (default: the dataset's).", show_default=False)] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a dataset's test images as colorbench scores them: OUT/ground_truth/ID.png, the
    8-bit sRGB ground truth, and OUT/gray/ID.png, its lightness as an 8-bit gray image
    (what a method is given). Colourize gray/ with another system, then
    `colorbench score OUT/ground_truth OUTPUTS --dataset DATASET --name NAME --paper "..."`
    puts it on the board."""
    from colorbench import outputs
    from colorbench.data import datasets, export as exporting

    use_json(json_output)
    outputs.check_folder(out, reads={f"--data-dir {data_dir}": data_dir} if data_dir else {})
    data = datasets.load(dataset, size=size, data_dir=data_dir)
    count = exporting.write(data, Path(out))
    stderr.print(f"{data.name}: {count} test image(s) written to {out}/ground_truth and {out}/gray", highlight=False)
    emit({"dataset": data.name, "count": count, "ground_truth": str(Path(out) / "ground_truth"), "gray": str(Path(out) / "gray")},
         json_output, lambda: stdout.print(str(out), highlight=False))
