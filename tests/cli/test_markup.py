"""Text that reaches the terminal is printed as it is: paths, plugin names and
descriptions, error messages. Nothing in them is taken for Rich markup."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import colorbench
from colorbench.plugins import pm
from tests.helpers import Sepia, one_json, write_png

BRACKETS = ["res[v2].json", "s[/b].json", "[bold]x[/bold].json", "[/].json", "a[link=x]b.json", "\\[x].json"]


def _pair(root):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    write_png(root / "gt" / "a.png", image)
    write_png(root / "pred" / "a.png", image // 2)


def test_an_output_path_with_brackets_is_printed_as_it_is(cli, tmp_path):
    _pair(tmp_path)
    for name in BRACKETS:
        out = tmp_path / name
        result = cli("score", tmp_path / "gt", tmp_path / "pred", "--out", out)
        assert result.exit_code == 0, result.output
        assert f"result: {out}" in result.stderr.replace("\n", "")
        assert out.is_file()


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.text(alphabet=st.sampled_from("[]/\\=ab bold:#"), min_size=1, max_size=20))
def test_any_name_is_printed_as_it_is(cli, tmp_path_factory, name):
    root = tmp_path_factory.mktemp("m")
    _pair(root)
    out = root / "out" / (name.replace("/", "_") + ".json")
    result = cli("score", root / "gt", root / "pred", "--out", out)
    assert result.exit_code == 0, result.output
    assert str(out) in result.stderr.replace("\n", "")


def test_plugin_text_is_not_markup(cli):
    class Loud(Sepia):
        name = "loud_test"
        description = "[bold red]shouting[/] and [/closing] tags"
        paper = "Someone, \"[link=https://x]A paper[/link]\", 2026"

    class Plugin:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(Loud)

    pm.register(Plugin(), name="loud_test")
    try:
        listed = cli("list")
        assert listed.exit_code == 0, listed.output
        flat = " ".join(listed.stdout.split())
        assert "[bold red]shouting[/]" in flat and "[/closing]" in flat
        assert one_json(cli("list", "--json"))  # and JSON is unaffected
    finally:
        pm.unregister(name="loud_test")


def test_an_error_message_with_brackets_is_one_literal_line(cli, tmp_path):
    missing = tmp_path / "[red]no[/red]" / "x[/].safetensors"
    result = cli("colorize", tmp_path, "--checkpoint", missing, "--out", tmp_path.parent / "out-markup")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert str(missing) in line
