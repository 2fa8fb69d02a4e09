import dataclasses

import pytest
import torch
from rich.console import Console
from torch import nn

from colorbench.data import datasets
from colorbench.scoring import metrics
from colorbench.training import trainer as training
from colorbench.lab import normalized_to_rgb
from colorbench.methods.perceptual import PerceptualLoss, VGGFeatures
from colorbench.plugins import get_colorizer

PerceptualCNN = get_colorizer("perceptual_cnn")


def _tiny(**overrides):
    torch.manual_seed(0)
    return PerceptualCNN.from_profile("smoke", size=32, width=8, depth=3, **overrides)


def test_encoder_strides_by_two_and_decoder_upsamples_nearest():
    net = _tiny().nets["net"]
    strided = [m for m in net.encoder.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 3 and all(m.kernel_size == (3, 3) for m in strided)
    ups = [m for m in net.decoder.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 3 and all(m.mode == "nearest" and m.scale_factor == 2 for m in ups)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    assert all(m.kernel_size == (3, 3) for m in net.modules() if isinstance(m, nn.Conv2d))
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.encoder) and isinstance(net.head[-1], nn.Tanh)


@pytest.mark.parametrize("size", [32, 64])
def test_prediction_is_ab_in_tanh_range_and_deterministic(size):
    torch.manual_seed(0)
    model = PerceptualCNN.from_profile("smoke", size=size, width=8)
    L = torch.rand(2, 1, size, size) * 2 - 1
    samples = model.colorize(L, n_samples=2, seed=0)
    assert samples.shape == (2, 2, 2, size, size) and samples.abs().max() <= 1
    assert torch.equal(samples[0], samples[1]) and torch.equal(samples, model.colorize(L, n_samples=2, seed=5))
    assert PerceptualCNN.stochastic is False


@pytest.fixture(scope="module")
def ready():
    """A small model with its loss network built (loading VGG16 once for the module)."""
    model = _tiny()
    model.prepare_training(None)
    return model


def test_the_vgg_loss_network_is_not_part_of_the_model(ready):
    model = ready
    assert isinstance(model.vgg_loss, PerceptualLoss) and isinstance(model.vgg_loss.vgg, VGGFeatures)
    assert not any(isinstance(m, VGGFeatures) for m in model.nets.modules())
    assert all(k.startswith("net.") for k in model.nets.state_dict())  # what a checkpoint holds
    assert not any(p.requires_grad for p in model.vgg_loss.parameters())


def test_loss_is_a_weighted_sum_over_several_vgg_layers(ready):
    model = ready
    assert len(model.config.layer_weights) >= 3
    torch.manual_seed(1)
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    ab_true, ab_pred = (torch.rand(2, 2, 32, 32) - 0.5), torch.zeros(2, 2, 32, 32)
    rgb_pred, rgb_true = normalized_to_rgb(L, ab_pred), normalized_to_rgb(L, ab_true)
    base = model.perceptual_loss(L, ab_pred, ab_true)
    with torch.no_grad():
        pred, true = model.vgg_loss.vgg(rgb_pred), model.vgg_loss.vgg(rgb_true)
    per_layer = {k: nn.functional.mse_loss(pred[k], true[k]) for k in model.config.layer_weights}
    assert all(v > 0 for v in per_layer.values())
    expected = sum(w * per_layer[k] for k, w in model.config.layer_weights.items())
    assert torch.allclose(base, expected, rtol=1e-5)
    # changing one layer's weight moves the loss by exactly that layer's term
    layer = "relu2_2"
    model.vgg_loss.layer_weights[layer] += 1.0
    try:
        assert torch.allclose(model.perceptual_loss(L, ab_pred, ab_true) - base, per_layer[layer], rtol=1e-4)
    finally:
        model.vgg_loss.layer_weights[layer] -= 1.0
    assert model.perceptual_loss(L, ab_true, ab_true) == 0


def test_saturation_boost_is_off_by_default_and_raises_colourfulness():
    assert PerceptualCNN.Config().saturation_boost == 1.0
    plain = _tiny()
    boosted = PerceptualCNN(dataclasses.replace(plain.config, saturation_boost=2.0), size=32)
    boosted.nets.load_state_dict(plain.nets.state_dict())
    L = torch.rand(2, 1, 32, 32) * 1.2 - 0.6
    ab_plain, ab_boosted = plain.colorize(L)[0], boosted.colorize(L)[0]
    assert torch.allclose(ab_boosted, (2 * ab_plain).clamp(-1, 1))
    assert ab_boosted.abs().max() <= 1

    def colourfulness(ab):
        return metrics.colourfulness(metrics.to_uint8(normalized_to_rgb(L, ab)))

    assert (colourfulness(ab_boosted) > colourfulness(ab_plain)).all()


def test_smoke_training_runs_and_changes_the_weights():
    training.seed_everything(0)
    model = PerceptualCNN.from_profile("smoke", size=32, width=8, depth=3)
    before = model.nets["net"].head[0].weight.clone()
    log = training.train(model, datasets.load("builtin", size=32), seed=0, console=Console(quiet=True))
    assert log["steps"] == 3 and set(log["phases"][0]["final_losses"]) == {"perceptual"}
    assert log["phases"][0]["final_losses"]["perceptual"] > 0
    assert not torch.equal(before, model.nets["net"].head[0].weight)
