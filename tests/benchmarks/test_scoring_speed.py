"""Scoring speed: colorbench's batched metrics against the per-image loop a user
would otherwise write with scikit-image, on the 1,017 CIFAR-10 test images.

Skipped in the normal test run (pyproject's addopts has --benchmark-skip); run with

    python -m pytest tests/benchmarks --benchmark-only

The task both sides do: per image, convert to Lab, zero the chroma, back to 8-bit
RGB (the zero-chroma baseline), then PSNR and SSIM against the original. The
colorbench side is what `colorbench.scoring.evaluate` does with a test set: batches of
`evaluate.BATCH_SIZE`, the ground truth's L alone (all a method is given; the
loop has no cheaper way to get L than skimage's full rgb2lab). The values must
agree (|PSNR diff| < 0.01 dB, |SSIM diff| < 1e-3 per image; asserted): this is
the check that colorbench's metrics are scikit-image's. The ratio of the times
is printed and stored in the benchmark's extra_info, with no target: the
earlier goal of 20x is withdrawn. The yardstick for speed is now what a user
would run instead, `colorbench score` against a torchmetrics loop
(tests/benchmarks/test_score_vs_torchmetrics.py). A shared machine's load moves
the ratio: colorbench's batched, memory-bound work suffers from a neighbour's
memory traffic far more than the loop.

The process's malloc moves colorbench's side 2-3x on a CPU and the loop's hardly
at all, so it is printed and stored with the ratio; docs/cpu-speed.md shows
how to run with tcmalloc.
"""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from colorbench import devices

CIFAR_TEST = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cifar10-subset" / "test"


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    if not CIFAR_TEST.is_dir():
        pytest.skip(f"{CIFAR_TEST} is absent: the shared CIFAR-10 subset lives beside the project, not in it")
    from PIL import Image

    paths = sorted(CIFAR_TEST.rglob("*.png"))
    assert len(paths) == 1017
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def colorbench_scores(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """What `colorbench.scoring.evaluate` does with a test set, batch by batch."""
    from colorbench.scoring.evaluate import BATCH_SIZE
    from colorbench.lab import normalized_lightness, normalized_to_rgb
    from colorbench.scoring.metrics import psnr, ssim, to_uint8

    psnrs, ssims = [], []
    for gt in torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().split(BATCH_SIZE):
        L = normalized_lightness(gt)  # a method is given L alone
        ab = L.new_zeros(len(L), 2, *L.shape[-2:])  # the zero-chroma prediction
        pred = to_uint8(normalized_to_rgb(L, ab))
        psnrs.append(psnr(gt, pred))
        ssims.append(ssim(gt, pred))
    return torch.cat(psnrs), torch.cat(ssims)


def skimage_scores(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loop a user would write."""
    from skimage.color import lab2rgb, rgb2lab
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from skimage.util import img_as_ubyte

    psnrs, ssims = [], []
    for image in images:
        lab = rgb2lab(image)
        lab[..., 1:] = 0
        pred = img_as_ubyte(lab2rgb(lab))
        with np.errstate(divide="ignore"):  # a grayscale image: identical, PSNR inf
            psnrs.append(peak_signal_noise_ratio(image, pred, data_range=255))
        ssims.append(structural_similarity(image, pred, channel_axis=-1, data_range=255))
    return np.array(psnrs), np.array(ssims)


def test_batched_scoring_against_the_skimage_loop(benchmark, images):
    ours = benchmark.pedantic(colorbench_scores, args=(images,), rounds=10, warmup_rounds=1)
    loop_times = []
    for _ in range(2):
        start = time.perf_counter()
        theirs = skimage_scores(images)
        loop_times.append(time.perf_counter() - start)

    psnr_ours, ssim_ours = (t.numpy() for t in ours)
    psnr_theirs, ssim_theirs = theirs
    finite = np.isfinite(psnr_theirs)
    assert (np.isfinite(psnr_ours) == finite).all()  # the same grayscale images
    psnr_diff = np.abs(psnr_ours[finite] - psnr_theirs[finite]).max()
    ssim_diff = np.abs(ssim_ours - ssim_theirs).max()
    ratio = min(loop_times) / benchmark.stats.stats.min
    benchmark.extra_info.update(
        images=len(images),
        torch_threads=torch.get_num_threads(),
        allocator=devices.allocator(),
        skimage_loop_s=min(loop_times),
        colorbench_s=benchmark.stats.stats.min,
        speedup=ratio,
        max_abs_psnr_diff_db=float(psnr_diff),
        max_abs_ssim_diff=float(ssim_diff),
        mean_psnr=float(psnr_ours[finite].mean()),
        mean_ssim=float(ssim_ours.mean()),
    )
    print(
        f"\n{len(images)} images, {torch.get_num_threads()} torch thread(s), {devices.allocator()}: skimage loop {min(loop_times):.3f} s, colorbench {benchmark.stats.stats.min:.4f} s: "
        f"{ratio:.1f}x; max |PSNR diff| {psnr_diff:.2e} dB, max |SSIM diff| {ssim_diff:.2e}; "
        f"mean PSNR {psnr_ours[finite].mean():.4f} dB ({finite.sum()} finite), mean SSIM {ssim_ours.mean():.5f}"
    )
    assert psnr_diff < 0.01 and ssim_diff < 1e-3


def test_lpips_throughput(benchmark, images):
    from colorbench.scoring import lpips_metric

    gt = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    pred = gt.flip(1).contiguous()  # channels swapped: a wrong colourization
    lpips_metric.network()  # built once per process, outside the timing
    d = benchmark.pedantic(lpips_metric.lpips, args=(gt, pred), rounds=3, warmup_rounds=1)
    rate = len(images) / benchmark.stats.stats.mean
    benchmark.extra_info.update(images=len(images), images_per_s=rate, mean_lpips=float(d.mean()))
    print(f"\nLPIPS (alex) on {len(images)} 32x32 pairs: {rate:.0f} pairs/s, mean {float(d.mean()):.4f}")
    assert d.shape == (len(images),) and (d >= 0).all()


def test_metrics_alone_against_skimage(benchmark, images):
    """PSNR and SSIM only, on fixed predictions (the zero-chroma images made once
    by each side): the part of scoring that is not the Lab conversion."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from colorbench.lab import normalized_to_rgb, rgb_to_normalized
    from colorbench.scoring.metrics import psnr, ssim, to_uint8

    gt = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    L, ab = rgb_to_normalized(gt.float() / 255)
    pred = to_uint8(normalized_to_rgb(L, torch.zeros_like(ab)))
    ours = benchmark.pedantic(lambda: (psnr(gt, pred), ssim(gt, pred)), rounds=10, warmup_rounds=1)
    pred_hwc = pred.permute(0, 2, 3, 1).numpy()
    loop_times = []
    for _ in range(2):
        start = time.perf_counter()
        with np.errstate(divide="ignore"):
            theirs = [
                (peak_signal_noise_ratio(g, p, data_range=255), structural_similarity(g, p, channel_axis=-1, data_range=255))
                for g, p in zip(images, pred_hwc)
            ]
        loop_times.append(time.perf_counter() - start)
    psnr_theirs, ssim_theirs = (np.array(v) for v in zip(*theirs))
    finite = np.isfinite(psnr_theirs)
    assert np.abs(ours[0].numpy()[finite] - psnr_theirs[finite]).max() < 1e-9
    assert np.abs(ours[1].numpy() - ssim_theirs).max() < 1e-9
    ratio = min(loop_times) / benchmark.stats.stats.min
    benchmark.extra_info.update(images=len(images), torch_threads=torch.get_num_threads(), allocator=devices.allocator(), skimage_loop_s=min(loop_times), speedup=ratio)
    print(f"\nPSNR + SSIM alone on {len(images)} images, {devices.allocator()}: skimage loop {min(loop_times):.3f} s, colorbench {benchmark.stats.stats.min:.4f} s: {ratio:.1f}x")
