import bisect
import dataclasses

import pytest
import torch
from hypothesis import given, settings, strategies as st
from rich.console import Console
from torch import nn

from colorbench.data import datasets
from colorbench.errors import UsageError
from colorbench.scoring import metrics
from colorbench.training import trainer as training
from colorbench.lab import normalized_to_rgb
from colorbench.methods.perceptual import PerceptualLoss, VGGFeatures
from colorbench.plugins import get_colorizer
from colorbench_plugins.perceptual_cnn import rate_changes

PerceptualCNN = get_colorizer("perceptual_cnn")
NARROW = dict(encoder_widths=(8,) * 10, decoder_widths=(8,) * 4)  # the paper's layers, few channels: fast


def _tiny(**overrides):
    torch.manual_seed(0)
    return PerceptualCNN.from_profile("smoke", size=32, **{**NARROW, **overrides})


def test_defaults_and_profiles_are_the_papers():
    c = PerceptualCNN.Config()
    assert len(c.encoder_widths) == 10 and c.encoder_widths[-1] == 512 and c.strided_layers == (4, 6)  # §3.2
    assert c.decoder_widths[0] == 256 and len(c.upsampled_layers) == 2
    assert c.lrs == (1e-3, 1e-4, 1e-8) and c.lr_epochs == (30, 35, 35)  # §4.5
    assert c.saturation_boost == 1.4  # §6: +40 %
    assert set(c.layer_weights) <= {"relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"} and len(c.layer_weights) >= 3
    profiles = PerceptualCNN.profiles
    assert profiles["full"] == dict(steps=100 * 781, batch_size=32)  # 100 epochs of 25,000 images (§4.5)
    assert profiles["quick"] == dict(steps=150, batch_size=16) and profiles["smoke"] == dict(steps=3, batch_size=4)
    assert PerceptualCNN.version == "2" and PerceptualCNN.stochastic is False
    assert PerceptualCNN.paper.startswith('Vangapelli and Kuppam (no year): Santosh Vangapelli, Satya Kuppam, "Colour Image Synthesis using CNNs"')


def test_the_network_is_ten_3x3_encoder_layers_strided_at_the_4th_and_6th():
    torch.manual_seed(0)
    net = PerceptualCNN(size=32).nets["net"]
    convs = [m for m in net.encoder if isinstance(m, nn.Conv2d)]
    assert len(convs) == 10 and all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs)
    assert [i for i, m in enumerate(convs, 1) if m.stride == (2, 2)] == [4, 6]
    assert [m.out_channels for m in convs][-1] == 512
    with torch.no_grad():
        assert net.encoder(torch.rand(1, 1, 32, 32)).shape == (1, 512, 8, 8)  # S/4: two strides (the paper's H/8 cannot be)
        assert net(torch.rand(1, 1, 32, 32) * 2 - 1).shape == (1, 2, 32, 32)
    ups = [m for m in net.decoder if isinstance(m, nn.Upsample)]
    assert len(ups) == 2 and all(m.mode == "nearest" and m.scale_factor == 2 for m in ups)
    assert next(m for m in net.decoder if isinstance(m, nn.Conv2d)).out_channels == 256
    assert not any(isinstance(m, (nn.ConvTranspose2d, nn.MaxPool2d)) for m in net.modules())
    for part in (net.encoder, net.decoder):  # BatchNorm and ReLU after every layer but the output
        layers = list(part)
        for i, m in enumerate(layers):
            if isinstance(m, nn.Conv2d):
                assert isinstance(layers[i + 1], nn.BatchNorm2d) and isinstance(layers[i + 2], nn.ReLU)
    assert isinstance(net.head[0], nn.Conv2d) and net.head[0].out_channels == 2 and isinstance(net.head[-1], nn.Tanh)


def test_the_network_is_fed_L_in_0_to_1():
    net = _tiny().nets["net"]
    seen = []
    net.encoder[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    L = torch.linspace(-1, 1, 32 * 32).view(1, 1, 32, 32)
    net(L)
    assert torch.allclose(seen[0], (L + 1) / 2) and seen[0].min() == 0 and seen[0].max() == 1


def test_rmsprop_follows_the_step_schedule_over_the_profiles_steps():
    model = PerceptualCNN.from_profile("quick", size=32, **NARROW)
    trainer = training.Trainer(model)  # the optimiser and scheduler training uses
    optimizer, scheduler = trainer.optimizers["net"], trainer.schedulers["net"]
    assert type(optimizer) is torch.optim.RMSprop
    group = optimizer.param_groups[0]
    assert group["alpha"] == 0.9 and group["momentum"] == 0
    rates = []
    for _ in range(model.config.steps):
        rates.append(group["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == [1e-3] * 45 + [1e-4] * 53 + [1e-8] * 52  # 30 : 35 : 35 of 150 steps
    assert rate_changes(PerceptualCNN.profiles["full"]["steps"], (30, 35, 35)) == [30 * 781, 65 * 781]  # after epochs 30 and 65


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(0, 10**6), epochs=st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda e: sum(e) > 0))
def test_each_rate_gets_its_share_of_the_steps(steps, epochs):
    changes = rate_changes(steps, epochs)
    bounds = [0, *changes, steps]
    assert bounds == sorted(bounds)
    for i, share in enumerate(epochs):
        assert abs((bounds[i + 1] - bounds[i]) - steps * share / sum(epochs)) <= 1
        if bounds[i + 1] > bounds[i]:  # its first and last steps run at its rate
            assert bisect.bisect_right(changes, bounds[i]) == i == bisect.bisect_right(changes, bounds[i + 1] - 1)


@pytest.mark.parametrize("overrides", [
    dict(lrs=(1e-3, 1e-4)),  # one rate too few for the epochs
    dict(lr_epochs=(0, 0, 0)),
    dict(lrs=(1e-3, 0.0, 1e-8)),
    dict(strided_layers=(4, 11)),  # the encoder has 10 layers
    dict(strided_layers=(4, 6, 8)),  # three halvings, two doublings
    dict(encoder_widths=()),
])
def test_settings_that_make_no_such_network_or_schedule_are_usage_errors(overrides):
    with pytest.raises(UsageError, match="perceptual_cnn cannot be built"):
        PerceptualCNN.from_profile("smoke", size=32, **overrides)


@pytest.mark.parametrize("size", [32, 64])
def test_prediction_is_ab_in_tanh_range_and_deterministic(size):
    torch.manual_seed(0)
    model = PerceptualCNN.from_profile("smoke", size=size, **NARROW)
    L = torch.rand(2, 1, size, size) * 2 - 1
    samples = model.colorize(L, n_samples=2, seed=0)
    assert samples.shape == (2, 2, 2, size, size) and samples.abs().max() <= 1
    assert torch.equal(samples[0], samples[1]) and torch.equal(samples, model.colorize(L, n_samples=2, seed=5))


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


def test_saturation_is_raised_by_40_percent_after_prediction():
    boosted = _tiny()
    plain = PerceptualCNN(dataclasses.replace(boosted.config, saturation_boost=1.0), size=32)
    plain.nets.load_state_dict(boosted.nets.state_dict())
    L = torch.rand(2, 1, 32, 32) * 1.2 - 0.6
    ab_plain, ab_boosted = plain.colorize(L)[0], boosted.colorize(L)[0]
    assert torch.allclose(ab_boosted, (1.4 * ab_plain).clamp(-1, 1))
    assert ab_boosted.abs().max() <= 1

    def colourfulness(ab):
        return metrics.colourfulness(metrics.to_uint8(normalized_to_rgb(L, ab)))

    assert (colourfulness(ab_boosted) > colourfulness(ab_plain)).all()


def test_smoke_training_runs_and_changes_the_weights():
    training.seed_everything(0)
    model = _tiny()
    before = model.nets["net"].head[0].weight.clone()
    log = training.train(model, datasets.load("builtin", size=32), seed=0, console=Console(quiet=True))
    assert log["steps"] == 3 and set(log["phases"][0]["final_losses"]) == {"perceptual"}
    assert log["phases"][0]["final_losses"]["perceptual"] > 0
    assert not torch.equal(before, model.nets["net"].head[0].weight)
