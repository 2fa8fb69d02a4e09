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


# FID, KID and FID (tv): `colorbench.scoring.fid` (cheap to import: torch only, already here);
# its networks and weights are loaded when a scoring starts, never to list metrics
FID_RELIABLE_FROM = 2048  # below, the covariance of 2048-d features is rank-deficient and FID biased
INCEPTION_FEATURES = "2048-d pool features (after the last average pool)"


def _fid(device):
    from colorbench.scoring import fid

    return fid.FIDAccumulator(device, fid.STANDARD)


def _kid(device):
    from colorbench.scoring import fid

    return fid.KIDAccumulator(device, fid.STANDARD)


def _fid_tv(device):
    from colorbench.scoring import fid

    return fid.FIDAccumulator(device, fid.TORCHVISION)


def _standard_unavailable(device) -> str | None:
    from colorbench.scoring import fid

    return fid.unavailable(fid.STANDARD, device)


def _tv_unavailable(device) -> str | None:
    from colorbench.scoring import fid

    return fid.unavailable(fid.TORCHVISION, device)


def _inputs(which: str) -> str:
    from colorbench.scoring import fid

    return {"standard": fid.STANDARD_INPUT, "tv": fid.TORCHVISION_INPUT}[which]


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
    Metric(
        name="fid", version="1", title="FID", digits=2, kind=SET,
        higher_is_better=False, colour_space=RGB_8BIT, valid_range=(0.0, 1e6), reliable_from=FID_RELIABLE_FROM,
        description="Fréchet Inception Distance (Heusel et al. 2017) between the ground truth's and the predictions' "
        f"{INCEPTION_FEATURES} of TensorFlow's FID Inception v3 (inception-2015-12-05, the network of pytorch-fid, "
        f"clean-fid and torchmetrics); {_inputs('standard')}; means and covariances in float64, tr sqrt(S1 S2) from "
        "the eigenvalues of S1^1/2 S2 S1^1/2. Biased, its covariances rank-deficient, under 2,048 images: KID beside it",
        accumulator=_fid, needs="the FID Inception weights (`colorbench weights fetch`)", unavailable=_standard_unavailable,
    ),
    Metric(
        name="kid", version="1", title="KID", digits=4, kind=SET,
        higher_is_better=False, colour_space=RGB_8BIT, valid_range=(-1e3, 1e3),  # unbiased: a hair below 0 when the sets agree
        description="Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the kernel (x·y/2048 + 1)^3 "
        "between the same features as fid (same network and inputs), the mean over 100 subsets of 1,000 images "
        "of each set drawn with seed 0 (torchmetrics' defaults), of all images when there are fewer",
        accumulator=_kid, needs="the FID Inception weights (`colorbench weights fetch`)", unavailable=_standard_unavailable,
    ),
    Metric(
        name="fid_tv", version="1", title="FID (tv)", digits=2, kind=SET,
        higher_is_better=False, colour_space=RGB_8BIT, valid_range=(0.0, 1e6), reliable_from=FID_RELIABLE_FROM,
        description="FID as CT2 (Weng et al. 2022) and DDColor (Kang et al. 2023) compute it, not comparable with fid: "
        f"torchvision's ImageNet Inception v3 (inception_v3_google weights), its own blocks, {INCEPTION_FEATURES}; "
        f"{_inputs('tv')}; the same FID arithmetic as fid",
        accumulator=_fid_tv, needs="torchvision's Inception v3 weights (torch hub cache, or its download)", unavailable=_tv_unavailable,
    ),
]
BY_NAME = {m.name: m for m in METRICS}
"""Also what a schema-1 result file's metrics meant (`colorbench.reporting.results` migrates them)."""


@hookimpl(trylast=True)  # registered first: the built-in columns lead every table
def register_metrics(register) -> None:
    for metric in METRICS:
        register(metric)
