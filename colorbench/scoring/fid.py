"""FID and KID over a test set, and the colourization papers' FID (tv): the
networks' inputs, their features, the arithmetic, and the accumulators the
metric registry streams batches into.

- FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the
  two sets' 2048-d pool features, means and covariances in float64 from running
  sums, so memory stays the same whatever the number of images. The trace term
  tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of
  S1^1/2 S2 S1^1/2, a symmetric matrix with the same eigenvalues as S1 S2 (S1^1/2
  by a symmetric eigendecomposition); eigenvalues under numpy's rank tolerance
  are taken as 0, so the rounding noise of the null directions (2,048 - n of
  them with n images) adds nothing, where the eigenvalues of S1 S2 themselves
  (torchmetrics) or scipy's sqrtm (pytorch-fid) add its square root: a set
  against itself gives 0.
- KID (Bińkowski et al. 2018): the unbiased MMD² with the kernel
  (x·y / 2048 + 1)^3, averaged over 100 random subsets of 1,000 images of each
  set (torchmetrics' defaults), of all images when there are fewer; the subsets
  are drawn from a fixed seed.

The ground truth's features are cached on disk, keyed by the network, its weights,
the preprocessing and the batch's pixels: a board of methods scored on one test
set computes them once. Predictions' features are computed once per batch for
every metric that reads them (FID and KID share them).
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STANDARD, TORCHVISION = "fid_inception", "inception_v3_google"
PREPROCESSING_VERSION = "1"  # bump with any change to the inputs below: cached features are keyed by it
KID_SUBSETS, KID_SUBSET_SIZE, KID_SEED = 100, 1000, 0
CHUNK = 16  # images per forward pass: about 1 GB of activations at 299 px
INPUT_SIZE, FEATURES = 299, 2048  # both networks' input side and pool features
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

STANDARD_INPUT = (
    "each 8-bit RGB image as float32 in 0..255, resized to 299x299 by TensorFlow 1's bilinear rule "
    "(align_corners=False, no half-pixel offset: torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x, "
    "what torchmetrics does with antialias=False), then (x - 128) / 128"
)
TORCHVISION_INPUT = (
    "each 8-bit RGB image as float32 / 255, resized to 299x299 by torch.nn.functional.interpolate "
    "(bilinear, align_corners=False, no antialiasing), then channel c as x * (std_c / 0.5) + (mean_c - 0.5) / 0.5 "
    "with ImageNet's mean and std (CT2's segm/metrics.py, fed [-1, 1] images and mapping them back to [0, 1] first)"
)


# ------------------------------------------------------------------ inputs
def resize_like_tensorflow1(x: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """TensorFlow 1's ``resize_bilinear`` (align_corners=False) of float (B, C, H, W):
    output pixel i samples input position i * in / out, with no half-pixel offset
    (torch's own bilinear has one), clamped at the last row and column."""

    def axis(n_in: int):
        position = torch.arange(size, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        low = position.long()
        return low, (low + 1).clamp_max(n_in - 1), position - low.to(x.dtype)

    (y0, y1, dy), (x0, x1, dx) = axis(x.shape[-2]), axis(x.shape[-1])
    top, bottom = x[..., y0, :], x[..., y1, :]
    top = top[..., x0] + (top[..., x1] - top[..., x0]) * dx
    bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * dx
    return top + (bottom - top) * dy.view(-1, 1)


def standard_input(rgb_u8: Tensor) -> Tensor:
    return (resize_like_tensorflow1(rgb_u8.float()) - 128) / 128


def torchvision_input(rgb_u8: Tensor) -> Tensor:
    x = F.interpolate(rgb_u8.float() / 255, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    scale = torch.tensor([s / 0.5 for s in IMAGENET_STD], device=x.device).view(1, 3, 1, 1)
    shift = torch.tensor([(m - 0.5) / 0.5 for m in IMAGENET_MEAN], device=x.device).view(1, 3, 1, 1)
    return x * scale + shift


# ------------------------------------------------------------------ networks
@dataclass(frozen=True)
class FeatureNetwork:
    name: str
    module: nn.Module  # network input -> (B, 2048)
    preprocess: Callable[[Tensor], Tensor]  # uint8 (B, 3, H, W) -> network input
    identity: str  # what its features depend on: name, weights, preprocessing, device type


def _digest(state: dict[str, Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(f"{key}:{state[key].dtype}:{tuple(state[key].shape)};".encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def build_network(name: str, device: torch.device | str = "cpu") -> FeatureNetwork:
    """A fresh network ``name`` on ``device``, its weights loaded strictly; `network` keeps one per process."""
    from colorbench.weights import fid_weights

    if name == STANDARD:
        from colorbench.scoring.inception import FIDInceptionV3

        state = fid_weights.fid_state_dict()
        module = FIDInceptionV3()
        module.load_state_dict(state, strict=True)
        preprocess = standard_input
    elif name == TORCHVISION:
        from torchvision.models import inception_v3

        from colorbench.scoring.inception import torchvision_pool_features

        state = fid_weights.tv_state_dict()
        model = inception_v3(weights=None, aux_logits=True, init_weights=False)
        missing, unexpected = model.load_state_dict(state, strict=False)  # checked in tv_state_dict, step counters aside
        if unexpected or not all(k.endswith(".num_batches_tracked") for k in missing):
            raise ValueError(f"torchvision's Inception v3 does not take these weights: missing {missing[:3]}, unexpected {unexpected[:3]}")
        module = _Calls(model, torchvision_pool_features)
        preprocess = torchvision_input
    else:
        raise ValueError(f"unknown FID network {name!r}")
    module = module.to(device).eval().requires_grad_(False)
    identity = f"{name}|weights {_digest(state)}|input v{PREPROCESSING_VERSION}|{torch.device(device).type}"
    return FeatureNetwork(name, module, preprocess, identity)


class _Calls(nn.Module):
    """``function(model, x)`` as a module (torchvision's network up to its pool)."""

    def __init__(self, model: nn.Module, function) -> None:
        super().__init__()
        self.model, self.function = model, function

    def forward(self, x: Tensor) -> Tensor:
        return self.function(self.model, x)


@functools.lru_cache(maxsize=None)
def _network(name: str, device: str) -> FeatureNetwork:
    return build_network(name, device)


def network(name: str, device: torch.device | str = "cpu") -> FeatureNetwork:
    """The process-wide network ``name`` on ``device`` (built on first use)."""
    return _network(name, str(torch.device(device)))


def unavailable(name: str, device: torch.device | str = "cpu") -> str | None:
    """Why ``name``'s features cannot be computed here (its weights cannot be had), or None."""
    from colorbench.errors import UserError

    try:
        network(name, device)
    except UserError as e:
        return str(e)
    return None


@torch.no_grad()
def features(net: FeatureNetwork, rgb_u8: Tensor) -> Tensor:
    """(B, 2048) float32 pool features of uint8 images (B, 3, H, W), on the CPU."""
    if rgb_u8.dtype != torch.uint8 or rgb_u8.ndim != 4 or rgb_u8.shape[1] != 3:
        raise ValueError(f"expected uint8 images (B, 3, H, W), got {rgb_u8.dtype} {tuple(rgb_u8.shape)}")
    device = next(net.module.parameters()).device
    parts = [net.module(net.preprocess(chunk.to(device))).float().cpu() for chunk in rgb_u8.split(CHUNK)]
    return torch.cat(parts) if parts else torch.zeros(0, FEATURES)


# ------------------------------------------------------------------ the ground truth's features, cached
def feature_cache_dir() -> Path:
    from colorbench.data.datasets import default_cache_dir

    return default_cache_dir() / "features"


def cache_key(net: FeatureNetwork, rgb_u8: Tensor) -> str:
    h = hashlib.sha256(f"{net.identity}|{tuple(rgb_u8.shape)}|".encode())
    h.update(rgb_u8.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_path(net: FeatureNetwork, rgb_u8: Tensor) -> Path:
    return feature_cache_dir() / net.name / f"{cache_key(net, rgb_u8)}.safetensors"


def cached_features(net: FeatureNetwork, rgb_u8: Tensor) -> Tensor:
    """`features`, read from the cache when a sound entry is there; else computed
    and written (atomically; a cache that cannot be written costs only the time)."""
    from safetensors.torch import load, save

    from colorbench.files import write_atomic

    path = cached_path(net, rgb_u8)
    try:
        stored = load(path.read_bytes()).get("features")
    except Exception:  # absent, unreadable or not safetensors: computed again, never trusted
        stored = None
    if (
        isinstance(stored, Tensor) and stored.dtype == torch.float32 and tuple(stored.shape) == (len(rgb_u8), FEATURES)
        and bool(torch.isfinite(stored).all())
    ):
        return stored
    found = features(net, rgb_u8)
    try:
        write_atomic(path, save({"features": found.contiguous()}))
    except OSError:
        pass
    return found


class _SharedFeatures:
    """The last batches' features per network: FID and KID are updated with the
    same tensors one after the other, and the network runs once for both."""

    def __init__(self) -> None:
        self.recent: dict[tuple[str, bool], tuple[Tensor, int, Tensor]] = {}

    def get(self, net: FeatureNetwork, rgb_u8: Tensor, *, ground_truth: bool) -> Tensor:
        key = (net.identity, ground_truth)
        if (hit := self.recent.get(key)) is not None and hit[0] is rgb_u8 and hit[1] == rgb_u8._version:
            return hit[2]
        found = cached_features(net, rgb_u8) if ground_truth else features(net, rgb_u8)
        self.recent[key] = (rgb_u8, rgb_u8._version, found)
        return found

    def forget(self, net: FeatureNetwork) -> None:
        for key in [k for k in self.recent if k[0] == net.identity]:
            del self.recent[key]


SHARED = _SharedFeatures()


# ------------------------------------------------------------------ the arithmetic
def _above_rank_tolerance(values: Tensor) -> Tensor:
    """Eigenvalues of a symmetric PSD matrix, those under numpy's matrix_rank tolerance as 0."""
    tolerance = values.max().clamp_min(0) * len(values) * torch.finfo(values.dtype).eps
    return torch.where(values > tolerance, values, torch.zeros_like(values))


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    """tr sqrt(S1 S2) of two covariance matrices (float64)."""
    values, vectors = torch.linalg.eigh(sigma1)
    root = (vectors * _above_rank_tolerance(values).sqrt()) @ vectors.T
    product = root @ sigma2 @ root
    return _above_rank_tolerance(torch.linalg.eigvalsh((product + product.T) / 2)).sqrt().sum()


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """||mu1 - mu2||² + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), in float64."""
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    trace_sqrt = trace_sqrt_product(sigma1, sigma2)
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return max(float(value), 0.0)  # never below 0 but by rounding


def mean_and_covariance(features: Tensor) -> tuple[Tensor, Tensor]:
    moments = Moments(features.shape[1])
    moments.add(features)
    return moments.mean_and_covariance()


class Moments:
    """Running count, sum and sum of outer products of features, float64 on the CPU."""

    def __init__(self, dim: int = FEATURES) -> None:
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def add(self, features: Tensor) -> None:
        f = features.double().cpu()
        self.n += len(f)
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def mean_and_covariance(self) -> tuple[Tensor, Tensor]:
        mean = self.sum / self.n
        return mean, (self.outer - self.n * torch.outer(mean, mean)) / (self.n - 1)


def polynomial_mmd(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD² of two equal-sized samples with the kernel (x·y / d + 1)^3, float64."""
    x, y = x.double(), y.double()
    m, d = len(x), x.shape[1]

    def kernel(a: Tensor, b: Tensor) -> Tensor:
        return (a @ b.T / d + 1) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / m**2)


def kernel_inception_distance(real: Tensor, fake: Tensor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = KID_SEED) -> float | None:
    """Mean `polynomial_mmd` over ``subsets`` random subsets of ``subset_size``
    (of all images when there are fewer); None under 2 images."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        return None
    if size == len(real) == len(fake):
        return polynomial_mmd(real, fake)  # every subset is the whole of both sets: one value
    generator = torch.Generator().manual_seed(seed)
    values = [
        polynomial_mmd(real[torch.randperm(len(real), generator=generator)[:size]], fake[torch.randperm(len(fake), generator=generator)[:size]])
        for _ in range(subsets)
    ]
    return math.fsum(values) / len(values)


# ------------------------------------------------------------------ accumulators (`colorbench.scoring.registry.Accumulator`)
class FIDAccumulator:
    def __init__(self, device: torch.device, name: str = STANDARD) -> None:
        self.net = network(name, device)
        self.real, self.fake = Moments(), Moments()

    def update(self, gt_u8: Tensor, pred_u8: Tensor) -> None:
        self.real.add(SHARED.get(self.net, gt_u8, ground_truth=True))
        self.fake.add(SHARED.get(self.net, pred_u8, ground_truth=False))

    def finish(self) -> float | None:
        SHARED.forget(self.net)
        if min(self.real.n, self.fake.n) < 2:
            return None
        return frechet_distance(*self.real.mean_and_covariance(), *self.fake.mean_and_covariance())


class KIDAccumulator:
    """Keeps the features themselves (KID draws subsets of them): 2048 float32 per
    image and set, 16 MB per thousand images, 800 MB for ImageNet val50k's two sets."""

    def __init__(self, device: torch.device, name: str = STANDARD) -> None:
        self.net = network(name, device)
        self.real: list[Tensor] = []
        self.fake: list[Tensor] = []

    def update(self, gt_u8: Tensor, pred_u8: Tensor) -> None:
        self.real.append(SHARED.get(self.net, gt_u8, ground_truth=True))
        self.fake.append(SHARED.get(self.net, pred_u8, ground_truth=False))

    def finish(self) -> float | None:
        SHARED.forget(self.net)
        if not self.real:
            return None
        return kernel_inception_distance(torch.cat(self.real), torch.cat(self.fake))
