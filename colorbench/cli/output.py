"""What every command shares: where output goes, ``--json``, and user errors."""

import json
import os
import signal
import sys
from typing import Annotated, Any, Callable, Optional, TextIO

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from colorbench.errors import UserError
from colorbench.text import printable


class _Console(Console):
    """Rich's console for text that is data: no markup (a file named "s[/b].json" is
    printed as it is, never parsed; colour comes from styles), no control character
    reaching the terminal, and no line broken at the terminal's width (a printed path
    stays one line to copy or pipe; tables still fit the width)."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, soft_wrap=True, **kwargs)

    def print(self, *objects, **kwargs):
        if "soft_wrap" not in kwargs and not all(isinstance(o, (str, Text)) for o in objects):
            kwargs["soft_wrap"] = False  # a table, its title included, fits the terminal's width
        super().print(*objects, **kwargs)

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(printable(text, one_line=False), **kwargs)

    def render(self, renderable, options=None):
        # styled text (a warning, a table cell) is made of pieces: each is escaped, keeping its style
        if isinstance(renderable, Text) and printable(renderable.plain, one_line=False) != renderable.plain:
            pieces = [(printable(piece.text, one_line=False), piece.style) for piece in renderable.render(self)]
            renderable = Text.assemble(*pieces, justify=renderable.justify, overflow=renderable.overflow, no_wrap=renderable.no_wrap, end=renderable.end)
        return super().render(renderable, options)


stdout = _Console()
stderr = _Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
MetricsOption = Annotated[
    Optional[str],
    typer.Option(
        "--metrics", metavar="NAMES",
        help="Compute only these metrics (psnr,ssim,lpips), or all but these (=-fid,-kid); default: $COLORBENCH_METRICS, or all.",
        show_default=False,
    ),
]


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
    stderr.print(Text.assemble(("warning:", "yellow"), " ", printable(message)), highlight=False)


def print_lines(lines) -> None:
    """Data on stdout, one item (a path) per line, each printed whole."""
    for line in lines:
        stdout.print(printable(line), highlight=False)


def emit(payload: dict, as_json: bool, render: Callable[[], Any]) -> None:
    if as_json:
        _write_json(payload)
    else:
        render()


def error_line(message: str) -> None:
    stderr.print(Text.assemble(("Error:", "bold red"), " ", printable(message)), highlight=False)


def exit_after_output(message: str, code: int = 1):
    """Fail once the command's output is out: one line on stderr, no second JSON object."""
    error_line(message)
    raise typer.Exit(code)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`), raised where the program is, like Ctrl-C: a file
    being written is then removed (`colorbench.files.write_atomic`), never left half."""

    exit_code = 128 + signal.SIGTERM


def _terminate(signum, frame):
    raise Interrupted()


class ErrorHandlingGroup(TyperGroup):
    """Every user mistake becomes one line on stderr and an exit status: 2 for usage
    errors (Typer's own, like an unknown flag, and ours), 1 for failures; under
    ``--json`` stdout then carries one JSON object, {"error": ..., "exit_code": ...}."""

    def main(self, args=None, *rest, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(args, *rest, standalone_mode=False, **kwargs)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            previous = signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread: leave signals alone
            previous = _terminate
        try:
            code = super().main(argv, *rest, standalone_mode=False, **kwargs)
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
            message = e.format_message().rstrip(".") + hint
            error_line(message)
            if "--json" in argv[: argv.index("--") if "--" in argv else None]:  # refused before the command could say
                _write_json({"error": message, "exit_code": e.exit_code})
            sys.exit(e.exit_code)
        finally:
            if previous is not _terminate:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        invocation.json = invocation.debug = False
        try:
            return super().invoke(ctx)
        except (UserError, KeyboardInterrupt) as e:
            if invocation.debug:
                raise
            code = e.exit_code if isinstance(e, UserError) else getattr(e, "exit_code", 130)
            message = str(e) if isinstance(e, UserError) else "interrupted; the files written so far are whole, none is half-written"
            error_line(message)
            if invocation.json:
                _write_json({"error": message, "exit_code": code})
            raise typer.Exit(code) from None
        finally:
            _release_stdout()
