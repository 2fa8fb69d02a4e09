"""Images larger than the memory budget: scored in tiles and colourized in strips,
to the numbers and bytes of the whole image (peak memory: tests/benchmarks)."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from colorbench.methods import colorize_files as images
from colorbench.scoring import folder_scoring, lpips_metric, metrics, tiled_scoring
from colorbench.errors import UserError
from tests.helpers import one_json, write_png

LPIPS_RTOL = 1e-6  # float32 convolutions over tiles of other sizes may sum in another order


def _pair(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth colour image with noise, (1, 3, H, W) uint8, and a noisier copy."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = torch.stack([128 + 100 * torch.sin(x / (20 + 7 * c) + c) * torch.cos(y / (15 + 5 * c)) for c in range(3)])
    gt = (base + 15 * torch.randn(3, h, w, generator=g)).clamp(0, 255).round().to(torch.uint8)[None]
    pred = (gt.int() + torch.randint(-25, 26, gt.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return gt, pred


def _whole(gt, pred, with_lpips=True) -> dict:
    """The built-in per-image metrics of the whole image, as `score` computes them untiled."""
    from colorbench.scoring.builtin_metrics import METRICS

    return {m.name: m.per_image(gt, pred) for m in METRICS if m.kind == "per_image" and (with_lpips or m.name != "lpips")}


def _assert_same_scores(tiled: dict, whole: dict) -> None:
    assert tiled.keys() == whole.keys()
    assert tiled["psnr"].item() == whole["psnr"].item()  # integer squared errors: exact
    for name in ("ssim", "colourfulness", "colourfulness_gt", "mean_abs_delta_colourfulness"):
        assert tiled[name].item() == pytest.approx(whole[name].item(), rel=1e-12, abs=1e-13), name
    if "lpips" in whole:
        assert tiled["lpips"].item() == pytest.approx(whole["lpips"].item(), rel=LPIPS_RTOL)


@pytest.mark.parametrize("shape", [(200, 300), (201, 263)])
def test_tiles_score_as_the_whole_image_lpips_included(shape):
    gt, pred = _pair(*shape)
    # cores of 80 px (a 250 px tile less LPIPS's 80 + 81 px margins): 3 x 4 tiles or more
    tiled = tiled_scoring.score(gt, pred, with_lpips=True, max_pixels=250 * 250)
    _assert_same_scores(tiled, _whole(gt, pred))


@settings(max_examples=30, deadline=None)
@given(h=st.integers(7, 70), w=st.integers(7, 70), seed=st.integers(0, 2**16))
def test_tiles_score_as_the_whole_image_at_any_size(h, w, seed):
    """16 px cores (the smallest), at sizes where the last core is 1 px or holds no SSIM window."""
    gt, pred = _pair(h, w, seed)
    tiled = tiled_scoring.score(gt, pred, with_lpips=False, max_pixels=1)
    _assert_same_scores(tiled, _whole(gt, pred, with_lpips=False))


def test_a_pair_identical_in_tiles_is_perfect():
    gt, _ = _pair(40, 50)
    tiled = tiled_scoring.score(gt, gt, with_lpips=False, max_pixels=1)
    assert tiled["psnr"].item() == float("inf") and tiled["ssim"].item() == pytest.approx(1, abs=1e-15)


def test_receptive_fields_bound_what_lpips_looks_at():
    """Changing every pixel outside a position's field, on either side, leaves its
    features alone (what makes the tiles' margins enough)."""
    gt, pred = _pair(224, 224)
    base = lpips_metric.features(torch.cat([gt, pred]))
    for k, (stride, offset, size) in enumerate(lpips_metric.receptive_fields()):
        i = -(-(1 - offset) // stride)  # the first position with a pixel before its field
        first, last = stride * i + offset, stride * i + offset + size - 1
        assert first >= 1 and last + 1 < 224
        for outside in (slice(0, first), slice(last + 1, None)):
            changed = gt.clone()
            changed[..., outside, :] = 255 - changed[..., outside, :]
            changed[..., :, outside] = 255 - changed[..., :, outside]
            features = lpips_metric.features(torch.cat([changed, pred]))[k]
            assert torch.equal(features[0, :, i, i], base[k][0, :, i, i]), (k, outside)
        changed = gt.clone()
        changed[..., first : last + 1, first : last + 1] = 255 - changed[..., first : last + 1, first : last + 1]
        assert not torch.equal(lpips_metric.features(torch.cat([changed, pred]))[k][0, :, i, i], base[k][0, :, i, i])


def test_score_folders_tiles_only_what_exceeds_the_budget(tmp_path):
    shapes = {"big.png": (200, 300), "small_a.png": (40, 48), "small_b.png": (40, 48)}
    for name, shape in shapes.items():
        gt, pred = (x[0].permute(1, 2, 0).numpy() for x in _pair(*shape))
        write_png(tmp_path / "gt" / name, gt)
        write_png(tmp_path / "pred" / name, pred)
    problems = folder_scoring.Problems()
    loaded = folder_scoring.load(folder_scoring.pair(tmp_path / "gt", tmp_path / "pred", problems), problems)
    budget = 50_000  # under the big image's 60,000 px, over the small ones' 2 x 1,920
    batches = [([loaded[i].id for i in indices], tiled) for indices, tiled in folder_scoring._batches(loaded, budget)]
    assert batches == [(["small_a.png", "small_b.png"], False), (["big.png"], True)]

    cpu = torch.device("cpu")
    tiled = folder_scoring.score_folders(tmp_path / "gt", tmp_path / "pred", device=cpu, max_pixels=budget)
    whole = folder_scoring.score_folders(tmp_path / "gt", tmp_path / "pred", device=cpu)
    assert tiled["per_image"]["id"] == whole["per_image"]["id"] == sorted(shapes)
    for name, values in whole["per_image"].items():
        if name != "id":
            np.testing.assert_allclose(tiled["per_image"][name], values, rtol=LPIPS_RTOL if name == "lpips" else 1e-12)


def _write_pairs(root, shapes: dict, gray=()) -> None:
    for name, shape in shapes.items():
        gt, pred = (x[0].permute(1, 2, 0).numpy() for x in _pair(*shape, seed=len(name)))
        if name in gray:
            gt = gt[..., :1].repeat(3, axis=2)
        write_png(root / "gt" / name, gt)
        write_png(root / "pred" / name, pred)


def test_score_holds_one_batch_of_pixels_not_every_image(tmp_path):
    """Checking reads every pair whole but keeps only its size: memory does not grow
    with the number of images (numpy's arrays are what tracemalloc sees)."""
    import tracemalloc

    _write_pairs(tmp_path, {f"{i}.png": (200, 300 + i) for i in range(12)})  # no two alike: one per batch
    pair_bytes = 2 * 200 * 312 * 3
    problems = folder_scoring.Problems()
    pairs = folder_scoring.pair(tmp_path / "gt", tmp_path / "pred", problems)
    tracemalloc.start()
    try:
        loaded = folder_scoring.load(pairs, problems)
        _, checking = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        scored = folder_scoring.score_folders(tmp_path / "gt", tmp_path / "pred", device=torch.device("cpu"))
        _, scoring = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded) == scored["scored"] == 12 and not problems.count()
    assert checking < 4 * pair_bytes and scoring < 4 * pair_bytes, (checking, scoring, 12 * pair_bytes)


@pytest.mark.parametrize("change", ["truncated", "resized"])
def test_a_file_changed_between_checking_and_scoring_is_named(tmp_path, change):
    _write_pairs(tmp_path, {"a.png": (40, 50)})
    problems = folder_scoring.Problems()
    (checked,) = folder_scoring.load(folder_scoring.pair(tmp_path / "gt", tmp_path / "pred", problems), problems)
    if change == "truncated":
        (tmp_path / "pred" / "a.png").write_bytes((tmp_path / "pred" / "a.png").read_bytes()[:100])
    else:
        write_png(tmp_path / "pred" / "a.png", np.zeros((41, 50, 3), np.uint8))
    with pytest.raises(UserError, match=r"pred/a\.png: .*(damaged image|now 50x41, was 50x40).* changed while being scored\?"):
        checked.read()


def test_lpips_left_out_names_the_images_too_small_for_it(cli, tmp_path):
    _write_pairs(tmp_path, {"big.png": (40, 40), "gray_small.png": (20, 20)}, gray={"gray_small.png"})
    scored = folder_scoring.score_folders(tmp_path / "gt", tmp_path / "pred", device=torch.device("cpu"))
    assert scored["not_computed"] == {} and scored["excluded"]["ids"] == ["gray_small.png"]  # not scored: no bar to LPIPS
    _write_pairs(tmp_path, {"small.png": (20, 30)})
    result = cli("score", tmp_path / "gt", tmp_path / "pred", "--json")
    assert one_json(result)["not_computed"]["lpips"] == "1 image(s) under 31 px on the shorter side, which LPIPS needs: small.png"


def test_a_folder_of_grayscale_truths_says_how_many(cli, tmp_path):
    _write_pairs(tmp_path, {"a.png": (20, 20), "b.png": (20, 20)}, gray={"a.png", "b.png"})
    result = cli("score", tmp_path / "gt", tmp_path / "pred")
    assert result.exit_code == 1 and result.stderr.strip() == (
        "Error: every ground-truth image (2) is grayscale (ground truth has no chroma (R = G = B)): nothing to score colourization on"
    )


# ------------------------------------------------------------------ colorize in strips
@pytest.fixture(scope="module")
def colorizer():
    """An untrained U-Net with its weights scaled up, so its ab spans [-1, 1] and varies."""
    from colorbench.plugins import get_colorizer

    torch.manual_seed(0)
    model = get_colorizer("unet_cgan").from_profile("smoke", size=32, ngf=4, ndf=4, z_dim=3)
    with torch.no_grad():
        for p in model.nets.parameters():
            p.mul_(4)
    return model


def _join_whole(colorizer, rgb: np.ndarray) -> np.ndarray:
    """The join as made before strips: the whole image's L and ab at once."""
    from colorbench.data.datasets import to_float
    from colorbench.lab import normalized_lightness, normalized_to_rgb

    full = to_float(rgb)[None]
    ab = colorizer.colorize(normalized_lightness(images._working_size(colorizer, full)), n_samples=1, seed=0)[0]
    ab_full = F.interpolate(ab, size=full.shape[-2:], mode="bilinear", align_corners=False)
    return metrics.to_uint8(normalized_to_rgb(normalized_lightness(full), ab_full))[0].permute(1, 2, 0).numpy()


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("strip_pixels", [1, 301 * 7, 10**9])
def test_strips_give_the_same_bytes_as_the_whole_join(colorizer, strip_pixels):
    rgb = np.random.default_rng(0).integers(0, 256, (203, 301, 3), dtype=np.uint8)
    expected = _join_whole(colorizer, rgb)
    assert np.abs(expected.astype(int) - rgb).mean() > 20  # the colourizer really moves colours
    out = images.colorize_array(colorizer, rgb, strip_pixels=strip_pixels)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert _png(out) == _png(expected)
