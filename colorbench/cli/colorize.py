"""colorbench colorize: colourize image files with a trained checkpoint, or a method's published weights."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from colorbench.cli.output import JsonOption, emit, exit_after_output, print_lines, stderr, use_json, warn
from colorbench.cli.run import MAX_SEED
from colorbench.errors import UsageError, UserError
from colorbench.outputs import NAMING_RULE


def colorize(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or directories of images.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help=f"Folder for the colourized PNGs, outside every input. {NAMING_RULE}")],
    plugin: Annotated[Optional[str], typer.Option("--plugin", "-p", help="The method (default: the checkpoint's).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Weights (.safetensors) saved by `colorbench run`.")] = None,
    weights: Annotated[
        Optional[str], typer.Option(help="The --plugin's published weights of this name (default: its first, if it declares any).")
    ] = None,
    weights_file: Annotated[
        Optional[Path], typer.Option(help="A downloaded copy of those published weights: checked against their sha256, then cached.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    seed: Annotated[int, typer.Option(help="Noise seed for stochastic methods.", min=0, max=MAX_SEED)] = 0,
    reference: Annotated[
        Optional[Path], typer.Option(help="For a method with a hint (histogram_cgan): the image whose colours every input gets.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace outputs that already exist in --out.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Colourize images of any size (colour input is reduced to its L first); PNGs at the input's size.

    Nothing is written if --out is, contains or lies inside an input, if
    two images would get one output name, or if an output already exists
    (unless --overwrite)."""
    from colorbench import devices, outputs, plugins
    from colorbench.methods import colorize_files as images
    from colorbench.training import checkpoints
    from colorbench.weights import published

    use_json(json_output)
    if checkpoint is not None and (weights is not None or weights_file is not None):
        raise UsageError("--checkpoint and --weights/--weights-file are two sources of weights: pass one")
    if plugin is None and (weights is not None or weights_file is not None):
        raise UsageError("--weights and --weights-file name a method's published weights: pass --plugin NAME too")
    protected = [*inputs, *([reference] if reference is not None else [])]
    unreadable: list[str] = []  # folders that cannot be listed: named and counted as failures, never dropped
    jobs = outputs.plan(out, images.expand_inputs(inputs, unreadable=unreadable), inputs=protected, overwrite=overwrite)
    dev = devices.pick(device)
    loaded = None  # what published weights were used
    if checkpoint is not None:
        colorizer = checkpoints.load(checkpoint, plugin=plugin, device=dev)
    elif plugin is not None:
        cls = plugins.get_colorizer(plugin)
        if weights is not None or weights_file is not None or published.declared(cls):  # its authors' weights
            colorizer, loaded = published.load(cls, weights, file=weights_file, device=dev)
        else:
            colorizer = cls.from_profile("quick", size=256).to(dev)
            if colorizer.n_parameters():
                raise UsageError(f"{plugin} needs trained weights: pass --checkpoint PATH (made by `colorbench run --plugin {plugin}`)")
    else:
        raise UsageError("pass --checkpoint PATH (a trained method) or --plugin gray")
    if colorizer.hint and reference is None:
        raise UsageError(f"{colorizer.name} needs --reference IMG: an image whose colours it should use; its hint is the {colorizer.hint}")
    if reference is not None and not colorizer.hint:
        raise UsageError(f"{colorizer.name} takes no --reference: it colourizes from L alone")
    try:
        ref_ab = images.reference_ab(colorizer, images.read_rgb(reference)) if reference is not None else None
    except UserError as e:
        raise UserError(f"--reference {e}") from None

    written = []
    failed = [{"input": entry.partition(": ")[0], "error": entry} for entry in unreadable]
    for entry in unreadable:
        warn(entry)
    for source, target in jobs:
        try:
            result = images.colorize_array(colorizer, images.read_rgb(source), seed=seed, reference=ref_ab)
            written.append(str(images.write_png(target, result)))
        except UserError as e:
            failed.append({"input": str(source), "error": str(e)})
            warn(str(e))
    stderr.print(f"{colorizer.name}: {len(written)} image(s) written to {out}, {len(failed)} failed", highlight=False)

    emit(
        {"plugin": colorizer.name, "checkpoint": str(checkpoint) if checkpoint else None, "weights": loaded, "written": written, "failed": failed},
        json_output,
        lambda: print_lines(written),
    )
    if failed:
        exit_after_output(f"{len(failed)} of {len(failed) + len(written)} image(s) could not be colourized: {', '.join(f['input'] for f in failed)}")
