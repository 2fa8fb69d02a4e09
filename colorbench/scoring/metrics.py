"""Batched image-quality metrics on 8-bit RGB, each matching scikit-image.

Inputs are uint8 tensors (B, 3, H, W); outputs are float64 tensors (B,), one
value per image, for the caller to average. Metrics are in RGB, never on L or
Y: a colourization copies luminance from its input, so luminance-only scores
would hardly tell methods apart. Arithmetic is float64 on the inputs' device:
SSIM's E[x^2] - E[x]^2 on values up to 255 cancels badly in float32.

LPIPS (`colorbench.scoring.lpips_metric`) runs on the same device, batched, with a
network built once per process.

Identical images have an infinite PSNR (as skimage gives): such an image is
left out of the PSNR mean and counted (`colorbench.scoring.scorer`), so no
infinity ever reaches a result file; its per-image value is stored as null.

What each metric means (version, direction, definition) is declared in
`colorbench.scoring.builtin_metrics`, registered like a plugin's metrics.
"""

import torch
from torch import Tensor

__all__ = ["to_uint8", "psnr", "ssim", "colourfulness", "lpips"]

SSIM_WIN = 7  # skimage's default window: uniform 7x7, sample covariance


def to_uint8(rgb: Tensor) -> Tensor:
    """Float RGB in [0, 1] -> uint8, as `skimage.util.img_as_ubyte` or saving a PNG.

    Clamped first, then rounded half to even (as numpy's rint), not truncated.
    """
    return rgb.clamp(0, 1).mul_(255).round_().to(torch.uint8)


def _check(x: Tensor) -> Tensor:
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}; see to_uint8")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected shape (B, 3, H, W), got {tuple(x.shape)}")
    return x


def _images(x: Tensor) -> Tensor:
    return _check(x).to(torch.float64)


def _pair(gt: Tensor, pred: Tensor) -> None:
    """Both uint8 (B, 3, H, W) of the same shape, or an error."""
    if gt.shape != pred.shape:
        raise ValueError(f"shape mismatch: {tuple(gt.shape)} vs {tuple(pred.shape)}")
    _check(gt), _check(pred)


def psnr(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """PSNR (dB) per image over all pixels and channels; +inf for identical images.

    The squared error is summed exactly in integers, then divided in float64."""
    _pair(gt_u8, pred_u8)
    return psnr_from_sse(squared_errors(gt_u8, pred_u8), gt_u8[0].numel())


def squared_errors(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """Sum of squared errors per image, exact: int64 (B,)."""
    diff = gt_u8.to(torch.int32) - pred_u8.to(torch.int32)
    return (diff * diff).sum(dim=(1, 2, 3), dtype=torch.int64)


def psnr_from_sse(sse: Tensor, n_values: int) -> Tensor:
    """PSNR (dB) from `squared_errors` over ``n_values`` values (pixels x channels)."""
    mse = sse.double() / n_values
    return 10 * torch.log10(255.0**2 / mse)


def _window_sums(q: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Sums over every 'valid' SSIM_WIN-long window along each of `dims`."""
    for dim in dims:
        q = q.unfold(dim, SSIM_WIN, 1).sum(-1)
    return q


_SSIM_CHUNK_PIXELS = 1 << 16  # images per pass: small enough to stay in cache


def ssim(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """SSIM per image, as skimage's `structural_similarity(..., channel_axis=-1,
    data_range=255)` with its defaults.

    8-bit values are integers, so every window sum (of x, y, x^2 + y^2, xy) is
    an integer below 2^24, exact in float32; the rest is float64, where the
    products of those sums are exact too, so the variances' cancellation
    N S_xx - S_x^2 loses nothing. skimage's uniform filter agrees to ~1e-14."""
    _pair(gt_u8, pred_u8)
    if min(gt_u8.shape[-2:]) < SSIM_WIN:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} pixels, "
            f"got {tuple(gt_u8.shape[-2:])}"
        )
    n, _, h, w = gt_u8.shape
    step = max(1, _SSIM_CHUNK_PIXELS // (h * w))
    return torch.cat([_ssim(gt_u8[i : i + step], pred_u8[i : i + step]) for i in range(0, n, step)])


def _ssim(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    s = ssim_map(gt_u8, pred_u8)
    # Channels' maps have equal size, so the mean of all = mean of per-channel means.
    return s.sum(dim=(0, 1)).mean(1) / (s.shape[0] * s.shape[1])


def ssim_map(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """SSIM of every 'valid' 7x7 window, float64 (H - 6, W - 6, B, 3): window
    (i, j) covers rows i..i+6 and columns j..j+6, so tiles overlapping by 6 rows
    and columns give exactly the windows of the whole image."""
    b, c, h, w = gt_u8.shape
    # Laid out (H, W, image, channel): windows slide over the outer dims, so each
    # sum runs over long contiguous rows. Channels are never mixed: each gets its map.
    q = torch.empty(4, h, w, b, c, device=gt_u8.device)
    x, y, sq, xy = q
    x.copy_(gt_u8.permute(2, 3, 0, 1))
    y.copy_(pred_u8.permute(2, 3, 0, 1))
    torch.mul(x, x, out=sq).addcmul_(y, y)
    torch.mul(x, y, out=xy)
    # 'valid' windows only: exactly skimage's map cropped by (win - 1) // 2.
    sx, sy, sq, sxy = _window_sums(q, (1, 2)).double()
    # skimage: C1 = (K1 L)^2, C2 = (K2 L)^2 on means and sample (co)variances;
    # written here on window sums: mean = S / N, variance = (N S_xx - S_x^2) / (N (N - 1)).
    N = SSIM_WIN**2
    c1 = (0.01 * 255) ** 2 * N * N
    c2 = (0.03 * 255) ** 2 * N * (N - 1)
    mean_xy = sx * sy
    mean_sq = (sx * sx).addcmul_(sy, sy)
    cov = torch.add(mean_xy, sxy, alpha=-N).mul_(-2).add_(c2)  # 2 (N S_xy - S_x S_y) + c2
    var = torch.add(mean_sq, sq, alpha=-N).mul_(-1).add_(c2)  # N (S_xx + S_yy) - S_x^2 - S_y^2 + c2
    return mean_xy.mul_(2).add_(c1).mul_(cov).div_(mean_sq.add_(c1).mul_(var))


def colourfulness(rgb_u8: Tensor) -> Tensor:
    """Hasler & Süsstrunk (2003) colourfulness per image, on 0..255 values.

    M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2), with
    rg = R - G, yb = (R + G) / 2 - B and population std over the pixels.
    """
    r, g, b = _images(rgb_u8).flatten(2).unbind(1)
    var_rg, mean_rg = torch.var_mean(r - g, dim=1, correction=0)
    var_yb, mean_yb = torch.var_mean(0.5 * (r + g) - b, dim=1, correction=0)
    return colourfulness_from_moments(var_rg, mean_rg, var_yb, mean_yb)


def colourfulness_from_moments(var_rg: Tensor, mean_rg: Tensor, var_yb: Tensor, mean_yb: Tensor) -> Tensor:
    """Hasler & Süsstrunk's M from the population variances and means of rg and yb."""
    return (var_rg + var_yb).sqrt() + 0.3 * (mean_rg**2 + mean_yb**2).sqrt()


def lpips(gt_u8: Tensor, pred_u8: Tensor) -> Tensor:
    """LPIPS v0.1 (AlexNet) per image; see `colorbench.scoring.lpips_metric`."""
    from colorbench.scoring import lpips_metric

    _pair(gt_u8, pred_u8)
    return lpips_metric.lpips(gt_u8, pred_u8)
