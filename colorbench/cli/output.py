"""What every command shares: where output goes, ``--json``, and user errors."""

import json
import os
import sys
from typing import Annotated, Any, Callable, TextIO

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from colorbench.errors import UserError

# markup off: paths, plugin text and messages are data (a file named "s[/b].json" is
# printed as it is, never parsed); colour comes from styles, never from the text.
stdout = Console(markup=False)
stderr = Console(stderr=True, markup=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


class _Invocation:
    """Flags of the command being run, so an error is reported the way it asked."""

    json = False
    debug = False
    stdout: TextIO | None = None  # the stdout the command started with, while --json holds it
    json_out: TextIO | None = None  # where the one JSON object goes
    fd: int | None = None  # stdout's file descriptor, and a copy of it while it leads to stderr
    saved_fd: int | None = None


invocation = _Invocation()


def use_json(value: bool) -> bool:
    """Under ``--json`` stdout carries exactly one JSON object, whatever a library
    prints while the command runs (lpips' "Setting up...", a "Downloading: ..."
    line, a C extension writing to file descriptor 1): until the command ends,
    Python's stdout and, when it is a real file, its descriptor lead to stderr."""
    invocation.json = value
    if not value or invocation.stdout is not None:
        return value
    invocation.stdout = invocation.json_out = sys.stdout
    sys.stdout.flush()
    try:
        invocation.fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's capture)
        invocation.fd = None
    if invocation.fd is not None:
        invocation.saved_fd = os.dup(invocation.fd)
        invocation.json_out = open(invocation.saved_fd, "w", encoding="utf-8", closefd=False)
        os.dup2(sys.stderr.fileno(), invocation.fd)
    sys.stdout = sys.stderr
    return value


def _release_stdout() -> None:
    """Undo `use_json`'s redirection when the command ends."""
    if invocation.stdout is None:
        return
    sys.stderr.flush()
    if invocation.saved_fd is not None:
        invocation.json_out.flush()
        os.dup2(invocation.saved_fd, invocation.fd)
        os.close(invocation.saved_fd)
    sys.stdout = invocation.stdout
    invocation.stdout = invocation.json_out = invocation.fd = invocation.saved_fd = None


def _write_json(payload: dict) -> None:
    out = invocation.json_out or sys.stdout
    out.write(json.dumps(payload, default=str) + "\n")
    out.flush()


def warn(message: str) -> None:
    stderr.print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False, soft_wrap=True)


def emit(payload: dict, as_json: bool, render: Callable[[], Any]) -> None:
    if as_json:
        _write_json(payload)
    else:
        render()


def error_line(message: str) -> None:
    stderr.print(Text.assemble(("Error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def exit_after_output(message: str, code: int = 1):
    """Fail once the command's output is out: one line on stderr, no second JSON object."""
    error_line(message)
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
            error_line(e.format_message().rstrip(".") + hint)
            sys.exit(e.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        invocation.json = invocation.debug = False
        try:
            return super().invoke(ctx)
        except UserError as e:
            if invocation.debug:
                raise
            error_line(str(e))
            if invocation.json:
                _write_json({"error": str(e), "exit_code": e.exit_code})
            raise typer.Exit(e.exit_code) from None
        finally:
            _release_stdout()
