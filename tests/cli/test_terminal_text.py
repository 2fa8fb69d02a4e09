"""A name reaches the terminal whole and inert: control characters in it (a newline,
ESC starting a terminal sequence, a carriage return) are shown escaped, a printed
path is never broken at the terminal's width, and an error stays one line."""

import io
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.table import Table
from rich.text import Text

from colorbench.cli import output
from colorbench.text import printable
from tests.helpers import one_json, tiny_image

NAMES = ["esc\x1b[2Jx", "cr\rx", "tab\tx", "new\nline", "bell\x07", "rtl\u202eexe.gnp", "plain é"]


def _hidden(c: str) -> bool:
    """A character that acts on the terminal or the text's layout instead of showing."""
    return unicodedata.category(c) in ("Cc", "Zl", "Zp") or "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_printable_leaves_nothing_hidden_and_keeps_other_text(text):
    shown = printable(text)
    assert not any(map(_hidden, shown)) and len(shown.splitlines()) <= 1
    if not any(map(_hidden, text)):
        assert shown == text
    assert printable(text, one_line=False).count("\n") == text.count("\n")  # multi-line output keeps its lines


def test_colorize_prints_each_output_as_one_escaped_line(cli, tmp_path):
    for i, name in enumerate(NAMES):
        tiny_image(tmp_path / "in" / f"{name}.png", i)
    out = tmp_path / ("o" * 120)  # longer than a terminal's 80 columns
    result = cli("colorize", "--plugin", "gray", tmp_path / "in", "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted(printable(out / f"{name}.png") for name in NAMES)
    assert "\x1b" not in result.output and "\r" not in result.output
    as_json = cli("colorize", "--plugin", "gray", tmp_path / "in", "--out", tmp_path / "j", "--json")
    assert sorted(one_json(as_json)["written"]) == sorted(str(tmp_path / "j" / f"{name}.png") for name in NAMES)  # JSON: exact


def test_an_error_and_a_warning_about_such_a_name_are_one_line_each(cli, tmp_path):
    bad = tmp_path / "in" / "evil\n\x1b]0;title\x07.png"
    bad.parent.mkdir()
    bad.write_text("not an image")
    result = cli("colorize", "--plugin", "gray", bad.parent, "--out", tmp_path / "out")
    assert result.exit_code == 1
    warning, summary, error = result.stderr.splitlines()
    assert warning.startswith("warning:") and printable(bad) in warning
    assert error.startswith("Error:") and printable(bad) in error
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_score_lists_each_problem_on_one_line(cli, tmp_path):
    tiny_image(tmp_path / "gt" / "new\nline.png")
    tiny_image(tmp_path / "pred" / "other.png")
    result = cli("score", tmp_path / "gt", tmp_path / "pred")
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 2 and any("new\\nline" in line for line in problems)  # missing, and extra


def test_styled_text_and_table_cells_are_escaped_too():
    console = output._Console(file=io.StringIO(), width=200)  # not a terminal: any ESC would be the data's
    table = Table("name", "status")
    table.add_row("cell\x1b[2J", Text("failed: \x1b]0;title", style="red"))
    console.print(Text.assemble(("bad\x1b[2J", "red"), ": done"), table)
    shown = console.file.getvalue()
    assert "\x1b" not in shown
    assert all(escaped in shown for escaped in ("bad\\x1b[2J", "cell\\x1b[2J", "\\x1b]0;title"))
