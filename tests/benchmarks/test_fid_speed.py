"""FID and KID: feature extraction speed, and colorbench's accumulators against what a
user would write instead (torchmetrics' FrechetInceptionDistance and
KernelInceptionDistance), on 200 CIFAR-10 test images against their zero-chroma
versions, values compared.

Skipped in the normal test run; run with

    python -m pytest tests/benchmarks/test_fid_speed.py --benchmark-only -s

torchmetrics' default network is torch-fidelity's, whose weights it downloads from
GitHub: offline that fails, so it is given the same weights from a file here
(colorbench's, written in torch-fidelity's layout; its unused classifier as
zeros). Its own code then computes the features: an independent check of the
network and the TensorFlow 1 resize (``antialias=False``). torchmetrics' default,
``antialias=True``, resizes otherwise, and its FID is printed beside for that reason.
The comparison asked for (same network, torchmetrics' arithmetic) passes
colorbench's network as ``feature=``.
"""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from colorbench import devices

CIFAR_TEST = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cifar10-subset" / "test"
IMAGES = 200


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """(ground truth, zero-chroma prediction), uint8 (200, 3, 32, 32)."""
    if not CIFAR_TEST.is_dir():
        pytest.skip(f"{CIFAR_TEST} is absent: the shared CIFAR-10 subset lives beside the project, not in it")
    from PIL import Image

    from colorbench.lab import normalized_lightness, normalized_to_rgb
    from colorbench.scoring.metrics import to_uint8

    paths = sorted(CIFAR_TEST.rglob("*.png"))[:IMAGES]
    gt = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])).permute(0, 3, 1, 2).contiguous()
    L = normalized_lightness(gt)
    return gt, to_uint8(normalized_to_rgb(L, L.new_zeros(len(L), 2, *L.shape[-2:])))


@pytest.fixture(scope="module")
def network():
    from colorbench.scoring import fid

    return fid.network(fid.STANDARD, "cpu")


def test_feature_extraction_speed(benchmark, pairs, network):
    from colorbench.scoring import fid

    batch = pairs[0][:32]
    found = benchmark.pedantic(fid.features, args=(network, batch), rounds=2, warmup_rounds=1)
    rate = len(batch) / benchmark.stats.stats.min
    benchmark.extra_info.update(images=len(batch), images_per_s=rate, torch_threads=torch.get_num_threads(), allocator=devices.allocator())
    print(f"\nFID Inception features, CPU, {torch.get_num_threads()} thread(s), {devices.allocator()}: {rate:.2f} images/s")
    assert found.shape == (32, 2048)


def colorbench_fid_kid(gt, pred) -> dict:
    from colorbench.scoring.builtin_metrics import BY_NAME
    from colorbench.scoring.evaluate import BATCH_SIZE
    from colorbench.scoring.scorer import Scorer

    scorer = Scorer(torch.device("cpu"), {n: BY_NAME[n] for n in ("fid", "kid")})
    for start in range(0, len(gt), BATCH_SIZE):
        part = slice(start, start + BATCH_SIZE)
        scorer.add(gt[part], pred[part], [str(i) for i in range(start, min(start + BATCH_SIZE, len(gt)))])
    return scorer.finish().metrics


def timed(f, *args):
    start = time.perf_counter()
    value = f(*args)
    return value, time.perf_counter() - start


def torchmetrics_fid_kid(feature, gt, pred) -> tuple[float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    fid_metric = FrechetInceptionDistance(feature=feature)
    kid_metric = KernelInceptionDistance(feature=feature, subset_size=len(gt))  # its default 1,000 is more than there are
    for metric in (fid_metric, kid_metric):
        for part in gt.split(64):
            metric.update(part, real=True)
        for part in pred.split(64):
            metric.update(part, real=False)
    return float(fid_metric.compute()), float(kid_metric.compute()[0])


def torchmetrics_default_fid(weights: Path, gt, pred, antialias: bool) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights), antialias=antialias)
    for part in gt.split(64):
        metric.update(part, real=True)
    for part in pred.split(64):
        metric.update(part, real=False)
    return float(metric.compute())


def test_fid_and_kid_against_torchmetrics(benchmark, pairs, network, tmp_path, monkeypatch):
    from tests.scoring.test_fid import AsTorchmetricsFeature

    gt, pred = pairs
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # a cold cache of the truth's features
    ours = benchmark.pedantic(colorbench_fid_kid, args=(gt, pred), rounds=1, iterations=1)
    cold = benchmark.stats.stats.min
    warm_values, warm = timed(colorbench_fid_kid, gt, pred)  # the truth's features from the cache: what a board's next method pays
    (tm_fid, tm_kid), tm_time = timed(torchmetrics_fid_kid, AsTorchmetricsFeature(network), gt, pred)

    report = {
        "images": len(gt), "colorbench_cold_s": cold, "colorbench_warm_s": warm, "torchmetrics_s": tm_time,
        "fid": ours["fid"], "kid": ours["kid"], "torchmetrics_fid": tm_fid, "torchmetrics_kid": tm_kid,
    }
    try:
        pytest.importorskip("torch_fidelity")
        state = network.module.state_dict()  # pytorch-fid's names are torch-fidelity's too
        path = tmp_path / "pt_inception_torch_fidelity_layout.pth"
        torch.save({**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, path)
        report["torch_fidelity_network_fid"], report["torch_fidelity_network_s"] = timed(torchmetrics_default_fid, path, gt, pred, False)
        report["torchmetrics_antialias_fid"], _ = timed(torchmetrics_default_fid, path, gt, pred, True)
    except pytest.skip.Exception as e:
        report["torch_fidelity_network"] = f"not compared: {e}"
    benchmark.extra_info.update(report, torch_threads=torch.get_num_threads(), allocator=devices.allocator())
    print("\n" + "\n".join(f"{k}: {v}" for k, v in report.items()))
    assert warm_values == ours
    assert ours["fid"] == pytest.approx(tm_fid, rel=1e-5) and ours["kid"] == pytest.approx(tm_kid, rel=1e-4, abs=1e-6)
    if "torch_fidelity_network_fid" in report:
        assert ours["fid"] == pytest.approx(report["torch_fidelity_network_fid"], rel=1e-3)
