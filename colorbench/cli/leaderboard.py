"""colorbench leaderboard: every stored result, one table per dataset and protocol."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from colorbench.cli.output import JsonOption, emit, stdout, use_json, warn
from colorbench.errors import UsageError, UserError
from colorbench.reporting.results import DEFAULT_DIR


def _cell(value, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"  # not recorded (an older result file) or not computed
    if digits is not None and isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


def leaderboard(
    results_dir: Annotated[Path, typer.Option("--results", "-r", help="Folder of result files.")] = DEFAULT_DIR,
    format: Annotated[Format, typer.Option("--format", "-f", help="table (terminal), markdown or json.")] = Format.table,
    write: Annotated[bool, typer.Option("--write", help="Regenerate the published board (BOARD/README.md and its figures) from BOARD/results/.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the published board's markdown is stale (what CI runs).")] = False,
    board_dir: Annotated[Path, typer.Option("--board", help="The published board's folder.")] = Path("leaderboard"),
    json_output: JsonOption = False,
) -> None:
    """Render all stored results, grouped by dataset and protocol; or publish them (--write, --check)."""
    from colorbench.reporting import tables as board
    from colorbench.reporting import publish, results

    as_json = use_json(json_output or format is Format.json)
    if write and check:
        raise UsageError("--write or --check, not both")
    if write or check:
        if not (board_dir / "results").is_dir():
            raise UserError(f"no {board_dir / 'results'}: the published board is made from the result files kept there")
        if write:
            path = publish.write(board_dir, warn=warn)
            emit({"written": str(path)}, as_json, lambda: stdout.print(f"wrote {path} and its figures", highlight=False))
            return
        if publish.is_stale(board_dir, warn=warn):
            raise UserError(f"{board_dir / 'README.md'} is stale: run `colorbench leaderboard --write` and commit it")
        emit({"stale": False}, as_json, lambda: stdout.print(f"{board_dir / 'README.md'} is up to date", highlight=False))
        return
    if not results_dir.is_dir():
        raise UserError(f"no results folder {results_dir}; run `colorbench run --plugin NAME` first, or pass --results DIR")
    df = board.frame(results.read_all(results_dir, warn=warn))

    def render():
        if format is Format.markdown:
            stdout.out(board.to_markdown(df), highlight=False)
            return
        if df.empty:
            stdout.print(f"No results in {results_dir}: run `colorbench run --plugin NAME`.")
        for key, t in board.tables(df).items():
            digits = board.DIGITS | {title + board.arrow(m): m.digits for title, m in board.metric_columns(t).items()}
            t = t[board.terminal_columns(t)].assign(params=t["params"].map(lambda n: f"{n / 1e6:.1f}M"))
            # borderless, two spaces between columns: fits 80 columns with a "(hint)" name
            table = Table(
                *t.columns, title=key, title_justify="left", box=box.SIMPLE_HEAD,
                show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
            )
            for row in t.itertuples(index=False):
                table.add_row(*(_cell(v, digits.get(c)) for v, c in zip(row, t.columns)))
            stdout.print(table)
        if not df.empty:
            hinted = "(hint): given a hint at test time. " if df["hint"].notna().any() else ""
            stdout.print(f"{hinted}More columns: --format markdown or json.", highlight=False)
            stdout.print("A row is the mean over its training seeds (listed in those formats).", highlight=False)

    emit(board.to_json(df), as_json, render)
