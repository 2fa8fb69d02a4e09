"""Scoring one image pair too large to score whole, tile by tile, to the whole image's numbers.

Memory then depends on the tile size, not the image's. Every metric is made of
sums over positions, and each position reads a bounded neighbourhood of pixels,
so each tile owns the positions in its core (the cores cut the image into a
grid) and reads a margin around it:

- PSNR: the squared errors of the core's pixels, summed exactly in integers:
  bit-identical to the whole image's.
- colourfulness: the sums of rg, rg^2, yb and yb^2 over the core's pixels,
  exact in integers (yb doubled), so the means and variances are the whole
  image's to float64 rounding.
- SSIM: the 7x7 windows whose top-left pixel lies in the core; the tile reads 6
  more rows and columns (`metrics.ssim_map`). Each window is computed from the
  same pixels as in the whole image, so only the order of the final sum moves
  (float64 rounding).
- LPIPS: at each of AlexNet's five layers, the positions i with stride * i in
  the core (`lpips_metric.receptive_fields`). The tile reads the layers'
  receptive fields beyond the core (80 px before, 81 after) and starts at a
  multiple of the total stride (16), so its positions line up with the image's
  and each one it owns is computed from the same pixels, and the same zero
  padding at the image's edges, as in the whole image. The distance maps then
  agree to float32 rounding (a convolution over a different extent may sum in
  another order), and the spatial means are sums over tiles divided by the
  image's counts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from colorbench.scoring import metrics


def _cores(length: int, side: int) -> list[tuple[int, int]]:
    return [(start, min(start + side, length)) for start in range(0, length, side)]


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


class _Colour:
    """Exact integer sums of rg = R - G and 2 yb = R + G - 2 B (and their squares)."""

    def __init__(self):
        self.n = self.rg = self.rg2 = self.yb = self.yb2 = 0

    def add(self, rgb_u8: Tensor) -> None:
        r, g, b = rgb_u8[0].to(torch.int32)
        rg, yb = r - g, r + g - 2 * b
        self.n += rg.numel()
        self.rg += int(rg.sum(dtype=torch.int64))
        self.rg2 += int((rg * rg).sum(dtype=torch.int64))
        self.yb += int(yb.sum(dtype=torch.int64))
        self.yb2 += int((yb * yb).sum(dtype=torch.int64))

    def colourfulness(self) -> Tensor:
        n = self.n
        moments = (
            (n * self.rg2 - self.rg**2) / n**2,  # population variance; the numerator is exact
            self.rg / n,
            (n * self.yb2 - self.yb**2) / (4 * n**2),
            self.yb / (2 * n),
        )
        return metrics.colourfulness_from_moments(*(torch.tensor([m], dtype=torch.float64) for m in moments))


def _crop(x: Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> Tensor:
    return x[..., rows[0] : rows[1], cols[0] : cols[1]]


def _owned(core: tuple[int, int], start: int, length: int, stride: int, n: int) -> slice:
    """The positions i with stride * i in ``core``, in the indices of a tile that
    starts at pixel ``start`` and has ``n`` positions (the last core owns the rest)."""
    stop = n if core[1] == length else core[1] // stride - start // stride
    return slice(core[0] // stride - start // stride, stop)


@torch.no_grad()
def score(gt_u8: Tensor, pred_u8: Tensor, *, with_lpips: bool, max_pixels: int) -> dict[str, Tensor]:
    """`metrics.score` of one pair (1, 3, H, W), read in tiles of at most about
    ``max_pixels`` pixels each, margins included (a tile's core is at least 16 px
    a side, whatever the budget)."""
    from colorbench.scoring import lpips_metric

    if gt_u8.shape != pred_u8.shape or gt_u8.ndim != 4 or len(gt_u8) != 1:
        raise ValueError(f"expected one image pair (1, 3, H, W), got {tuple(gt_u8.shape)} and {tuple(pred_u8.shape)}")
    h, w = gt_u8.shape[-2:]
    if min(h, w) < metrics.SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {metrics.SSIM_WIN}x{metrics.SSIM_WIN} pixels, got {(h, w)}")
    fields = lpips_metric.receptive_fields(gt_u8.device) if with_lpips else []
    align = max([stride for stride, _, _ in fields], default=16)
    before = _round_up(max([-offset for _, offset, _ in fields], default=0), align)
    after = max([offset + size - stride for stride, offset, size in fields] + [metrics.SSIM_WIN - 1])
    side = max(align, (math.isqrt(max_pixels) - before - after) // align * align)

    sse, colour_gt, colour_pred = 0, _Colour(), _Colour()
    ssim_sum, windows = torch.zeros(1, 3, dtype=torch.float64, device=gt_u8.device), 0
    lpips_sums, lpips_counts = [0.0] * len(fields), [0] * len(fields)
    for top, bottom in _cores(h, side):
        for left, right in _cores(w, side):
            core = (top, bottom), (left, right)
            gt, pred = _crop(gt_u8, *core), _crop(pred_u8, *core)
            sse += int(metrics.squared_errors(gt, pred))
            colour_gt.add(gt)
            colour_pred.add(pred)

            reach = (top, min(h, bottom + metrics.SSIM_WIN - 1)), (left, min(w, right + metrics.SSIM_WIN - 1))
            gt, pred = _crop(gt_u8, *reach), _crop(pred_u8, *reach)
            if min(gt.shape[-2:]) >= metrics.SSIM_WIN:  # else no window starts in the core
                s = metrics.ssim_map(gt, pred)
                ssim_sum += s.sum(dim=(0, 1))
                windows += s.shape[0] * s.shape[1]

            if not fields:
                continue
            rows, cols = (max(0, top - before), min(h, bottom + after)), (max(0, left - before), min(w, right + after))
            both = lpips_metric.features(torch.cat([_crop(gt_u8, rows, cols), _crop(pred_u8, rows, cols)]))
            maps = lpips_metric.distance_maps([f[:1] for f in both], [f[1:] for f in both])
            for k, ((stride, _, _), layer) in enumerate(zip(fields, maps)):
                part = layer[0, 0, _owned(core[0], rows[0], h, stride, layer.shape[-2]), _owned(core[1], cols[0], w, stride, layer.shape[-1])]
                lpips_sums[k] += part.double().sum().item()
                lpips_counts[k] += part.numel()

    cf_pred, cf_gt = colour_pred.colourfulness(), colour_gt.colourfulness()
    scores = {
        "psnr": metrics.psnr_from_sse(torch.tensor([sse]), gt_u8[0].numel()),
        "ssim": ssim_sum.cpu().mean(1) / windows,
    }
    if fields:
        scores["lpips"] = torch.tensor([sum(total / n for total, n in zip(lpips_sums, lpips_counts))], dtype=torch.float64)
    return scores | {
        "colourfulness": cf_pred,
        "colourfulness_gt": cf_gt,
        "mean_abs_delta_colourfulness": (cf_pred - cf_gt).abs(),
    }
