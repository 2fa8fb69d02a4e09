"""zhang_eccv16: Zhang, Isola and Efros, "Colorful Image Colorization" (2016): its 313 ab
classes, soft-encoded targets, class rebalancing, annealed mean, network, and the prior
measured on the training data and kept in the checkpoint."""

import math

import pytest
import torch
from rich.console import Console
from torch import nn

from colorbench.data import datasets
from colorbench.lab import AB_SCALE, lab_to_rgb
from colorbench.methods import ab_classes
from colorbench.plugins import get_colorizer
from colorbench.training import checkpoints
from colorbench.training import trainer as training

Zhang = get_colorizer("zhang_eccv16")

# The authors' pts_in_hull.npy (richzhang/colorization), row by row: a, then its first and last b
# (each row is every multiple of 10 between them).
PUBLISHED_ROWS = [
    (-90, 50, 90), (-80, 20, 90), (-70, 0, 90), (-60, -20, 90), (-50, -30, 100), (-40, -40, 100),
    (-30, -50, 100), (-20, -50, 100), (-10, -60, 100), (0, -70, 100), (10, -80, 90), (20, -80, 90),
    (30, -90, 90), (40, -100, 90), (50, -100, 80), (60, -110, 80), (70, -110, 80), (80, -110, 70),
    (90, -110, 70), (100, -90, 0),
]
PUBLISHED = [(a, b) for a, first, last in PUBLISHED_ROWS for b in range(first, last + 1, 10)]


def _points(t: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in t.round().tolist()]


def test_the_bins_are_the_papers_313_in_the_published_order():
    bins = ab_classes.gamut_bins()
    assert len(PUBLISHED) == 313 and bins.shape == (313, 2)
    assert _points(bins) == PUBLISHED  # the same colours, in the same order: class q is the authors' q


def test_309_bins_are_computed_from_the_srgb_gamut_and_the_published_file_adds_4():
    corners = ab_classes.srgb_square_corners()
    assert len(corners) == 309 and set(_points(corners)) <= set(PUBLISHED)
    assert set(PUBLISHED) - set(_points(corners)) == set(ab_classes.PUBLISHED_EXTRA)
    # every sRGB colour lies in a grid square whose four corners are bins
    rgb = torch.rand(3, 20_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    from colorbench.lab import rgb_to_lab

    ab = rgb_to_lab(rgb)[1:, :, 0].T
    bins = set(_points(corners))
    low = (torch.floor(ab / 10) * 10).long().tolist()
    assert all((a + da, b + db) in bins for a, b in low for da in (0, 10) for db in (0, 10))
    # and the 4 added bins hold no sRGB colour within a square's reach of them
    for a, b in ab_classes.PUBLISHED_EXTRA:
        assert ((ab - torch.tensor([a, b], dtype=ab.dtype)).abs().max(1).values >= 10).all()


def test_soft_encoding_weights_the_5_nearest_bins_by_a_gaussian_of_sigma_5():
    bins = ab_classes.gamut_bins()
    ab = torch.tensor([3.0, 4.0], dtype=torch.float64).view(1, 2, 1, 1)
    Z = ab_classes.soft_encode(ab, bins)[0, :, 0, 0]
    # by hand: the nearest bins of (3, 4) and their squared distances
    nearest = {(0, 0): 25, (0, 10): 45, (10, 0): 65, (10, 10): 85, (-10, 0): 185}
    unnormalised = {p: math.exp(-d2 / (2 * 5**2)) for p, d2 in nearest.items()}
    total = sum(unnormalised.values())
    got = {p: Z[_points(bins).index(p)].item() for p in nearest}
    assert got == pytest.approx({p: w / total for p, w in unnormalised.items()}, rel=1e-9)
    assert (Z > 0).sum() == 5 and Z.sum().item() == pytest.approx(1.0)


def test_soft_encoding_of_a_batch_sums_to_1_at_every_pixel_and_peaks_at_the_nearest_bin():
    bins = ab_classes.gamut_bins().float()
    ab = (torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1) * 80
    Z = ab_classes.soft_encode(ab, bins)
    assert Z.shape == (2, 313, 4, 4) and torch.allclose(Z.sum(1), torch.ones(2, 4, 4))
    assert ((Z > 0).sum(1) == 5).all()
    nearest = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), bins).argmin(1)
    assert torch.equal(Z.argmax(1).flatten(), nearest)


def test_rebalancing_weights_by_hand_and_expected_weight_1_under_the_prior():
    prior = torch.tensor([0.7, 0.2, 0.1, 0.0], dtype=torch.float64)
    w = ab_classes.rebalancing_weights(prior, lam=0.5)
    inverse = [1 / (0.5 * p + 0.5 / 4) for p in (0.7, 0.2, 0.1, 0.0)]  # ((1 - λ) p + λ / Q)^-1
    expected = [x / sum(p * x for p, x in zip((0.7, 0.2, 0.1, 0.0), inverse)) for x in inverse]
    assert w.tolist() == pytest.approx(expected, rel=1e-12)
    assert (prior * w).sum().item() == pytest.approx(1.0)  # E_p̃[w] = 1
    assert w[0] < w[1] < w[2] < w[3]  # rarer colours weigh more
    assert ab_classes.rebalancing_weights(prior, lam=1.0).tolist() == pytest.approx([1.0] * 4)  # λ = 1: no rebalancing
    assert Zhang.Config().rebalance == 0.5 and Zhang.Config().prior_sigma == 5.0


def test_the_empirical_distribution_is_smoothed_by_a_gaussian_of_sigma_5_between_bins():
    bins = ab_classes.gamut_bins()
    counts = torch.zeros(313, dtype=torch.float64)
    at = _points(bins).index((0, 0))
    counts[at] = 7
    p = ab_classes.smoothed_distribution(counts, bins, sigma=5.0)
    assert p.sum().item() == pytest.approx(1.0)
    side, diagonal = _points(bins).index((10, 0)), _points(bins).index((10, 10))
    assert (p[side] / p[at]).item() == pytest.approx(math.exp(-100 / 50))  # exp(-d² / 2σ²), d = 10
    assert (p[diagonal] / p[at]).item() == pytest.approx(math.exp(-200 / 50))


def test_annealed_mean_against_a_hand_computation():
    bins = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]])
    z = torch.tensor([0.5, 0.3, 0.2])
    logits = z.log().view(1, 3, 1, 1)

    def by_hand(T):
        f = [p ** (1 / T) for p in z.tolist()]
        f = [x / sum(f) for x in f]
        return [sum(w * c[0] for w, c in zip(f, bins.tolist())), sum(w * c[1] for w, c in zip(f, bins.tolist()))]

    assert ab_classes.annealed_mean(logits, bins, T=1.0).flatten().tolist() == pytest.approx([3.0, 4.0])  # T = 1: the mean
    assert ab_classes.annealed_mean(logits, bins, T=0.38).flatten().tolist() == pytest.approx(by_hand(0.38), rel=1e-5)
    assert ab_classes.annealed_mean(logits, bins, T=1e-3).flatten().tolist() == pytest.approx([0.0, 0.0], abs=1e-6)  # T -> 0: the mode
    assert Zhang.Config().temperature == 0.38


def test_the_full_network_is_the_papers_eight_blocks():
    net = Zhang(size=32).nets["net"]
    assert len(net.blocks) == 8
    for i, (block, width, n) in enumerate(zip(net.blocks, (64, 128, 256, 512, 512, 512, 512, 256), (2, 2, 3, 3, 3, 3, 3, 3))):
        convs = [m for m in block if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convs) == n and all(m.out_channels == width for m in convs)
        assert [m.stride for m in convs][-1] == ((2, 2) if i < 3 else (1, 1))
        assert all(m.dilation == ((2, 2) if i in (4, 5) else (1, 1)) for m in convs)
        assert isinstance(block[-1], nn.BatchNorm2d) == (i < 7)
    assert isinstance(net.blocks[7][0], nn.ConvTranspose2d) and net.blocks[7][0].kernel_size == (4, 4)
    assert net.head.kernel_size == (1, 1) and net.head.out_channels == 313
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 313, 8, 8)  # 1/4 of the input


@pytest.fixture(scope="module")
def builtin32():
    return datasets.load("builtin", size=32)


def _smoke():
    torch.manual_seed(0)
    return Zhang.from_profile("smoke", size=32)


def test_prediction_is_the_annealed_mean_upsampled_to_the_input():
    model = _smoke()
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    ab = model.colorize(L)[0]
    assert ab.shape == (2, 2, 32, 32) and ab.abs().max() <= 1
    with torch.no_grad():
        model.nets.eval()
        low = ab_classes.annealed_mean(model.nets["net"](L), model.nets["classes"].bins, 0.38) / AB_SCALE
    assert torch.allclose(ab[..., 1::4, 1::4], low, atol=0.02)  # bilinear 4x: near the coarse values
    assert torch.allclose(ab.mean((2, 3)), low.mean((2, 3)), atol=0.02)


def test_the_prior_is_measured_on_the_training_data_without_moving_the_random_stream():
    model = _smoke()
    bins = model.nets["classes"].bins
    # two flat images: gray (bin (0, 0)) and a colour at the bin (40, -30)
    lab = torch.tensor([[50.0, 0.0, 0.0], [60.0, 40.0, -30.0]]).view(2, 3, 1, 1).expand(2, 3, 32, 32)
    images = list(lab_to_rgb(lab))
    torch.manual_seed(3)
    model.prepare_training(images)
    drawn = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(drawn, torch.rand(1))
    prior = model.nets["classes"].prior
    gray, colour = _points(bins).index((0, 0)), _points(bins).index((40, -30))
    assert prior.sum().item() == pytest.approx(1.0)
    assert prior[gray].item() == pytest.approx(prior[colour].item(), rel=0.02)  # half the pixels each
    assert set(prior.topk(2).indices.tolist()) == {gray, colour}
    w = model.class_weights()
    assert (prior * w).sum().item() == pytest.approx(1.0, rel=1e-5) and w[gray] < w.max()


def test_smoke_training_keeps_the_prior_in_the_checkpoint(builtin32, tmp_path):
    training.seed_everything(0)
    model = _smoke()
    before = model.nets["net"].head.weight.clone()
    log = training.train(model, builtin32, seed=0, console=Console(quiet=True))
    assert log["steps"] == 3 and log["phases"][0]["final_losses"]["rebalanced_cross_entropy"] > 0
    assert not torch.equal(before, model.nets["net"].head.weight)
    prior = model.nets["classes"].prior
    assert not torch.allclose(prior, torch.full_like(prior, 1 / 313))  # measured, not the uniform start
    path, _ = checkpoints.save(model, tmp_path / "zhang")
    loaded = checkpoints.load(path)  # no data given: the prior comes from the file
    assert torch.equal(loaded.nets["classes"].prior, prior) and torch.equal(loaded.nets["classes"].bins, model.nets["classes"].bins)
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(loaded.colorize(L), model.colorize(L))


def test_the_learning_rate_falls_where_the_papers_did():
    model = Zhang.from_profile("smoke", size=32, steps=450)
    trainer = training.Trainer(model)
    optimizer, scheduler = trainer.optimizers["net"], trainer.schedulers["net"]
    group = optimizer.param_groups[0]
    assert type(optimizer) is torch.optim.Adam and group["betas"] == (0.9, 0.99) and group["weight_decay"] == 1e-3
    rates = []
    for _ in range(450):
        rates.append(group["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == [3e-5] * 200 + [1e-5] * 175 + [3e-6] * 75  # 200k, 375k of 450k iterations
    assert Zhang.profiles["full"] == dict(steps=450_000, batch_size=40)


@pytest.mark.parametrize("overrides", [dict(widths=(8,) * 7), dict(neighbours=0), dict(lrs=(1e-3,)), dict(temperature=0.0)])
def test_settings_that_make_no_such_model_are_usage_errors(overrides):
    from colorbench.errors import UsageError

    with pytest.raises(UsageError, match="zhang_eccv16 cannot be built"):
        Zhang.from_profile("smoke", size=32, **overrides)
