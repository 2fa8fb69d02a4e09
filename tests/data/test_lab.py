"""colorbench.lab must agree with skimage.color, the reference every method is judged by."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch

from colorbench.lab import (
    AB_SCALE,
    L_SCALE,
    denormalize,
    lab_to_rgb,
    lightness,
    normalize,
    normalized_lightness,
    normalized_to_rgb,
    rgb_to_lab,
    rgb_to_normalized,
)

TOL = 1e-3


def _random_rgb() -> np.ndarray:
    """Random colours plus the edge cases: black, white, primaries, the 0.04045 knee."""
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3))
    special = [
        (0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1),
    ]  # fmt: skip
    img[0, : len(special)] = special
    knee = 0.04045 + np.array([-1e-4, -1e-6, 0.0, 1e-6, 1e-4])
    img[1, : knee.size] = knee[:, None]
    img[2] = rng.choice(knee, size=(32, 3))
    return img.astype(np.float32)


def _photo(name: str) -> np.ndarray:
    return (getattr(skimage.data, name)()[::4, ::4] / 255.0).astype(np.float32)


IMAGES = {
    "random": _random_rgb,
    "astronaut": lambda: _photo("astronaut"),
    "coffee": lambda: _photo("coffee"),
    "chelsea": lambda: _photo("chelsea"),
}


def _chw(hwc: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc)).permute(2, 0, 1).to(dtype)


def _hwc(chw: torch.Tensor) -> np.ndarray:
    return chw.permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("name", IMAGES)
def test_rgb_to_lab_matches_skimage(name):
    rgb = IMAGES[name]()
    ref = skimage.color.rgb2lab(rgb.astype(np.float64))
    err = np.abs(_hwc(rgb_to_lab(_chw(rgb))) - ref)
    assert err[..., 0].max() < TOL
    assert err[..., 1:].max() < TOL


@pytest.mark.parametrize("name", IMAGES)
def test_lab_to_rgb_matches_skimage_and_round_trips(name):
    rgb = IMAGES[name]()
    lab = skimage.color.rgb2lab(rgb.astype(np.float64))
    ours = lab_to_rgb(_chw(lab))
    assert np.abs(_hwc(ours) - skimage.color.lab2rgb(lab)).max() < TOL
    round_trip = lab_to_rgb(rgb_to_lab(_chw(rgb)))
    assert (round_trip - _chw(rgb)).abs().max() < 1e-4


@pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB")  # skimage's negative-z warning
def test_lab_to_rgb_clips_out_of_gamut_like_skimage():
    rng = np.random.default_rng(1)
    lab = np.stack(
        [rng.uniform(0, 100, (64, 64)), *rng.uniform(-110, 110, (2, 64, 64))], axis=-1
    )
    ref = skimage.color.lab2rgb(lab)
    assert ((ref == 0) | (ref == 1)).mean() > 0.3  # really exercises the clipping
    ours = lab_to_rgb(_chw(lab))
    assert ours.min() >= 0 and ours.max() <= 1
    assert np.abs(_hwc(ours) - ref).max() < TOL
    # float64 in, float64 out: as exact as joining skimage's two branches allows
    # (its rounded constants leave a step of 4e-8 in t, 1e-6 in rgb after x12.92).
    assert np.abs(_hwc(lab_to_rgb(_chw(lab, torch.float64))) - ref).max() < 2e-6


def test_batched_equals_unbatched():
    rgb = torch.stack([_chw(IMAGES[n]()[:32, :32]) for n in ("random", "coffee")])
    assert rgb.shape == (2, 3, 32, 32)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == torch.float32
    for i in range(2):
        torch.testing.assert_close(lab[i], rgb_to_lab(rgb[i]))
        torch.testing.assert_close(lab_to_rgb(lab)[i], lab_to_rgb(lab[i]))


def test_normalize_ranges_and_round_trip():
    rgb = _chw(_random_rgb())[None]
    L, ab = rgb_to_normalized(rgb)
    assert L.shape == (1, 1, 32, 32) and ab.shape == (1, 2, 32, 32)
    assert L.min() >= -1 and L.max() <= 1 + 1e-6
    assert ab.abs().max() < 1  # the sRGB gamut fits tanh's range
    lab = rgb_to_lab(rgb)
    torch.testing.assert_close(denormalize(*normalize(lab)), lab)
    torch.testing.assert_close(normalized_to_rgb(L, ab), rgb, atol=1e-4, rtol=0)
    # The documented mapping, so every method shares one definition.
    torch.testing.assert_close(L, lab[:, :1] / L_SCALE - 1)
    torch.testing.assert_close(ab, lab[:, 1:] / AB_SCALE)


def test_uint8_is_read_as_8bit_srgb():
    """The lookup-table path for 8-bit images agrees with the float path and skimage."""
    rng = np.random.default_rng(2)
    u8 = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    u8[:] = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every value on every channel
    u8[1:] = rng.permuted(u8[1:], axis=2)  # ...in coloured pixels
    ours = rgb_to_lab(torch.from_numpy(u8))
    torch.testing.assert_close(ours, rgb_to_lab(torch.from_numpy(u8).float() / 255), atol=1e-4, rtol=0)
    ref = skimage.color.rgb2lab(u8.transpose(1, 2, 0))
    assert np.abs(_hwc(ours) - ref).max() < TOL


def test_lightness_is_rgb_to_lab_L():
    rgb = torch.stack([_chw(IMAGES[n]()[:32, :32]) for n in ("random", "coffee")])
    torch.testing.assert_close(lightness(rgb), rgb_to_lab(rgb)[:, :1])
    u8 = (rgb * 255).round().to(torch.uint8)
    torch.testing.assert_close(lightness(u8), rgb_to_lab(u8)[:, :1])
    torch.testing.assert_close(normalized_lightness(u8), rgb_to_normalized(u8)[0])


def test_rejects_other_integers_and_bad_shape():
    with pytest.raises(TypeError):
        rgb_to_lab(torch.zeros(3, 4, 4, dtype=torch.int32))
    with pytest.raises(TypeError):
        lab_to_rgb(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError):
        rgb_to_lab(torch.zeros(4, 4, 3))


def test_gradients_are_finite():
    # The branches are clamped so pow never sees an invalid base, even unselected.
    rgb = torch.tensor(_random_rgb()).permute(2, 0, 1).requires_grad_()
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = torch.rand(3, 8, 8) * 220 - 110
    lab[0] = lab[0].abs() / 1.1  # L in [0, 100]
    lab.requires_grad_()
    lab_to_rgb(lab).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_gradients_are_right():
    """The conversions overwrite some intermediates in place for speed: the
    gradients must still be the true ones (away from the kinks and the clipping)."""
    gen = torch.Generator().manual_seed(0)
    rgb = (torch.rand(2, 3, 5, 5, generator=gen, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb,))
    lab = torch.rand(2, 3, 5, 5, generator=gen, dtype=torch.float64)
    lab = (lab * torch.tensor([80.0, 40, 40]).view(3, 1, 1) + torch.tensor([10.0, -20, -20]).view(3, 1, 1))
    assert torch.autograd.gradcheck(lab_to_rgb, (lab.requires_grad_(),))
