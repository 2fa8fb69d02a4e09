"""colorbench new-plugin NAME: write a ready-to-install plugin package."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from colorbench.cli.output import JsonOption, emit, stdout, use_json


def new_plugin(
    name: Annotated[str, typer.Argument(help="The method's name, as users will type it: --plugin NAME.", show_default=False)],
    into: Annotated[Path, typer.Option(help="Folder to create the package in.")] = Path("."),
    json_output: JsonOption = False,
) -> None:
    """Write a plugin package (pyproject with the colorbench entry point, one module, one test)."""
    from colorbench import scaffold

    use_json(json_output)
    root = scaffold.render(name, into)
    steps = [f"cd {shlex.quote(str(root))}", 'pip install -e ".[test]"', "python -m pytest", f"colorbench run --plugin {name} --profile smoke"]
    emit(
        {"package": str(root), "next": steps},
        json_output,
        lambda: stdout.print(f"wrote {root}\nnext:\n" + "\n".join(f"  {s}" for s in steps), highlight=False),
    )
