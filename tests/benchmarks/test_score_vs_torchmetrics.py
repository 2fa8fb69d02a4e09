"""`colorbench score` against the loop a user would otherwise write with torchmetrics:
speed and peak memory side by side, on the same folder pair, and equal values.

Skipped in the normal test run (pyproject's addopts has --benchmark-skip); run with

    python -m pytest tests/benchmarks/test_score_vs_torchmetrics.py --benchmark-only -s

The folder pairs (100 and 2,000 images) are 256 x 256 crops of the CBSD68 photos
(../shared/datasets/cbsd68) at seeded offsets, with as predictions the same crops
with their Lab chroma halved (a plausible, washed-out colourization), all PNG.

Each side runs in its own process, started the same way by a measuring wrapper,
in alternate order, ``ROUNDS`` times; the faster round of each is compared:

- colorbench: ``colorbench score GT PRED --metrics psnr,ssim,lpips --json --out FILE``,
  as a user runs it (its default worker processes decode the images);
- the loop: per pair, both images read with PIL, to float tensors, then torchmetrics'
  ``peak_signal_noise_ratio(data_range=255)``, ``structural_similarity_index_measure``
  (its defaults: an 11 x 11 gaussian window, sigma 1.5) and one
  ``LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)``.

Times are each process's wall time, imports and network building included (what a
user waits for); the time inside is shown too (colorbench's ``evaluation.seconds``:
checking, building LPIPS, scoring and intervals; the loop's loop alone). Peak
memory is the larger of two measures: ``ru_maxrss`` (the largest single process:
colorbench's workers are processes of their own) and the peak, sampled every
0.2 s, of the whole process tree counting each page once (proportional anonymous
and shared memory, plus the largest file-backed resident set). The target
is colorbench at least ``TARGET_SPEEDUP`` times faster at no more peak memory than
the loop: missing it is a warning, not a failure (a shared machine's load moves
times; the load average is shown).

Values must agree per image: PSNR to float32 rounding (torchmetrics sums in float32),
LPIPS to float32 rounding (the same v0.1 weights; colorbench batches the images).
SSIM differs by design: colorbench's is scikit-image's (a 7 x 7 uniform window,
sample covariance; checked on the first images against scikit-image itself), and
torchmetrics' default is a gaussian window; the closest torchmetrics setting
(``gaussian_kernel=False, kernel_size=7``) still uses the population covariance.
Both differences are reported, not asserted.

torchmetrics builds torchvision's ImageNet AlexNet from the torch hub cache. Where
that file is absent (offline), the loop runs with a hub cache in a temporary folder
holding colorbench's copy of the same ``features`` weights (`colorbench weights
fetch`) and an untrained classifier, which LPIPS never uses.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from colorbench import devices

CBSD68 = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cbsd68"
COUNTS = (100, 2000)
CROP = 256
CHROMA_SCALE = 0.5
ROUNDS = 2
TARGET_SPEEDUP = 2
SKIMAGE_CHECKED = 20  # images whose SSIM is also computed with scikit-image itself

_MEASURE = r"""
import json, os, resource, subprocess, sys, tempfile, time

def tree(root):
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += [p for p, pp in parent.items() if pp == pid]
    return found

def fields(path, names):
    try:
        with open(path) as f:
            return sum(int(line.split()[1]) for line in f if line.split(":")[0] in names)
    except OSError:
        return 0

def resident_kib(pids):
    # anonymous and shared memory once (proportional sets: workers share pages with their parent),
    # file-backed pages (the libraries every process of the tree maps) once
    own = sum(fields(f"/proc/{p}/smaps_rollup", ("Pss_Anon", "Pss_Shmem")) for p in pids)
    return own + max(fields(f"/proc/{p}/status", ("RssFile",)) for p in pids)

with tempfile.TemporaryFile() as err:
    start = time.perf_counter()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=err)
    peak, pids, samples = 0, [child.pid], 0
    while child.poll() is None:
        if samples % 5 == 0:
            pids = tree(child.pid)
        peak, samples = max(peak, resident_kib(pids)), samples + 1
        time.sleep(0.2)  # reading a process's page tables costs it time: sampled more often, colorbench's three slowed by 10%
    wall = time.perf_counter() - start
    if child.returncode:
        err.seek(0)
        sys.exit(err.read().decode(errors="replace")[-3000:])
print(json.dumps({"wall_s": wall, "max_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "tree_mib": peak / 1024, "processes": len(pids)}))
"""

_LOOP = r"""
import json, sys, time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional import peak_signal_noise_ratio, structural_similarity_index_measure
from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

gt_dir, pred_dir, out = map(Path, sys.argv[1:4])
lpips = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)


def read(path):
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float()


start = time.perf_counter()
values = {"id": [], "psnr": [], "ssim": [], "lpips": []}
with torch.no_grad():
    for gt_path in sorted(gt_dir.glob("*.png")):
        gt, pred = read(gt_path), read(pred_dir / gt_path.name)
        values["id"].append(gt_path.name)
        values["psnr"].append(peak_signal_noise_ratio(pred, gt, data_range=255.0).item())
        values["ssim"].append(structural_similarity_index_measure(pred, gt, data_range=255.0).item())
        values["lpips"].append(lpips(pred / 255, gt / 255).item())
values["seconds"] = time.perf_counter() - start
out.write_text(json.dumps(values))
"""


def _measured(command: list, env: dict | None = None) -> dict:
    """Wall time and peak memory of ``command`` run alone in a fresh process (`_MEASURE`)."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, command)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    measured["peak_mib"] = max(measured["max_rss_mib"], measured["tree_mib"])
    return measured


def _crops_and_predictions(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` 256 x 256 crops of the CBSD68 photos, in turn, at seeded offsets, and
    each with its Lab chroma scaled by ``CHROMA_SCALE``: uint8 (N, 256, 256, 3) twice."""
    from PIL import Image

    from colorbench.lab import normalized_to_rgb, rgb_to_normalized
    from colorbench.scoring.metrics import to_uint8

    photos = [np.array(Image.open(p).convert("RGB")) for p in sorted(CBSD68.glob("*.png"))]
    assert len(photos) == 68
    rng = np.random.default_rng(0)
    crops = np.empty((count, CROP, CROP, 3), np.uint8)
    for i in range(count):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - CROP + 1), rng.integers(0, photo.shape[1] - CROP + 1)
        crops[i] = photo[y : y + CROP, x : x + CROP]
    predictions = np.empty_like(crops)
    for start in range(0, count, 100):
        gt = torch.from_numpy(crops[start : start + 100]).permute(0, 3, 1, 2).float() / 255
        L, ab = rgb_to_normalized(gt)
        predictions[start : start + 100] = to_uint8(normalized_to_rgb(L, ab * CHROMA_SCALE)).permute(0, 2, 3, 1).numpy()
    return crops, predictions


@pytest.fixture(scope="module")
def folder_pairs(tmp_path_factory) -> dict[int, Path]:
    """{count: a folder with gt/ and pred/ of that many pairs}; the smaller sets are the
    first images of the largest (hard links)."""
    if not CBSD68.is_dir():
        pytest.skip(f"{CBSD68} is absent: the shared CBSD68 photos live beside the project, not in it")
    pytest.importorskip("torchmetrics")
    pytest.importorskip("lpips")
    from PIL import Image

    crops, predictions = _crops_and_predictions(max(COUNTS))
    roots = {n: tmp_path_factory.mktemp(f"pairs{n}") for n in COUNTS}
    largest = roots[max(COUNTS)]
    for side, images in (("gt", crops), ("pred", predictions)):
        for root in roots.values():
            (root / side).mkdir()
        for i, image in enumerate(images):
            name = f"{i:05d}.png"
            Image.fromarray(image).save(largest / side / name)
            for n, root in roots.items():
                if i < n and root != largest:
                    os.link(largest / side / name, root / side / name)
    return roots


@pytest.fixture(scope="module")
def loop_env(tmp_path_factory) -> dict:
    """The environment the torchmetrics loop runs in: torchvision's AlexNet weights in
    the torch hub cache, or else a stand-in hub cache (see the module's docstring)."""
    import torchvision

    from colorbench.errors import UserError
    from colorbench.weights import backbones

    env = dict(os.environ)
    if backbones.hub_path("alexnet").is_file():
        return env
    try:
        features = backbones.features_state_dict("alexnet", download=False)
    except UserError as e:
        pytest.skip(f"torchmetrics' LPIPS needs ImageNet AlexNet weights: {e}")
    state = torchvision.models.alexnet(weights=None).state_dict()
    state.update({f"features.{key}": value for key, value in features.items()})
    home = tmp_path_factory.mktemp("torch_home")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, home / "hub" / "checkpoints" / backbones.BACKBONES["alexnet"].hub_file)
    env["TORCH_HOME"] = str(home)
    return env


def _torchmetrics_ssim_7x7(root: Path, ids: list[str]) -> np.ndarray:
    """torchmetrics' SSIM at the settings closest to scikit-image's, per image."""
    from PIL import Image
    from torchmetrics.functional import structural_similarity_index_measure

    def read(path):
        return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float()

    return np.array([
        structural_similarity_index_measure(read(root / "pred" / i), read(root / "gt" / i), data_range=255.0, gaussian_kernel=False, kernel_size=7).item()
        for i in ids
    ])


def _skimage_ssim(root: Path, ids: list[str]) -> np.ndarray:
    from PIL import Image
    from skimage.metrics import structural_similarity

    def read(path):
        return np.array(Image.open(path).convert("RGB"))

    return np.array([structural_similarity(read(root / "gt" / i), read(root / "pred" / i), channel_axis=-1, data_range=255) for i in ids])


@pytest.mark.parametrize("count", COUNTS)
def test_score_against_the_torchmetrics_loop(benchmark, folder_pairs, loop_env, tmp_path, count):
    from colorbench.scoring.folder_scoring import default_workers

    root = folder_pairs[count]
    ours_json, loop_json = tmp_path / "colorbench.json", tmp_path / "loop.json"
    score = [sys.executable, "-m", "colorbench", "score", root / "gt", root / "pred", "--metrics", "psnr,ssim,lpips", "--json", "--out", ours_json, "--overwrite"]
    loop = [sys.executable, "-c", _LOOP, root / "gt", root / "pred", loop_json]
    runs: dict[str, list[dict]] = {"colorbench": [], "loop": []}
    load = [os.getloadavg()[0]]

    def run_loop():  # before each colorbench round, untimed by pytest-benchmark: the sides alternate
        runs["loop"].append(_measured(loop, loop_env) | {"inside_s": json.loads(loop_json.read_text())["seconds"]})

    def run_colorbench():
        runs["colorbench"].append(_measured(score) | {"inside_s": json.loads(ours_json.read_text())["evaluation"]["seconds"]})

    benchmark.pedantic(run_colorbench, setup=run_loop, rounds=ROUNDS, iterations=1)
    load.append(os.getloadavg()[0])

    ours, theirs = json.loads(ours_json.read_text())["per_image"], json.loads(loop_json.read_text())
    assert ours["id"] == theirs["id"] and len(ours["id"]) == count
    diff = {name: np.abs(np.array(ours[name]) - np.array(theirs[name])) for name in ("psnr", "ssim", "lpips")}
    ssim_7x7 = np.abs(np.array(ours["ssim"]) - _torchmetrics_ssim_7x7(root, ours["id"]))
    skimage = np.abs(np.array(ours["ssim"][:SKIMAGE_CHECKED]) - _skimage_ssim(root, ours["id"][:SKIMAGE_CHECKED]))

    best = {side: min(r["wall_s"] for r in rs) for side, rs in runs.items()}
    inside = {side: min(r["inside_s"] for r in rs) for side, rs in runs.items()}
    peak = {side: max(r["peak_mib"] for r in rs) for side, rs in runs.items()}
    speedup, speedup_inside = best["loop"] / best["colorbench"], inside["loop"] / inside["colorbench"]
    benchmark.extra_info.update(
        images=count, size=f"{CROP}x{CROP}", rounds=ROUNDS, workers=default_workers(), torch_threads=torch.get_num_threads(),
        allocator=devices.allocator(), load_average=load,
        wall_s=best, inside_s=inside, speedup=speedup, speedup_inside=speedup_inside, peak_mib=peak,
        runs=runs,
        max_abs_diff={
            "psnr_db": float(diff["psnr"].max()), "lpips": float(diff["lpips"].max()),
            "ssim_vs_torchmetrics_default": float(diff["ssim"].max()), "ssim_vs_torchmetrics_uniform_7x7": float(ssim_7x7.max()),
            "ssim_vs_skimage": float(skimage.max()),
        },
        mean={name: float(np.mean(ours[name])) for name in ("psnr", "ssim", "lpips")},
    )
    print(
        f"\n{count} pairs of {CROP}x{CROP}, best of {ROUNDS} (load average {load[0]:.1f} to {load[1]:.1f}), {devices.allocator()}, "
        f"{torch.get_num_threads()} torch thread(s), colorbench with {default_workers()} worker(s):\n"
        f"  wall time: colorbench {best['colorbench']:.1f} s, torchmetrics loop {best['loop']:.1f} s: {speedup:.2f}x "
        f"(inside: scoring {inside['colorbench']:.1f} s, loop {inside['loop']:.1f} s: {speedup_inside:.2f}x)\n"
        f"  peak memory: colorbench {peak['colorbench']:.0f} MiB (largest process {max(r['max_rss_mib'] for r in runs['colorbench']):.0f}), "
        f"torchmetrics loop {peak['loop']:.0f} MiB\n"
        f"  max |diff| per image: PSNR {diff['psnr'].max():.1e} dB, LPIPS {diff['lpips'].max():.1e}; SSIM: torchmetrics' default "
        f"{diff['ssim'].max():.1e}, its uniform 7x7 {ssim_7x7.max():.1e}, scikit-image {skimage.max():.1e} (first {SKIMAGE_CHECKED})"
    )
    assert diff["psnr"].max() < 1e-4  # torchmetrics' float32 sum of squared errors
    assert diff["lpips"].max() < 1e-5
    assert skimage.max() < 1e-9
    if speedup < TARGET_SPEEDUP:
        warnings.warn(f"colorbench score took {best['colorbench']:.1f} s, {speedup:.2f}x faster than the torchmetrics loop's {best['loop']:.1f} s; the target is {TARGET_SPEEDUP}x")
    if peak["colorbench"] > peak["loop"]:
        warnings.warn(f"colorbench score peaked at {peak['colorbench']:.0f} MiB, above the torchmetrics loop's {peak['loop']:.0f} MiB")
