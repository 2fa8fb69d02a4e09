"""`run --seeds`: a method trained once per seed, gray once, one row on the board, and
`compare` of two methods' groups by name."""

import json
from pathlib import Path

import pytest

from tests.helpers import one_json


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """sepia_test trained with seeds 0 and 1 beside gray, on builtin at 16 px."""
    from typer.testing import CliRunner

    from colorbench.cli import app
    from colorbench.plugins import pm
    from tests.helpers import SepiaPlugin

    out = tmp_path_factory.mktemp("seeded")
    pm.register(SepiaPlugin(), name="sepia_test")
    try:
        result = CliRunner().invoke(app, ["run", "--plugin", "sepia_test", "--seeds", "0,1", "--profile", "smoke", "--size", "16",
                                          "--out", str(out), "--json"])
    finally:
        pm.unregister(name="sepia_test")
    assert result.exit_code == 0, result.output
    return out, one_json(result)


def test_each_seed_trains_once_and_gray_runs_once(seeded):
    out, report = seeded
    made = [(r["plugin"]["name"], r["protocol"]["seed"]) for r in report["results"]]
    assert made == [("sepia_test", 0), ("sepia_test", 1), ("gray", 0)]
    stored = json.loads(Path(report["results"][0]["file"]).read_text())
    assert set(stored["protocol"]["dataset"]["photo_of"].values()) == {"chelsea", "stereo_motorcycle"}
    assert "over photos" in stored["protocol"]["ci95"]["method"]  # crops of one photo are not independent


def test_the_board_shows_the_group_as_one_row(cli, seeded, sepia_plugin):
    out, _ = seeded
    board = one_json(cli("leaderboard", "--results", out, "--json"))
    (group,) = board["groups"]
    rows = {row["method"]: row for row in group["rows"]}
    assert rows["sepia_test"]["seeds"] == "0,1" and rows["gray"]["seeds"] == "0"
    assert "2 training seeds, then photos" in rows["sepia_test"]["intervals"]["method"]
    markdown = cli("leaderboard", "--results", out, "--format", "markdown").stdout
    assert "Spread across training seeds" in markdown


def test_compare_takes_two_methods_by_name(cli, seeded, sepia_plugin):
    out, _ = seeded
    found = one_json(cli("compare", "gray", "sepia_test", "--results", out, "--json"))
    assert found["seeds"] == {"a": [0], "b": [0, 1]} and len(found["b"]) == 2
    assert "2 training seeds" in found["bootstrap"]["method"]
    low, high = found["metrics"]["psnr"]["ci95"]
    assert low <= found["metrics"]["psnr"]["difference"] <= high
    missing = cli("compare", "gray", "nothing_here", "--results", out)
    assert missing.exit_code == 1 and "no results of 'nothing_here'" in missing.stderr


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seeds", "0,0"], "a seed is repeated"),
        (["--seeds", "0,x"], "comma-separated whole numbers"),
        (["--seeds", "0,-1"], "not a seed from 0"),
        (["--seed", "1", "--seeds", "0,1"], "pass one of them"),
        (["--seeds", "0,1", "--weights-file", "w.safetensors"], "--seeds trains each method once per seed"),
    ],
)
def test_seeds_that_cannot_be_run_are_refused_before_any_work(cli, tmp_path, flags, message):
    result = cli("run", "--plugin", "gray", *flags, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()
