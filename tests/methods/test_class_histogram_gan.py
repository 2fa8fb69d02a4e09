"""class_histogram_gan: Wan (2019) §4.1's proposal, a classifier-weighted class
colour histogram at the bottleneck of §3.1's encoder-decoder GAN."""

import pytest
import torch
from rich.console import Console

from colorbench.data import datasets
from colorbench.methods.histograms import ab_histogram, kmeans
from colorbench.methods.networks import EncoderDecoder
from colorbench.plugins import get_colorizer
from colorbench.training import trainer as training

ClassHistogramGAN = get_colorizer("class_histogram_gan")


def test_kmeans_finds_separated_groups_and_repeats_with_its_seed():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(points, 3)
    assert torch.cdist(centres, found).min(1).values.max() < 0.1
    assert torch.equal(found, kmeans(points, 3))
    with pytest.raises(ValueError, match="2 points cannot make 3"):
        kmeans(points[:2], 3)


@pytest.fixture(scope="module")
def builtin16():
    return datasets.load("builtin", size=16)


def _small(**overrides):
    return ClassHistogramGAN.from_profile("smoke", size=16, ngf=8, ndf=8, **overrides)


def test_classes_come_from_the_training_images_without_moving_the_random_stream(builtin16):
    model = _small(classes=4)
    torch.manual_seed(0)
    model.prepare_training(builtin16.train)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))  # the run's crops and noise are what they would be without it
    hists = model.nets["C"].histograms
    assert hists.shape == (4, 100) and torch.allclose(hists.sum(1), torch.ones(4))
    assert len(torch.unique(hists, dim=0)) == 4
    assert "C.histograms" in model.nets.state_dict()  # a checkpoint carries the classes


def test_the_bottleneck_gets_noise_and_the_classifier_weighted_histogram():
    model = _small(classes=3)
    assert isinstance(model.nets["G"], EncoderDecoder) and model.nets["G"].z_dim == 100 + 100
    C = model.nets["C"]
    C.histograms.copy_(torch.eye(3, 100))
    L = torch.rand(2, 1, 16, 16) * 2 - 1
    code = model.code(L, None, torch.Generator().manual_seed(0))
    p = torch.softmax(C(L), dim=1)
    assert code.shape == (2, 200) and torch.allclose(code[:, 100:103], p * 100) and code[:, 103:].abs().max() == 0
    assert not code.requires_grad  # G does not train the classifier


def test_training_trains_the_classifier_on_each_images_nearest_class(builtin16):
    training.seed_everything(0)
    model = _small(classes=4)
    C_before = model.nets["C"].logits.weight.clone()
    log = training.train(model, builtin16, seed=0, console=Console(quiet=True))
    assert set(log["phases"][0]["final_losses"]) == {"C", "D", "G_gan"}
    assert not torch.equal(C_before, model.nets["C"].logits.weight)
    hists = model.nets["C"].histograms
    L, ab = torch.zeros(1, 1, 16, 16), torch.zeros(1, 2, 16, 16)  # a gray image: the class nearest gray
    nearest = torch.cdist(ab_histogram(ab, 10), hists).argmin(1)
    _, terms = model.classifier_loss(L, ab, None)
    assert torch.isclose(terms["C"], torch.nn.functional.cross_entropy(model.nets["C"](L), nearest))
    ab = model.colorize(torch.rand(2, 1, 16, 16) * 2 - 1, n_samples=2, seed=0)
    assert ab.shape == (2, 2, 2, 16, 16) and torch.isfinite(ab).all()
