"""The one sRGB <-> CIE Lab conversion and normalisation every method shares.

Constants are scikit-image's (`skimage.color.rgb2lab` / `lab2rgb`: sRGB
companding, D65 white, 2° observer), so a number computed here means the same
as one computed with skimage. Tensors are (..., 3, H, W), channel dim -3, and
stay on their device; float32 is accurate to ~1e-4 against skimage's float64.

Written for speed on the CPU as well as the GPU, where evaluation spends most
of its time outside the model (see tests/benchmarks):
- each piecewise curve is the sum of its two clamped branches, not
  `torch.where`, which computes both anyway and is among the slowest ops on a
  CPU. skimage's rounded constants leave its branches up to 4e-7 apart at the
  knee, so the joined curve differs from skimage's by that much on one side
  (4e-5 in L), below float32's own error here;
- powers are exp2(p log2 x) (x > 0 after the clamp), about 1.8x faster than pow;
- 8-bit input is linearised by table lookup, exactly;
- in-place ops only where no backward needs the value they overwrite, so
  gradients still flow (tests/data/test_lab.py checks them with gradcheck).
"""

import functools

import torch
from torch import Tensor

__all__ = [
    "L_SCALE",
    "AB_SCALE",
    "rgb_to_lab",
    "lightness",
    "lab_to_rgb",
    "normalize",
    "denormalize",
    "rgb_to_normalized",
    "normalized_lightness",
    "normalized_to_rgb",
]

# L in [0, 100] -> [-1, 1]; sRGB's a, b lie within about [-86, 98] x [-108, 95],
# so /110 keeps every in-gamut colour inside a tanh output's range.
L_SCALE = 50.0
AB_SCALE = 110.0

_XYZ_FROM_RGB = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=torch.float64,
)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
# Fold the white point into the matrices: one mix each way instead of two steps.
_XYZN_FROM_RGB = (_XYZ_FROM_RGB / _WHITE_D65[:, None]).tolist()
_RGB_FROM_XYZN = (torch.linalg.inv(_XYZ_FROM_RGB) * _WHITE_D65).tolist()

_SRGB_KNEE = 0.04045  # sRGB value where the sRGB curve turns linear...
_LINEAR_KNEE = 0.0031308  # ...and its linear value
_EPS = 0.008856  # CIE's (6/29)^3, rounded as skimage rounds it
_KAPPA = 7.787
_F_EPS = 0.2068966  # 6/29: where the inverse f switches branch, as in skimage


def _float(x: Tensor) -> Tensor:
    # Other integer input would be silently off by 255x; half precision is too coarse.
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor (or uint8 for rgb_to_lab), got {x.dtype}")
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _check_shape(x: Tensor) -> None:
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected shape (..., 3, H, W), got {tuple(x.shape)}")


def _pow(x: Tensor, p: float) -> Tensor:
    """x ** p for x > 0."""
    return x.log2().mul_(p).exp2()


def _joined(high: Tensor, x: Tensor, knee: float, slope: float) -> Tensor:
    """`high` above the knee, the line slope * (x - knee) + high(knee) below it."""
    return (x.clamp_max(knee) - knee).mul_(slope).add_(high)


def _mix(matrix: list[list[float]], x: Tensor) -> Tensor:
    """matrix @ x over the channel dim: multiply-adds are 3x faster than einsum here."""
    c0, c1, c2 = x.unbind(-3)
    return torch.stack([(c0 * m0).add_(c1, alpha=m1).add_(c2, alpha=m2) for m0, m1, m2 in matrix], dim=-3)


def _srgb_to_linear(x: Tensor) -> Tensor:
    high = _pow(x.clamp_min(_SRGB_KNEE).add(0.055).div_(1.055), 2.4)
    return _joined(high, x, _SRGB_KNEE, 1 / 12.92)


# Every 8-bit value's linear light, computed in float64 once.
_LINEAR_FROM_8BIT = _srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255).float()


@functools.cache
def _table_on(device: torch.device) -> Tensor:
    return _LINEAR_FROM_8BIT.to(device)


def _linear_from_8bit(rgb: Tensor) -> Tensor:
    # index_select wants one dim; int32 indices are its fastest
    return _table_on(rgb.device).index_select(0, rgb.flatten().int()).view(rgb.shape)


def _linear(rgb: Tensor) -> Tensor:
    """sRGB, float in [0, 1] or uint8, -> linear light."""
    _check_shape(rgb)
    return _linear_from_8bit(rgb) if rgb.dtype == torch.uint8 else _srgb_to_linear(_float(rgb))


def _f(t: Tensor) -> Tensor:
    """CIE's f: the cube root, linear near black."""
    return _joined(_pow(t.clamp_min(_EPS), 1 / 3), t, _EPS, _KAPPA)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB (..., 3, H, W) -> Lab: L in [0, 100], a and b in CIE units.

    Floating-point input is sRGB in [0, 1]; uint8 input is 8-bit sRGB (0..255)."""
    fx, fy, fz = _f(_mix(_XYZN_FROM_RGB, _linear(rgb))).unbind(-3)
    return torch.stack([116 * fy - 16, (fx - fy).mul_(500), (fy - fz).mul_(200)], dim=-3)


def lightness(rgb: Tensor) -> Tensor:
    """sRGB (..., 3, H, W) -> L alone (..., 1, H, W), in [0, 100]: what a method
    is given, for a third of `rgb_to_lab`'s work."""
    return _f(_mix(_XYZN_FROM_RGB[1:2], _linear(rgb))).mul_(116).sub_(16)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab (..., 3, H, W) -> sRGB clipped to [0, 1], as skimage.color.lab2rgb.

    Out-of-gamut colours clip the way skimage clips them: negative z to 0, then
    the final rgb to [0, 1].
    """
    _check_shape(lab)
    L, a, b = _float(lab).unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, (fy - b / 200).clamp_min_(0)], dim=-3)
    t = _joined(f.clamp_min(_F_EPS) ** 3, f, _F_EPS, 1 / _KAPPA)
    linear = _mix(_RGB_FROM_XYZN, t)
    high = _pow(linear.clamp_min(_LINEAR_KNEE), 1 / 2.4).mul(1.055).sub_(0.055)
    return _joined(high, linear, _LINEAR_KNEE, 12.92).clamp_(0, 1)


def normalize(lab: Tensor) -> tuple[Tensor, Tensor]:
    """Lab -> (L_norm (..., 1, H, W) in [-1, 1], ab_norm (..., 2, H, W) in ~[-1, 1])."""
    L, ab = lab.split([1, 2], dim=-3)
    return L / L_SCALE - 1, ab / AB_SCALE


def denormalize(L_norm: Tensor, ab_norm: Tensor) -> Tensor:
    """Inverse of `normalize`: back to Lab (..., 3, H, W)."""
    return torch.cat([(L_norm + 1) * L_SCALE, ab_norm * AB_SCALE], dim=-3)


def rgb_to_normalized(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """sRGB in [0, 1] (or uint8) -> (L_norm, ab_norm), the model's input and target."""
    return normalize(rgb_to_lab(rgb))


def normalized_lightness(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] (or uint8) -> L_norm alone, the model's input."""
    return lightness(rgb) / L_SCALE - 1


def normalized_to_rgb(L_norm: Tensor, ab_norm: Tensor) -> Tensor:
    """(L_norm, ab_norm) -> sRGB in [0, 1], e.g. a model's prediction for scoring."""
    return lab_to_rgb(denormalize(L_norm, ab_norm))
