"""Batched image-quality metrics on 8-bit RGB, each matching scikit-image.

Inputs are uint8 tensors (B, 3, H, W); outputs are float64 tensors (B,), one
value per image, for the caller to average. Metrics are in RGB, never on L or
Y: a colourization copies luminance from its input, so luminance-only scores
would hardly tell methods apart. Arithmetic is float64 on the inputs' device:
SSIM's E[x^2] - E[x]^2 on values up to 255 cancels badly in float32.
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Metric",
    "METRICS",
    "protocol",
    "to_uint8",
    "psnr",
    "ssim",
    "colourfulness",
    "score",
    "PER_IMAGE",
    "summarize",
]

SSIM_WIN = 7  # skimage's default window: uniform 7x7, sample covariance
_RGB_8BIT = "sRGB, 8-bit, 3 channels"


@dataclass(frozen=True)
class Metric:
    """What a number in a result file means, so results stay comparable."""

    name: str
    version: str  # bump when a change moves numbers
    higher_is_better: bool | None  # None when neither direction is better
    colour_space: str
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            name="psnr",
            version="1",
            higher_is_better=True,
            colour_space=_RGB_8BIT,
            description="PSNR (dB) per image in RGB, data range 255, then mean; "
            "skimage.metrics.peak_signal_noise_ratio",
        ),
        Metric(
            name="ssim",
            version="1",
            higher_is_better=True,
            colour_space=_RGB_8BIT,
            description="SSIM per image (7x7 uniform window, K1=0.01, K2=0.03, sample "
            "covariance, mean over channels), then mean; skimage.metrics.structural_similarity",
        ),
        Metric(
            name="colourfulness",
            version="1",
            higher_is_better=None,
            colour_space=_RGB_8BIT,
            description="Hasler & Suesstrunk (2003) colourfulness of the prediction "
            "per image, then mean",
        ),
        Metric(
            name="colourfulness_gt",
            version="1",
            higher_is_better=None,
            colour_space=_RGB_8BIT,
            description="Hasler & Suesstrunk (2003) colourfulness of the ground truth "
            "per image, then mean",
        ),
        Metric(
            name="delta_colourfulness",
            version="1",
            higher_is_better=False,
            colour_space=_RGB_8BIT,
            description="|mean colourfulness(pred) - mean colourfulness(gt)| over the "
            "dataset; from the means, not per image",
        ),
    ]
}


def protocol() -> dict:
    """{name: metric metadata} for result files."""
    return {name: asdict(m) for name, m in METRICS.items()}


def to_uint8(rgb: Tensor) -> Tensor:
    """Float RGB in [0, 1] -> uint8, as `skimage.util.img_as_ubyte` or saving a PNG.

    Clamped first, then rounded half to even (as numpy's rint), not truncated.
    """
    return rgb.clamp(0, 1).mul(255).round().to(torch.uint8)


def _images(x: Tensor) -> Tensor:
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}; see to_uint8")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected shape (B, 3, H, W), got {tuple(x.shape)}")
    return x.to(torch.float64)


def _pair(gt: Tensor, pred: Tensor) -> tuple[Tensor, Tensor]:
    if gt.shape != pred.shape:
        raise ValueError(f"shape mismatch: {tuple(gt.shape)} vs {tuple(pred.shape)}")
    return _images(gt), _images(pred)


def psnr(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """PSNR (dB) per image over all pixels and channels; +inf for identical images."""
    x, y = _pair(gt_u8, pred_u8)
    mse = (x - y).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse)


def ssim(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """SSIM per image, as skimage's `structural_similarity(..., channel_axis=-1,
    data_range=255)` with its defaults."""
    x, y = _pair(gt_u8, pred_u8)
    if min(x.shape[-2:]) < SSIM_WIN:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} pixels, "
            f"got {tuple(x.shape[-2:])}"
        )
    # 'valid' windows only: exactly skimage's map cropped by (win - 1) // 2.
    # avg_pool2d never mixes channels, so each channel gets its own SSIM map.
    def mean(t: Tensor) -> Tensor:
        return F.avg_pool2d(t, SSIM_WIN, stride=1)

    ux, uy = mean(x), mean(y)
    cov_norm = SSIM_WIN**2 / (SSIM_WIN**2 - 1)  # sample covariance
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    # Channels' maps have equal size, so the mean of all = mean of per-channel means.
    return s.mean(dim=(1, 2, 3))


def colourfulness(rgb_u8: Tensor) -> Tensor:
    """Hasler & Süsstrunk (2003) colourfulness per image, on 0..255 values.

    M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2), with
    rg = R - G, yb = (R + G) / 2 - B and population std over the pixels.
    """
    r, g, b = _images(rgb_u8).flatten(2).unbind(1)
    var_rg, mean_rg = torch.var_mean(r - g, dim=1, correction=0)
    var_yb, mean_yb = torch.var_mean(0.5 * (r + g) - b, dim=1, correction=0)
    return (var_rg + var_yb).sqrt() + 0.3 * (mean_rg**2 + mean_yb**2).sqrt()


def score(gt_u8: Tensor, pred_u8: Tensor) -> dict[str, Tensor]:
    """Per-image metrics (each (B,)) for a batch.

    `delta_colourfulness` is missing on purpose: it compares dataset means,
    |mean CF(pred) - mean CF(gt)|, so the caller computes it after averaging.
    """
    return {
        "psnr": psnr(gt_u8, pred_u8),
        "ssim": ssim(gt_u8, pred_u8),
        "colourfulness": colourfulness(pred_u8),
        "colourfulness_gt": colourfulness(gt_u8),
    }


PER_IMAGE = ("psnr", "ssim", "colourfulness", "colourfulness_gt")
"""The metrics `score` gives per image; the rest are computed from their means."""


def summarize(per_image: dict[str, list[float]]) -> dict[str, float]:
    """Means of the per-image values, plus |mean CF(pred) - mean CF(gt)|."""
    means = {name: float(torch.tensor(per_image[name], dtype=torch.float64).mean()) for name in PER_IMAGE}
    means["delta_colourfulness"] = abs(means["colourfulness"] - means["colourfulness_gt"])
    return means
