"""The one sRGB <-> CIE Lab conversion and normalisation every method shares.

Constants are scikit-image's (`skimage.color.rgb2lab` / `lab2rgb`: sRGB
companding, D65 white, 2° observer), so a number computed here means the same
as one computed with skimage. Tensors are (..., 3, H, W), channel dim -3, and
stay on their device; float32 is accurate to ~1e-4 against skimage's float64.
"""

import torch
from torch import Tensor

__all__ = [
    "L_SCALE",
    "AB_SCALE",
    "rgb_to_lab",
    "lab_to_rgb",
    "normalize",
    "denormalize",
    "rgb_to_normalized",
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
# Fold the white point into the matrices: one matmul each way instead of two steps.
_XYZN_FROM_RGB = _XYZ_FROM_RGB / _WHITE_D65[:, None]
_RGB_FROM_XYZN = torch.linalg.inv(_XYZ_FROM_RGB) * _WHITE_D65

_EPS = 0.008856  # CIE's (6/29)^3, rounded as skimage rounds it
_KAPPA = 7.787
_F_EPS = 0.2068966  # 6/29: where the inverse f switches branch, as in skimage


def _float(x: Tensor) -> Tensor:
    # Integer input would be silently off by 255x; half precision is too coarse.
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}")
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected shape (..., 3, H, W), got {tuple(x.shape)}")
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _mix(matrix: Tensor, x: Tensor) -> Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix.to(x), x)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1], (..., 3, H, W) -> Lab: L in [0, 100], a and b in CIE units."""
    x = _float(rgb)
    # Clamping inside each branch keeps pow's domain valid, so gradients stay finite.
    linear = torch.where(
        x > 0.04045, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92
    )
    t = _mix(_XYZN_FROM_RGB, linear)
    f = torch.where(t > _EPS, t.clamp_min(_EPS) ** (1 / 3), _KAPPA * t + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab (..., 3, H, W) -> sRGB clipped to [0, 1], as skimage.color.lab2rgb.

    Out-of-gamut colours clip the way skimage clips them: negative z to 0, then
    the final rgb to [0, 1].
    """
    L, a, b = _float(lab).unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, (fy - b / 200).clamp_min(0)], dim=-3)
    t = torch.where(f > _F_EPS, f**3, (f - 16 / 116) / _KAPPA)
    linear = _mix(_RGB_FROM_XYZN, t)
    rgb = torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055,
        12.92 * linear,
    )
    return rgb.clamp(0, 1)


def normalize(lab: Tensor) -> tuple[Tensor, Tensor]:
    """Lab -> (L_norm (..., 1, H, W) in [-1, 1], ab_norm (..., 2, H, W) in ~[-1, 1])."""
    L, ab = lab.split([1, 2], dim=-3)
    return L / L_SCALE - 1, ab / AB_SCALE


def denormalize(L_norm: Tensor, ab_norm: Tensor) -> Tensor:
    """Inverse of `normalize`: back to Lab (..., 3, H, W)."""
    return torch.cat([(L_norm + 1) * L_SCALE, ab_norm * AB_SCALE], dim=-3)


def rgb_to_normalized(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """sRGB in [0, 1] -> (L_norm, ab_norm), the model's input and target."""
    return normalize(rgb_to_lab(rgb))


def normalized_to_rgb(L_norm: Tensor, ab_norm: Tensor) -> Tensor:
    """(L_norm, ab_norm) -> sRGB in [0, 1], e.g. a model's prediction for scoring."""
    return lab_to_rgb(denormalize(L_norm, ab_norm))
