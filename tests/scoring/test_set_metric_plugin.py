"""What a newcomer does to add a metric: one module in an installable plugin
package registers a set-level metric, and it is a column in `run` (terminal
and --json), in `score`, and in the leaderboard and the published board made
from those results, even where the plugin is not installed."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import one_module_package, pip_install, write_png


MODULE = '''\
"""Chroma ratio: how much colour the predictions have, against their truth, over a whole test set."""

import torch

import colorbench
from colorbench.scoring.registry import SET, Metric


class ChromaSums:
    """Exact integer sums, updated batch by batch: memory stays the same whatever the set's size."""

    def __init__(self, device):
        self.gt = self.pred = 0

    def update(self, gt_u8, pred_u8):
        self.gt += _chroma(gt_u8)
        self.pred += _chroma(pred_u8)

    def finish(self):
        return self.pred / self.gt  # colour ground truths only: never 0


def _chroma(rgb_u8):
    """Sum over pixels of max(R, G, B) - min(R, G, B)."""
    return int((rgb_u8.amax(1).int() - rgb_u8.amin(1).int()).sum(dtype=torch.int64))


@colorbench.hookimpl
def register_metrics(register):
    register(Metric(
        name="chroma_ratio", version="1", title="chroma ratio", digits=3, kind=SET,
        higher_is_better=None, colour_space="sRGB, 8-bit, 3 channels", valid_range=(0.0, 1e6),
        description="sum of max(R,G,B) - min(R,G,B) over every predicted pixel of the test set, "
        "over the same sum for the ground truth",
        accumulator=ChromaSums,
    ))
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package, pip-installed into a folder of its own, and how to run colorbench with it."""
    root = tmp_path_factory.mktemp("chroma")
    package = one_module_package(root / "colorbench-chroma", "colorbench_chroma", MODULE)
    env = {**pip_install(package, root / "site"), "COLUMNS": "200"}

    def colorbench(*args):
        return subprocess.run([sys.executable, "-m", "colorbench", *map(str, args)], capture_output=True, text=True, env=env, cwd=root)

    return root, colorbench


def _chroma(image: np.ndarray) -> int:
    return int((image.max(-1).astype(int) - image.min(-1).astype(int)).sum())


def test_a_set_metric_from_a_plugin_package_is_a_column_everywhere(installed, cli):
    root, colorbench = installed
    listed = colorbench("list", "--json")
    assert "chroma_ratio" in [m["name"] for m in json.loads(listed.stdout)["metrics"]], listed.stderr

    # run: the terminal table has its column; the result records it, its metadata too
    board = root / "board"
    shown = colorbench("run", "--plugin", "gray", "--size", "32", "--profile", "smoke", "--out", board / "results")
    assert shown.returncode == 0, shown.stderr
    header = next(line for line in shown.stdout.splitlines() if "PSNR" in line)
    assert header.split()[-4:] == ["ratio", "diversity", "train", "s"] and "ΔCF ↓  chroma ratio" in header
    gray_row = next(line for line in shown.stdout.splitlines() if line.startswith("gray"))
    assert " 0.000 " in gray_row  # a zero-chroma prediction has (to 8-bit rounding) none of the truth's chroma
    ran = colorbench("run", "--plugin", "gray", "--size", "32", "--profile", "smoke", "--out", root / "other", "--json")
    (result,) = json.loads(ran.stdout)["results"]
    assert result["metrics"]["chroma_ratio"] == pytest.approx(0, abs=1e-3)
    assert result["ci95"]["chroma_ratio"] is None  # no interval it did not give
    record = result["protocol"]["metrics"]["chroma_ratio"]
    assert record["kind"] == "set" and record["title"] == "chroma ratio" and record["version"] == "1"
    assert list(result["metrics"])[-1] == "chroma_ratio"  # after the built-in metrics

    # score: any folder pair gets it too, to the exact value of the whole set
    rng = np.random.default_rng(0)
    truths = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    predictions = [(t * 0.5).astype(np.uint8) for t in truths]
    for i, (t, p) in enumerate(zip(truths, predictions)):
        write_png(root / "gt" / f"{i}.png", t)
        write_png(root / "pred" / f"{i}.png", p)
    scored = colorbench("score", root / "gt", root / "pred", "--device", "cpu", "--json")
    assert scored.returncode == 0, scored.stderr
    expected = sum(map(_chroma, predictions)) / sum(map(_chroma, truths))
    assert json.loads(scored.stdout)["metrics"]["chroma_ratio"] == expected
    assert "chroma_ratio" in colorbench("score", root / "gt", root / "pred", "--device", "cpu").stdout

    # the leaderboard and the published board: a column, from the results alone
    markdown = colorbench("leaderboard", "--results", board / "results", "--format", "markdown")
    assert _after("ΔCF ↓", markdown.stdout) == "chroma ratio", markdown.stdout
    written = colorbench("leaderboard", "--write", "--board", board)
    assert written.returncode == 0, written.stderr
    readme = (board / "README.md").read_text()
    assert _after("ΔCF ↓", readme) == "chroma ratio" and "| chroma\\_ratio | 1 | — |" in readme  # column; protocol
    assert colorbench("leaderboard", "--check", "--board", board).returncode == 0
    here = cli("leaderboard", "--results", board / "results", "--format", "markdown")  # this process: no plugin
    assert here.exit_code == 0 and _after("ΔCF ↓", here.stdout) == "chroma ratio"


def _after(column: str, markdown: str) -> str:
    """The title of the column after ``column`` in the first markdown table's header."""
    header = next(line for line in markdown.splitlines() if line.startswith("|") and column in line)
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    return cells[cells.index(column) + 1]
