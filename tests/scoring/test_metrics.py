"""colorbench.scoring.metrics must reproduce scikit-image's numbers image by image."""

import numpy as np
import pytest
import skimage.data
import skimage.metrics
import skimage.util
import torch

from colorbench.scoring.builtin_metrics import BY_NAME as METRICS
from colorbench.scoring.metrics import colourfulness, psnr, ssim, to_uint8
from colorbench.scoring.scorer import Scorer

PER_IMAGE = ("psnr", "ssim", "lpips", "colourfulness", "colourfulness_gt", "mean_abs_delta_colourfulness")


def _scores(gt, pred):
    """The built-in metrics of one batch, as `run` and `score` compute them."""
    scorer = Scorer(torch.device("cpu"), METRICS)
    scorer.add(gt, pred, [f"{i}" for i in range(len(gt))])
    return scorer.finish()


def _hwc(batch: torch.Tensor) -> list[np.ndarray]:
    return list(batch.permute(0, 2, 3, 1).numpy())


def _bchw(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _gray(img: np.ndarray) -> np.ndarray:
    """R = G = B = luma: what a colourization with no colour would output."""
    luma = np.round(img @ [0.299, 0.587, 0.114]).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


def _random_pair():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (4, 3, 24, 40), dtype=np.uint8)
    pred = np.clip(gt + rng.normal(0, 30, gt.shape), 0, 255).astype(np.uint8)
    pred[-1] = rng.integers(0, 256, pred[-1].shape)  # one unrelated pair
    return torch.from_numpy(gt), torch.from_numpy(pred)


def _photo_pair(degrade: str):
    """Three real photos cropped to one size, vs a noisy or a grayscale copy."""
    names = ("astronaut", "coffee", "chelsea")
    gt = [getattr(skimage.data, n)()[::3, ::3][:96, :128] for n in names]
    if degrade == "noise":
        rng = np.random.default_rng(1)
        pred = [np.clip(g + rng.normal(0, 12, g.shape), 0, 255).astype(np.uint8) for g in gt]
    else:
        pred = [_gray(g) for g in gt]
    return _bchw(gt), _bchw(pred)


PAIRS = {
    "random": _random_pair,
    "photo_noise": lambda: _photo_pair("noise"),
    "photo_gray": lambda: _photo_pair("gray"),
}


@pytest.fixture(params=PAIRS)
def pair(request):
    return PAIRS[request.param]()


def test_psnr_matches_skimage(pair):
    gt, pred = pair
    ref = [
        skimage.metrics.peak_signal_noise_ratio(g, p, data_range=255)
        for g, p in zip(_hwc(gt), _hwc(pred))
    ]
    ours = psnr(gt, pred)
    assert ours.shape == (len(gt),)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=0.01)


def test_ssim_matches_skimage(pair):
    gt, pred = pair
    ref = [
        skimage.metrics.structural_similarity(g, p, channel_axis=-1, data_range=255)
        for g, p in zip(_hwc(gt), _hwc(pred))
    ]
    ours = ssim(gt, pred)
    assert ours.shape == (len(gt),)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-5)


def test_identical_images():
    gt, _ = _random_pair()
    assert torch.isinf(psnr(gt, gt)).all() and (psnr(gt, gt) > 0).all()
    torch.testing.assert_close(ssim(gt, gt), torch.ones(len(gt), dtype=torch.float64))


def test_ssim_rejects_small_images():
    tiny = torch.zeros(1, 3, 6, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="7x7"):
        ssim(tiny, tiny)


@pytest.mark.parametrize("bad", [torch.zeros(1, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8)])
def test_rejects_non_uint8_batches(bad):
    with pytest.raises((TypeError, ValueError)):
        psnr(bad, bad)


def _colourfulness_numpy(img: np.ndarray) -> float:
    r, g, b = img.astype(np.float64).transpose(2, 0, 1)
    rg, yb = r - g, 0.5 * (r + g) - b
    return np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())


def test_colourfulness_matches_formula(pair):
    gt, pred = pair
    for batch in (gt, pred):
        ref = [_colourfulness_numpy(img) for img in _hwc(batch)]
        np.testing.assert_allclose(colourfulness(batch).numpy(), ref, rtol=1e-10, atol=1e-10)


def test_colourfulness_orders_gray_dull_saturated():
    photos, gray = _photo_pair("gray")
    assert (colourfulness(gray) == 0).all()
    # Pulling colours halfway towards gray makes a dull copy.
    dull = ((photos.double() + gray.double()) / 2).round().to(torch.uint8)
    assert (colourfulness(dull) < colourfulness(photos)).all()
    assert (colourfulness(dull) > 0).all()


def test_to_uint8_matches_img_as_ubyte():
    x = torch.rand(2, 3, 16, 16)
    x[0, 0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 254.5 / 255, 1.0])  # ties
    expected = skimage.util.img_as_ubyte(x.numpy())
    assert torch.equal(to_uint8(x), torch.from_numpy(expected))
    clamped = to_uint8(torch.tensor([-0.2, 1.3]))
    assert torch.equal(clamped, torch.tensor([0, 255], dtype=torch.uint8))


def test_builtin_scores_and_declarations():
    gt, pred = _random_pair()  # 24x40: too small for LPIPS, which is left out
    result = _scores(gt, pred)
    assert set(result.per_image) == {"id", "psnr", "ssim", "colourfulness", "colourfulness_gt", "mean_abs_delta_colourfulness"}
    assert "31" in result.not_computed["lpips"] and result.metrics["lpips"] is None
    assert result.per_image["colourfulness_gt"] == colourfulness(gt).tolist()
    assert [n for n, m in METRICS.items() if m.kind == "per_image"] == list(PER_IMAGE)
    assert METRICS["lpips"].higher_is_better is False and METRICS["lpips"].version == "1"
    assert METRICS["lpips"].colour_space == "sRGB 8-bit, scaled to [-1, 1]"
    assert "v0.1" in METRICS["lpips"].description and "lpips package 0.1" in METRICS["lpips"].description
    assert METRICS["mean_abs_delta_colourfulness"].higher_is_better is False
    assert all(name == m.name for name, m in METRICS.items())
    assert METRICS["delta_colourfulness"].higher_is_better is False and METRICS["delta_colourfulness"].kind == "set"
    assert METRICS["colourfulness"].higher_is_better is None
    assert set(METRICS["psnr"].record()) >= {"name", "version", "higher_is_better", "colour_space", "description", "kind"}


def test_score_includes_lpips_on_large_enough_images():
    gt, pred = _photo_pair("noise")
    result = _scores(gt, pred)
    assert set(result.per_image) == {"id", *PER_IMAGE}
    assert all(v > 0 for v in result.per_image["lpips"]) and all(v == 0 for v in _scores(gt, gt).per_image["lpips"])


def _constant(rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (16, 16, 3)).copy()


def test_colourfulness_difference_both_ways():
    """Two images whose colourfulness swaps: the dataset means agree (delta 0),
    but every image is wrong (mean per-image |difference| = CF of the red one)."""
    gray, red = _constant((120, 120, 120)), _constant((200, 60, 60))
    gt, pred = _bchw([gray, red]), _bchw([red, gray])
    means = _scores(gt, pred).metrics
    cf_red = _colourfulness_numpy(red)
    assert cf_red > 40
    assert means["delta_colourfulness"] == pytest.approx(0, abs=1e-9)
    assert means["mean_abs_delta_colourfulness"] == pytest.approx(cf_red)


def test_identical_images_are_left_out_of_the_psnr_mean_and_counted():
    import json

    gt, pred = _photo_pair("noise")
    pred[0] = gt[0]  # one perfect prediction: PSNR +inf
    summary = _scores(gt, pred)
    finite = psnr(gt, pred).tolist()[1:]
    assert summary.per_image["psnr"][0] is None  # stored as null, never Infinity
    assert summary.metrics["psnr"] == pytest.approx(np.mean(finite))
    assert summary.left_out_of_mean["psnr"]["count"] == 1
    assert summary.left_out_of_mean["psnr"]["ids"] == ["0"]
    assert summary.metrics["ssim"] == pytest.approx(np.mean(summary.per_image["ssim"]))  # SSIM keeps every image
    json.dumps(summary.__dict__, allow_nan=False)
    lo, hi = summary.ci95["psnr"]
    assert lo <= summary.metrics["psnr"] <= hi


def test_all_identical_gives_no_psnr_rather_than_infinity():
    gt, _ = _photo_pair("noise")
    summary = _scores(gt, gt)
    assert summary.metrics["psnr"] is None and summary.ci95["psnr"] is None
    assert summary.left_out_of_mean["psnr"]["count"] == 3
    assert summary.metrics["lpips"] == 0 and summary.ci95["lpips"] == [0.0, 0.0]
