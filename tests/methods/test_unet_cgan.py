import torch

from colorbench.data import datasets
from colorbench.training import trainer as training
from colorbench.methods.networks import PatchDiscriminator, UNet
from colorbench.plugins import get_colorizer
from rich.console import Console

UNetCGAN = get_colorizer("unet_cgan")


def test_unet_maps_L_to_ab_in_tanh_range_at_any_power_of_two_size():
    for size in (16, 32, 64):
        net = UNet(size=size, ngf=8, z_dim=5).eval()
        ab = net(torch.randn(2, 1, size, size), torch.randn(2, 5))
        assert ab.shape == (2, 2, size, size) and ab.abs().max() <= 1


def test_discriminator_is_conditioned_on_L():
    # it sees L and ab together: three input channels, a grid of patch logits
    D = UNetCGAN(size=32).nets["D"]
    assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == 3
    assert D(torch.randn(2, 3, 32, 32)).shape[-2:] == (2, 2)


def test_samples_differ_with_the_noise_and_repeat_with_the_seed():
    torch.manual_seed(0)
    model = UNetCGAN.from_profile("smoke", size=16, ngf=8)
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    samples = model.colorize(L, n_samples=4, seed=0)
    assert samples.shape == (4, 3, 2, 16, 16)
    assert (samples[0] - samples[1]).abs().max() > 1e-4
    assert torch.equal(samples, model.colorize(L, n_samples=4, seed=0))


def _train(seed):
    training.seed_everything(seed)
    model = UNetCGAN.from_profile("smoke", size=16, ngf=8, ndf=8)
    log = training.train(model, datasets.load("builtin", size=16), seed=seed, console=Console(quiet=True))
    return model, log


def test_training_on_the_cpu_is_repeatable_with_a_seed():
    (a, log), (b, _) = _train(0), _train(0)
    assert log["steps"] == 3 and set(log["phases"][0]["final_losses"]) == {"D", "G_gan", "L1"}
    for (name, x), y in zip(a.nets.state_dict().items(), b.nets.state_dict().values()):
        assert torch.equal(x, y), name
    c, _ = _train(1)
    assert not torch.equal(a.nets["G"].up[-1][1].weight, c.nets["G"].up[-1][1].weight)
