"""Under --json, stdout carries exactly one JSON object on every path: success, a
user's mistake, a usage error Typer finds before the command runs, and an
interruption (Ctrl-C, or SIGTERM from `kill` or `timeout`)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from typer.testing import CliRunner

from colorbench.cli import app
from tests.helpers import one_json, tiny_image, write_png
from tests.cli.test_cli_fuzz import FUZZ, command_lines, corpus  # noqa: F401 (corpus: the fixture)

TYPER_REFUSES = [
    ["colorize", "in", "--plugin", "gray", "--out", "o", "--seed", "-1"],  # out of range
    ["colorize", "in", "--plugin", "gray", "--out", "o", "--bogus"],  # unknown option
    ["colorize", "in", "--plugin", "gray"],  # missing option
    ["run", "--plugin", "gray", "--profile", "bogus"],  # not a choice
    ["score", "gt"],  # missing argument
    ["new-plugin"],
    ["leaderboard", "--format", "html"],
    ["weights", "fetch", "--bogus"],
    ["compare", "a.json"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("args", TYPER_REFUSES, ids=[" ".join(a) for a in TYPER_REFUSES])
def test_a_usage_error_found_by_typer_is_one_json_object(cli, args):
    result = cli(*args, "--json")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert one_json(result) == {"error": line.removeprefix("Error: "), "exit_code": 2}


def test_json_after_double_dash_is_not_the_flag(cli, tmp_path):
    result = cli("colorize", "--plugin", "gray", "--bogus", "--", "--json")
    assert result.exit_code == 2 and result.stdout == ""


@settings(FUZZ, max_examples=8)
@given(make_args=command_lines("colorize") | command_lines("score") | command_lines("new-plugin") | command_lines("leaderboard")
       | command_lines("compare") | command_lines("weights"))
def test_every_generated_command_line_prints_one_json_object(corpus, make_args):  # noqa: F811
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "in"
        shutil.copytree(corpus, work)
        args = [str(a) for a in make_args(work, Path(tmp) / "out")]
        if "--json" not in args:
            args.append("--json")
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            result = CliRunner().invoke(app, args)
        finally:
            os.chdir(cwd)
        described = f"colorbench {' '.join(args)}\n{result.output}"
        assert result.exit_code in (0, 1, 2), described
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, described
        payload = json.loads(lines[0])
        assert result.exit_code or "error" not in payload, described
        assert result.exit_code == 0 or payload.get("exit_code", result.exit_code) == result.exit_code, described


def _colorbench(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "colorbench", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_a_real_process_prints_one_json_object_on_a_usage_error(tmp_path):
    done = _colorbench("colorize", "in", "--plugin", "gray", "--out", "o", "--seed", "-1", "--json", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["exit_code"] == 2


# A method that ends its own process as `timeout` would, on its second image.
TERMINATED = textwrap.dedent('''
    import os, signal, sys, torch, colorbench
    from colorbench.methods.colorizer import Colorizer
    from colorbench.plugins import pm
    from colorbench.cli import main

    class Stopped(Colorizer):
        name = "stopped"
        description = "sent SIGTERM while it works"
        paper = "none: a test"
        calls = 0

        def predict(self, L, noise):
            Stopped.calls += 1
            if Stopped.calls == 2:
                os.kill(os.getpid(), signal.SIG{signal})
            return torch.zeros(len(L), 2, *L.shape[2:])

    class Plugin:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(Stopped)

    pm.register(Plugin(), name="stopped")
    sys.argv = ["colorbench", *sys.argv[1:]]
    main()
''')


def _interruptible() -> None:
    """Ctrl-C as at a terminal: a shell starts background jobs (CI run with `&`) with
    SIGINT ignored, and Python then leaves it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("name, code", [("TERM", 143), ("INT", 130)])
def test_an_interrupted_colorize_says_so_once_and_leaves_only_whole_files(tmp_path, name, code):
    for i in range(3):
        write_png(tmp_path / "in" / f"{i}.png", np.full((9, 9, 3), 40 * i, np.uint8))
    done = subprocess.run(
        [sys.executable, "-c", TERMINATED.replace("{signal}", name), "colorize", tmp_path / "in", "--plugin", "stopped",
         "--out", tmp_path / "out", "--json"],
        capture_output=True, text=True, timeout=300, preexec_fn=_interruptible,
    )
    assert done.returncode == code, done.stderr
    assert json.loads(done.stdout) == {"error": done.stderr.strip().removeprefix("Error: "), "exit_code": code}
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png"]  # whole, and nothing hidden beside it


def test_sigterm_is_left_as_it_was_after_a_command(cli, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    cli("colorize", "--plugin", "gray", tiny_image(tmp_path / "a.png"), "--out", tmp_path / "out")
    assert signal.getsignal(signal.SIGTERM) is before
