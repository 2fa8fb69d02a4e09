"""What every command shares: where output goes, ``--json``, and user errors."""

import json
import sys
from typing import Annotated, Any, Callable

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from colorbench.errors import UserError

stdout = Console()
stderr = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


class _Invocation:
    """Flags of the command being run, so an error is reported the way it asked."""

    json = False
    debug = False


invocation = _Invocation()


def use_json(value: bool) -> bool:
    invocation.json = value
    return value


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit(payload: dict, as_json: bool, render: Callable[[], Any]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        render()


def exit_after_output(message: str, code: int = 1):
    """Fail once the command's output is out: one line on stderr, no second JSON object."""
    stderr.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class ErrorHandlingGroup(TyperGroup):
    """Every user mistake becomes one line on stderr and an exit status: 2 for usage
    errors (Typer's own, like an unknown flag, and ours), 1 for failures."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except Exception as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # help was shown: nothing to add
                sys.exit(2)
            if type(e).__name__ == "Abort":
                stderr.print("Aborted.")
                sys.exit(130)
            if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):  # not a usage error: a bug
                raise
            ctx = getattr(e, "ctx", None)
            hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            stderr.print(f"[bold red]Error:[/] {escape(e.format_message().rstrip('.'))}{escape(hint)}", highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        invocation.json = invocation.debug = False
        try:
            return super().invoke(ctx)
        except UserError as e:
            if invocation.debug:
                raise
            stderr.print(f"[bold red]Error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            if invocation.json:
                sys.stdout.write(json.dumps({"error": str(e), "exit_code": e.exit_code}) + "\n")
            raise typer.Exit(e.exit_code) from None
