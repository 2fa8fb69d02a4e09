"""The command line as a user meets it: help, version, errors, --json."""


import numpy as np
import pytest

from colorbench.cli import app
from tests.helpers import one_json, write_png

COMMANDS = ["list", "plugins", "run", "colorize", "score", "export", "compare", "leaderboard", "new-plugin", "weights", "study"]


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("colorbench ")


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS])
def test_help_on_every_command(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_every_command_is_tested_here():
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(names) == sorted(COMMANDS)


def test_list_json_is_one_object(cli):
    listed = one_json(cli("list", "--json"))
    by_name = {c["name"]: c for c in listed["colorizers"]}
    assert by_name["unet_cgan"]["stochastic"] is True
    assert by_name["gray"]["stochastic"] is False
    assert by_name["unet_cgan"]["paper"].startswith("Stancu 2023: Diana-Elena Stancu, \"Lab 5-8\"")
    assert 'Wan, "A Survey on Colorization with cGAN' in by_name["encdec_gan"]["paper"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--plugin", "unet_cga"], "unknown plugin 'unet_cga'; did you mean unet_cgan"),
        (["run", "--plugin", "gray", "--dataset", "buildin"], "unknown dataset 'buildin'; did you mean builtin?"),
        (["run", "--plugin", "gray", "--device", "cuda:7"], "--device cuda:7"),
        (["run", "--plugin", "gray", "--device", "tpu"], "--device 'tpu' is not a device"),
        (["run", "--plugin", "gray", "--size", "48"], "--size 48 is not a power of two"),
        (["run", "--plugin", "gray", "--dataset", "folder:/no/such/dir"], "/no/such/dir does not exist"),
        (["colorize", "x.png", "--out", "o"], "pass --checkpoint PATH"),
        (["colorize", "x.png", "--out", "o", "--plugin", "unet_cgan"], "unet_cgan needs trained weights"),
    ],
)
def test_usage_errors_are_one_line_with_exit_status_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_errors_in_json_mode_are_json(cli):
    result = cli("run", "--plugin", "nope", "--json")
    assert result.exit_code == 2
    assert "unknown plugin 'nope'" in one_json(result)["error"]


def test_missing_results_folder(cli, tmp_path):
    result = cli("leaderboard", "--results", tmp_path / "none")
    assert result.exit_code == 1
    assert "no results folder" in result.stderr


def test_gray_colorize_needs_no_checkpoint(cli, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    write_png(tmp_path / "in" / "a.png", rgb)
    result = cli("colorize", tmp_path / "in", "--plugin", "gray", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert one_json(result)["written"] == [str(tmp_path / "out" / "a.png")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--plugn", "unet_cgan"], "No such option: --plugn"),
        (["run", "--plugin", "gray", "--profile", "fast"], "'fast' is not one of"),
        (["runn"], "No such command 'runn'"),
        (["colorize", "x.png"], "Missing option '--out'"),
    ],
)
def test_typer_usage_errors_are_one_line_too(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line and "--help" in line


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "run", "--plugin", "nope")
    assert result.exit_code != 0
    assert "unknown plugin 'nope'" in str(result.exception)
