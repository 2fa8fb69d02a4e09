"""Under --json, stdout carries exactly one JSON object, whatever a library prints."""

import json
import subprocess
import sys
import textwrap

import numpy as np

from tests.helpers import write_png

# A parameter-free method that, like a library fetching weights, prints to
# Python's stdout and writes to file descriptor 1 directly (as C code would).
CHATTY = textwrap.dedent('''
    import os, sys, torch, colorbench
    from colorbench.methods.colorizer import Colorizer
    from colorbench.plugins import pm
    from colorbench.cli import main

    class Chatty(Colorizer):
        name = "chatty"
        description = "prints while it works"
        paper = "none: a test"

        def predict(self, L, noise):
            print("Downloading: https://example.invalid/weights.pth")
            os.write(1, b"native library chatter\\n")
            return torch.zeros(len(L), 2, *L.shape[2:])

    class Plugin:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(Chatty)

    pm.register(Plugin(), name="chatty")
    sys.argv = ["colorbench", *sys.argv[1:]]
    main()
''')


def run_chatty(*args):
    return subprocess.run([sys.executable, "-c", CHATTY, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_library_output_goes_to_stderr_under_json(tmp_path):
    write_png(tmp_path / "in" / "a.png", np.full((9, 9, 3), 120, np.uint8))
    done = run_chatty("colorize", tmp_path / "in", "--plugin", "chatty", "--out", tmp_path / "out", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["plugin"] == "chatty"
    assert "Downloading:" in done.stderr and "native library chatter" in done.stderr


def test_without_json_stdout_is_left_alone(tmp_path):
    write_png(tmp_path / "in" / "a.png", np.full((9, 9, 3), 120, np.uint8))
    done = run_chatty("colorize", tmp_path / "in", "--plugin", "chatty", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "Downloading:" in done.stdout and "native library chatter" in done.stdout


def test_an_error_under_json_is_still_one_object_on_stdout(tmp_path):
    done = run_chatty("colorize", tmp_path / "missing.png", "--plugin", "chatty", "--out", tmp_path / "out", "--json")
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["plugin"] == "chatty"
