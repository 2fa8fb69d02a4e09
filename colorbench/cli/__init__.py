"""The ``colorbench`` command: one module per sub-command, joined here.

Data goes to stdout (a Rich table, or exactly one JSON object with ``--json``);
progress and diagnostics go to stderr, so output can be piped.
"""

from typing import Annotated, Optional

import typer

import colorbench
from colorbench.cli import colorize, leaderboard, listing, new_plugin, plugins, run, weights
from colorbench.cli import compare, export, score
from colorbench.cli import study
from colorbench.cli.output import ErrorHandlingGroup, invocation

app = typer.Typer(
    name="colorbench",
    cls=ErrorHandlingGroup,
    help="Benchmark automatic image colourization methods: train or load, score, compare.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"colorbench {colorbench.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    invocation.debug = debug


app.command("list")(listing.list_colorizers)
app.command("plugins")(plugins.list_plugins)
app.command("run")(run.run)
app.command("colorize")(colorize.colorize)
app.command("leaderboard")(leaderboard.leaderboard)
app.command("score")(score.score)
app.command("export")(export.export)
app.command("compare")(compare.compare)
app.command("new-plugin")(new_plugin.new_plugin)
app.add_typer(weights.app, name="weights")
app.add_typer(study.app, name="study")


def main() -> None:
    app()
