"""unet_cgan: pix2pix's U-Net cGAN in Lab with L1, as Stancu (2023) ran it."""

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
    # it sees L and ab together (Stancu §4.3, with no noise on L): three input channels, a grid of patch logits
    model = UNetCGAN(size=32)
    D = model.nets["D"]
    assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == 3
    assert D(torch.randn(2, 3, 32, 32)).shape[-2:] == (2, 2)
    L, ab = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    assert torch.equal(model.d_input(L, ab), torch.cat([L, ab], dim=1))


def test_it_follows_pix2pix_and_the_report():
    config = UNetCGAN.Config()
    assert (config.l1_weight, config.lr, config.beta1, config.z_dim, config.dropout) == (100, 2e-4, 0.5, 0, 0.5)
    assert UNetCGAN.version == "2" and UNetCGAN.paper.startswith("Stancu 2023")
    assert UNetCGAN.profiles["full"] == dict(steps=33_750, batch_size=16)  # about 90 epochs of about 6,000 photos
    G = UNetCGAN.from_profile("smoke", size=64, ngf=8).nets["G"]
    assert G.z_dim == 0 and G.up[0][1].in_channels == 64  # no bottleneck vector: its noise is dropout


def test_dropout_is_the_noise_in_the_first_three_decoder_blocks():
    torch.manual_seed(0)
    G = UNetCGAN.from_profile("smoke", size=64, ngf=8).nets["G"].eval()
    L = torch.rand(2, 1, 64, 64) * 2 - 1
    plain = G(L)  # eval mode without a generator: no dropout, the expected output
    assert torch.equal(plain, G(L))
    one, again = G(L, None, torch.Generator().manual_seed(1)), G(L, None, torch.Generator().manual_seed(1))
    assert torch.equal(one, again) and not torch.equal(one, plain)
    # pix2pix's "CD512-CD1024-CD1024-C1024...": the first three up blocks drop units, the others never
    x = torch.ones(1, 8, 4, 4)
    dropping = [not torch.equal(G._noisy(k, x, torch.Generator().manual_seed(0)), x) for k in range(len(G.up))]
    assert dropping == [True, True, True, False, False, False]


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
    assert a.nets["G"].dropout == 0.5  # dropout's masks are drawn from the seeded run too
    for (name, x), y in zip(a.nets.state_dict().items(), b.nets.state_dict().values()):
        assert torch.equal(x, y), name
    c, _ = _train(1)
    assert not torch.equal(a.nets["G"].up[-1][1].weight, c.nets["G"].up[-1][1].weight)
