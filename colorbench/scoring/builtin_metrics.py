"""The built-in metrics, registered through the same hook as a third party's (the
``metrics`` entry point in pyproject.toml). Their arithmetic is in
`colorbench.scoring.metrics` and `colorbench.scoring.lpips_metric`."""

from __future__ import annotations

from colorbench import hookimpl
from colorbench.scoring import metrics
from colorbench.scoring.registry import PER_IMAGE, RGB_8BIT, SET, Metric

IDENTICAL_REASON = "prediction identical to the ground truth: PSNR is +inf, left out of the PSNR mean"
COLOURFULNESS_RANGE = (0.0, 500.0)  # Hasler & Suesstrunk of 8-bit RGB: at most about 469


def _lpips_version() -> str:
    try:
        from importlib.metadata import version

        return version("lpips")
    except Exception:  # not installed: LPIPS cannot be computed either
        return "not installed"


def _lpips_unavailable(device) -> str | None:
    from colorbench.scoring import lpips_metric

    return lpips_metric.unavailable(device)


def _cf_pred(gt_u8, pred_u8):
    return metrics.colourfulness(pred_u8)


def _cf_gt(gt_u8, pred_u8):
    return metrics.colourfulness(gt_u8)


def _cf_abs_difference(gt_u8, pred_u8):
    return (metrics.colourfulness(pred_u8) - metrics.colourfulness(gt_u8)).abs()


def _cf_difference_of_means(means):
    return abs(means["colourfulness"] - means["colourfulness_gt"])  # floats, or arrays of resampled means


METRICS = [
    Metric(
        name="psnr", version="1", title="PSNR", digits=2, narrow_table=True, kind=PER_IMAGE,
        higher_is_better=True, colour_space=RGB_8BIT, valid_range=(0.0, 400.0),  # MSE <= 255^2; +inf stored as null
        description="PSNR (dB) per image in RGB, data range 255, then mean; skimage.metrics.peak_signal_noise_ratio",
        per_image=metrics.psnr, left_out_reason=IDENTICAL_REASON,
    ),
    Metric(
        name="ssim", version="1", title="SSIM", digits=4, narrow_table=True, kind=PER_IMAGE,
        higher_is_better=True, colour_space=RGB_8BIT, valid_range=(-1.0 - 1e-9, 1.0 + 1e-9),  # rounding: a hair past +-1
        description="SSIM per image (7x7 uniform window, K1=0.01, K2=0.03, sample "
        "covariance, mean over channels), then mean; skimage.metrics.structural_similarity",
        per_image=metrics.ssim, min_size=metrics.SSIM_WIN,
    ),
    Metric(
        name="lpips", version="1", title="LPIPS", digits=4, narrow_table=True, kind=PER_IMAGE,
        higher_is_better=False, colour_space="sRGB 8-bit, scaled to [-1, 1]",
        valid_range=(0.0, 100.0),  # non-negative weights on unit-feature distances: a few at most
        description="LPIPS v0.1, AlexNet backbone (ImageNet features, the package's "
        f"linear layers; lpips package {_lpips_version()}) per image, then mean; images "
        "of at least 31x31 pixels",
        per_image=metrics.lpips, min_size=31, needs="AlexNet ImageNet weights (`colorbench weights fetch`)",
        unavailable=_lpips_unavailable,
    ),
    Metric(
        name="colourfulness", version="1", title="CF", digits=2, kind=PER_IMAGE,
        higher_is_better=None, colour_space=RGB_8BIT, valid_range=COLOURFULNESS_RANGE,
        description="Hasler & Suesstrunk (2003) colourfulness of the prediction per image, then mean",
        per_image=_cf_pred,
    ),
    Metric(
        name="colourfulness_gt", version="1", kind=PER_IMAGE,
        higher_is_better=None, colour_space=RGB_8BIT, valid_range=COLOURFULNESS_RANGE,
        description="Hasler & Suesstrunk (2003) colourfulness of the ground truth per image, then mean",
        per_image=_cf_gt,
    ),
    Metric(
        name="delta_colourfulness", version="1", title="ΔCF", digits=2, narrow_table=True, kind=SET,
        higher_is_better=False, colour_space=RGB_8BIT, valid_range=COLOURFULNESS_RANGE,
        description="|mean colourfulness(pred) - mean colourfulness(gt)| over the dataset; from the means, not per image",
        from_means=_cf_difference_of_means, inputs=("colourfulness", "colourfulness_gt"),
    ),
    Metric(
        name="mean_abs_delta_colourfulness", version="1", kind=PER_IMAGE,
        higher_is_better=False, colour_space=RGB_8BIT, valid_range=COLOURFULNESS_RANGE,
        description="|colourfulness(pred) - colourfulness(gt)| per image, then mean "
        "(not the same as delta_colourfulness, which compares the dataset means)",
        per_image=_cf_abs_difference,
    ),
]
BY_NAME = {m.name: m for m in METRICS}
"""Also what a schema-1 result file's metrics meant (`colorbench.reporting.results` migrates them)."""


@hookimpl(trylast=True)  # registered first: the built-in columns lead every table
def register_metrics(register) -> None:
    for metric in METRICS:
        register(metric)
