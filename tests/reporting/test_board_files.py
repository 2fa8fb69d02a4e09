"""`colorbench leaderboard --write` replaces only a board it wrote, all or nothing,
and no text from a result file (a dataset's path, a plugin's name, a hand edit)
changes the board's markdown structure or reaches matplotlib as TeX."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colorbench.reporting import publish
from tests.helpers import refused, snapshot


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """A results folder holding one real `run` result (gray, smoke) and its samples."""
    from typer.testing import CliRunner

    from colorbench.cli import app

    results = tmp_path_factory.mktemp("run") / "results"
    done = CliRunner().invoke(app, ["run", "--plugin", "gray", "--profile", "smoke", "--size", "16", "--out", str(results)])
    assert done.exit_code == 0, done.output
    return results


@pytest.fixture
def board(tmp_path, one_run) -> Path:
    shutil.copytree(one_run, tmp_path / "board" / "results")
    return tmp_path / "board"


def _edit_result(board: Path, change) -> None:
    (path,) = (board / "results").glob("*.json")
    result = json.loads(path.read_text())
    change(result)
    path.write_text(json.dumps(result))


@pytest.mark.parametrize(
    "make",
    [
        lambda b: (b / "README.md").write_text("# My project\n\nMy own notes.\n"),
        lambda b: (b / "README.md").mkdir(),
        lambda b: (b / "README.md").symlink_to(b.parent / "elsewhere.md"),
        lambda b: (b / "figures").write_text("mine"),
        lambda b: (b / "figures" / "builtin-16px-grid.png").parent.mkdir() or (b / "figures" / "builtin-16px-grid.png").write_text("mine"),
    ],
    ids=["users-readme", "readme-folder", "readme-link", "figures-file", "figure-not-the-boards"],
)
def test_write_never_replaces_what_colorbench_did_not_write(cli, board, make):
    (board.parent / "elsewhere.md").write_text("the user's")
    make(board)
    before = snapshot(board.parent)
    refused(cli("leaderboard", "--write", "--board", board), 1, str(board))
    assert snapshot(board.parent) == before  # not a figure, not a hidden staging folder


def test_write_replaces_its_own_board(cli, board):
    assert cli("leaderboard", "--write", "--board", board).exit_code == 0
    first = (board / "README.md").read_text()
    assert first.startswith(publish.SIGNATURE) and (board / "figures" / "builtin-16px-grid.png").is_file()
    again = cli("leaderboard", "--write", "--board", board, "--json")
    assert again.exit_code == 0, again.output
    assert (board / "README.md").read_text() == first


def test_the_committed_board_bears_the_signature():
    assert publish.build().startswith(publish.SIGNATURE)


def test_a_dollar_in_a_dataset_path_is_text_in_the_figures(cli, board):
    _edit_result(board, lambda r: r["protocol"]["dataset"].update(name="folder:/data/p$\\frac{$x"))
    result = cli("leaderboard", "--write", "--board", board)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (board / "figures").iterdir())  # drawn, not refused as bad TeX


FIELDS = {
    "dataset": lambda r, t: r["protocol"]["dataset"].update(name=f"folder:/data/{t}"),
    "plugin": lambda r, t: r["plugin"].update(name=t),
    "paper": lambda r, t: r["plugin"].update(paper=t),
    "profile": lambda r, t: r["protocol"].update(profile=t),
    "device": lambda r, t: r["machine"].update(device_name=t),
    "split": lambda r, t: r["protocol"]["dataset"]["card"].update(split=t),
}
HOSTILE = st.text(st.sampled_from(list("\n\r\t\x1b`#|*_[]()<>&!$\\-=~ab")), min_size=1, max_size=12)


def _structure(text: str) -> list[str]:
    """Where the markdown's blocks start and end: headings, fences, table rows (by
    their cells), list items. Text inside them may change; these may not."""
    marks = []
    for line in text.splitlines():
        if line.startswith("|"):
            marks.append(f"| {line.replace(chr(92) * 2, '').replace(chr(92) + '|', '').count('|')}")  # cells: unescaped pipes
        elif line.startswith(("#", "```", "- ")) or not line.strip():
            marks.append(line.split(" ")[0])
    return marks


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(FIELDS)), text=HOSTILE)
def test_no_result_text_changes_the_boards_structure(one_run, tmp_path, field, text):
    board = tmp_path / f"b-{field}"
    shutil.rmtree(board, ignore_errors=True)
    shutil.copytree(one_run, board / "results")
    _edit_result(board, lambda r: FIELDS[field](r, "plain"))
    plain = publish.build(board, warn=lambda m: None)
    _edit_result(board, lambda r: FIELDS[field](r, text))
    hostile = publish.build(board, warn=lambda m: None)
    assert _structure(hostile) == _structure(plain), hostile
    assert "\x1b" not in hostile and "\r" not in hostile
