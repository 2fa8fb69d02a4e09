"""Peak memory of `colorbench score` and `colorbench colorize` on large images.

Skipped in the normal test run; run with

    python -m pytest tests/benchmarks/test_large_image_memory.py --benchmark-only -s

Each command runs in its own process under a wrapper process that reports the
command's peak resident set size (``ru_maxrss`` of RUSAGE_CHILDREN is the
largest child a process ever waited for, so each measurement gets a fresh
wrapper). Image pairs are generated in a temporary folder: a smooth colour
image with noise, and a noisier copy as the "prediction".

- score: an image over the batch budget (16 Mpx) is scored in tiles of the
  budget, so a 6000 x 6000 pair must peak no higher than a pair of the
  budget's size (4096 x 4096, scored whole) plus the larger images it holds
  (``SCORE_SLACK``). Before tiling, the 6000 x 6000 pair peaked at 10.3 GB;
  with tiles, 5.5 GB (the 4096 x 4096 pair: about the same).
- colorize: the full-resolution join runs in strips, so what a pixel costs
  beyond the process's baseline (a 64 x 64 image's peak) is the input, the
  output, its full-size ab and the float copy the working size is made from:
  at most ``COLORIZE_BYTES_PER_PIXEL``. Before strips, 6000 x 6000 peaked at
  5.1 GB (about 110 bytes a pixel over the baseline); with strips, 1.65 GB
  (about 13).

Measured peaks are printed and stored in the benchmark's extra_info.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

LARGE, BUDGET_SIDE = 6000, 4096  # 4096^2 = colorbench.scoring.folder_scoring's batch budget: the largest image scored whole
SCORE_SLACK = 1.15
COLORIZE_BYTES_PER_PIXEL = 30

_MEASURE = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if rc.returncode:
    sys.exit(rc.stderr[-2000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB on Linux
"""


def peak_rss_gb(*args) -> float:
    """Peak RSS (GB) of ``python -m colorbench ARGS`` run alone in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "colorbench", *map(str, args)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout) * 1024 / 1e9


def make_pair(root: Path, side: int) -> Path:
    """root/gt/img.png and root/pred/img.png, side x side; returns root."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.ogrid[0:side, 0:side]
    gt = np.empty((side, side, 3), np.uint8)
    pred = np.empty_like(gt)
    for c in range(3):  # one channel at a time: the generator stays small beside the measured processes
        smooth = 110 + 90 * np.sin(x / (400 + 97 * c) + c) * np.cos(y / (300 + 61 * c))
        gt[..., c] = np.clip(smooth + rng.normal(0, 12, (side, side)), 0, 255)
        pred[..., c] = np.clip(gt[..., c] + rng.integers(-20, 21, (side, side)), 0, 255)
    for name, image in (("gt", gt), ("pred", pred)):
        (root / name).mkdir(parents=True)
        Image.fromarray(image).save(root / name / "img.png", compress_level=1)
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[int, Path]:
    return {side: make_pair(tmp_path_factory.mktemp(f"side{side}"), side) for side in (64, BUDGET_SIDE, LARGE)}


def _score(root: Path, out: Path) -> float:
    peak = peak_rss_gb("score", root / "gt", root / "pred", "--device", "cpu", "--out", out)
    result = json.loads(out.read_text())
    assert result["protocol"]["dataset"]["scored"] == 1 and result["metrics"]["lpips"] is not None
    return peak


def test_score_peak_memory_is_bounded_by_the_budget(benchmark, pairs, tmp_path):
    at_budget = _score(pairs[BUDGET_SIDE], tmp_path / "budget.json")
    large = benchmark.pedantic(_score, args=(pairs[LARGE], tmp_path / "large.json"), rounds=1, iterations=1)
    benchmark.extra_info.update(peak_rss_gb={f"{LARGE}x{LARGE}": round(large, 2), f"{BUDGET_SIDE}x{BUDGET_SIDE}": round(at_budget, 2)})
    print(f"\nscore peak RSS: {LARGE}x{LARGE} {large:.2f} GB (tiled), {BUDGET_SIDE}x{BUDGET_SIDE} {at_budget:.2f} GB (whole)")
    assert large < SCORE_SLACK * at_budget


def test_colorize_peak_memory_per_pixel(benchmark, pairs, tmp_path):
    def colorize(side: int) -> float:
        return peak_rss_gb("colorize", pairs[side] / "gt" / "img.png", "--plugin", "gray", "--device", "cpu", "--out", tmp_path / str(side))

    baseline = colorize(64)
    large = benchmark.pedantic(colorize, args=(LARGE,), rounds=1, iterations=1)
    per_pixel = (large - baseline) * 1e9 / LARGE**2
    benchmark.extra_info.update(peak_rss_gb=round(large, 2), baseline_gb=round(baseline, 2), bytes_per_pixel=round(per_pixel, 1))
    print(f"\ncolorize peak RSS: {LARGE}x{LARGE} {large:.2f} GB, baseline {baseline:.2f} GB: {per_pixel:.1f} bytes a pixel")
    assert (tmp_path / str(LARGE) / "img.png").is_file()
    assert per_pixel < COLORIZE_BYTES_PER_PIXEL
