"""The published board: generated from result files, checked for staleness, and
never letting a plugin's text become markup."""


import pytest

import colorbench
from colorbench.plugins import pm
from colorbench.reporting.publish import md
from tests.conftest import ROOT
from tests.helpers import Sepia


class Hostile(Sepia):
    name = "hostile_test"
    description = "a <script>alert(1)</script> | pipe"
    paper = "<script>alert(1)</script> [click](javascript:alert(1)) *bold* `code` | pipe"


class HostilePlugin:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        register(Hostile)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from typer.testing import CliRunner

    from colorbench.cli import app

    pm.register(HostilePlugin(), name="hostile")
    try:
        board = tmp_path_factory.mktemp("board")
        result = CliRunner().invoke(app, ["run", "--plugin", "hostile_test", "--profile", "smoke", "--size", "32", "--out", str(board / "results")])
        assert result.exit_code == 0, result.output
    finally:
        pm.unregister(name="hostile")
    return board


def test_markdown_escapes_plugin_text():
    assert md("a|b") == "a\\|b"
    assert md("<script>") == "&lt;script&gt;"
    assert md("[x](javascript:y)") == "\\[x\\](javascript:y)"  # no link without its brackets


def test_write_then_check(board, cli):
    written = cli("leaderboard", "--write", "--board", board)
    assert written.exit_code == 0, written.output
    text = (board / "README.md").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    row = next(line for line in text.splitlines() if line.startswith("| hostile"))
    assert row.count(" | ") == next(line for line in text.splitlines() if line.startswith("| method")).count(" | ")  # the pipe stayed text
    assert "colorbench run --plugin gray,hostile_test --dataset builtin --profile smoke --seed 0 --size 32" in text
    assert "## Protocol" in text and "psnr | 1 | higher" in text
    for figure in ("builtin-32px-grid.png", "builtin-32px-speed.png"):
        assert (board / "figures" / figure).stat().st_size > 1000 and f"figures/{figure}" in text
    assert cli("leaderboard", "--check", "--board", board).exit_code == 0

    (board / "README.md").write_text(text.replace("gray", "grey"))
    stale = cli("leaderboard", "--check", "--board", board)
    assert stale.exit_code == 1 and "is stale: run `colorbench leaderboard --write`" in stale.stderr


def test_the_committed_board_is_up_to_date(cli):
    board = ROOT / "leaderboard"
    if not (board / "results").is_dir():
        pytest.skip("no published results yet")
    result = cli("leaderboard", "--check", "--board", board)
    assert result.exit_code == 0, result.stderr


def test_leaderboard_markdown_escapes_plugin_text_too(board, cli):
    result = cli("leaderboard", "--results", board / "results", "--format", "markdown")
    assert result.exit_code == 0
    assert "hostile\\_test" in result.stdout and "<script>" not in result.stdout
