"""The ablation of Wan (2019), "A Survey on Colorization with cGAN":
encdec_gan (§3.1), unet_gan (§3.3), unet_cgan (§3.4).

encdec_gan and unet_gan differ only in the generator's skip connections;
unet_gan and unet_cgan only in whether D sees L."""

import dataclasses

import pytest
import torch
from rich.console import Console

from colorbench.data import datasets
from colorbench.training import trainer as training
from colorbench.methods.gan import GANConfig
from colorbench.methods.networks import EncoderDecoder, PatchDiscriminator, UNet
from colorbench.plugins import get_colorizer
from colorbench_plugins.encdec_gan import brightness_error

EncDecGAN, UNetGAN, UNetCGAN = (get_colorizer(n) for n in ("encdec_gan", "unet_gan", "unet_cgan"))
ABLATION = (EncDecGAN, UNetGAN, UNetCGAN)


# ------------------------------------------------------------ the generators
def test_encoder_decoder_maps_L_to_ab_in_tanh_range_at_any_power_of_two_size():
    for size in (16, 32, 64):
        net = EncoderDecoder(size=size, ngf=8, z_dim=5).eval()
        ab = net(torch.randn(2, 1, size, size), torch.randn(2, 5))
        assert ab.shape == (2, 2, size, size) and ab.abs().max() <= 1
    with pytest.raises(ValueError, match="power-of-two"):
        EncoderDecoder(size=48)


def test_encoder_decoder_is_the_unet_without_its_skip_connections():
    ed, unet = EncoderDecoder(size=32, ngf=8, z_dim=5), UNet(size=32, ngf=8, z_dim=5)
    # the same encoder, layer for layer
    assert [p.shape for p in ed.down.parameters()] == [p.shape for p in unet.down.parameters()]
    # going up, each block takes only the block below (the first: latent + noise);
    # the U-Net's also take their mirror's features, doubling their inputs
    ed_in = [block[1].in_channels for block in ed.up]
    unet_in = [block[1].in_channels for block in unet.up]
    assert ed_in == [64 + 5, 64, 32, 16, 8]
    assert unet_in == [64 + 5] + [2 * c for c in ed_in[1:]]


def _with_fixed_bottleneck(net, x, z):
    """The output when the encoder's 1x1 code is replaced by a constant."""
    hook = net.down[-1].register_forward_hook(lambda m, i, out: torch.ones_like(out))
    try:
        return net(x, z)
    finally:
        hook.remove()


def test_only_the_bottleneck_reaches_the_encoder_decoders_output():
    torch.manual_seed(0)
    x1, x2, z = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32), torch.randn(2, 5)
    ed, unet = EncoderDecoder(size=32, ngf=8, z_dim=5).eval(), UNet(size=32, ngf=8, z_dim=5).eval()
    # with the code pinned, the input no longer matters to the encoder-decoder...
    assert torch.equal(_with_fixed_bottleneck(ed, x1, z), _with_fixed_bottleneck(ed, x2, z))
    # ...but still does to the U-Net, through its skip connections
    assert (_with_fixed_bottleneck(unet, x1, z) - _with_fixed_bottleneck(unet, x2, z)).abs().max() > 1e-4


# ------------------------------------------------------------ the ablation
def test_generators_differ_only_in_skip_connections():
    enc, unet_gan, unet_cgan = (m.from_profile("smoke", size=32, ngf=8, ndf=8) for m in ABLATION)
    assert type(enc.nets["G"]) is EncoderDecoder
    assert type(unet_gan.nets["G"]) is UNet and type(unet_cgan.nets["G"]) is UNet
    shapes = lambda m: {k: v.shape for k, v in m.nets["G"].state_dict().items()}  # noqa: E731
    assert shapes(unet_gan) == shapes(unet_cgan)


def test_discriminator_sees_ab_alone_except_in_the_conditional_gan():
    L, ab = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 2, 32, 32) * 2 - 1
    for method, channels in ((EncDecGAN, 2), (UNetGAN, 2), (UNetCGAN, 3)):
        model = method.from_profile("smoke", size=32, ngf=8, ndf=8)
        D = model.nets["D"]
        assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == channels == model.d_channels
        assert model.d_input(L, ab).shape[1] == channels
    for method in (EncDecGAN, UNetGAN):
        assert torch.equal(method.from_profile("smoke", size=32, ngf=8, ndf=8).d_input(L, ab), ab)


def test_the_three_share_defaults_and_profiles_but_for_documented_differences():
    shared = {f.name: f.default for f in dataclasses.fields(GANConfig)}
    assert shared["ngf"] == shared["ndf"] == 64 and shared["z_dim"] == 100 and shared["l1_weight"] == 100
    assert (shared["lr"], shared["beta1"], shared["beta2"]) == (2e-4, 0.5, 0.999)
    own = {"encdec_gan": {"brightness_weight": 0.0}, "unet_gan": {}, "unet_cgan": {"d_input_noise": 0.05}}
    for method in ABLATION:
        config = dataclasses.asdict(method.Config())
        assert config == {**shared, **own[method.name]}, method.name
        assert method.stochastic and method.paper.startswith("Ching Pui Wan, \"A Survey on Colorization with cGAN")
        assert method.profiles["smoke"] == dict(steps=3, batch_size=4)
        assert method.profiles["full"] == UNetCGAN.profiles["full"]
        assert method.profiles["quick"]["batch_size"] == 16


@pytest.mark.parametrize("method", [EncDecGAN, UNetGAN])
def test_samples_differ_with_the_noise_and_repeat_with_the_seed(method):
    torch.manual_seed(0)
    model = method.from_profile("smoke", size=16, ngf=8, ndf=8)
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    samples = model.colorize(L, n_samples=3, seed=0)
    assert samples.shape == (3, 3, 2, 16, 16)
    assert (samples[0] - samples[1]).abs().max() > 1e-4
    assert (samples[0] - model.colorize(L, n_samples=1, seed=1)[0]).abs().max() > 1e-4
    assert torch.equal(samples, model.colorize(L, n_samples=3, seed=0))


# ------------------------------------------------------------ §3.2 brightness
def test_brightness_regulariser_is_zero_in_gamut_and_positive_out_of_it():
    torch.manual_seed(0)
    L = torch.rand(2, 1, 8, 8) * 1.6 - 0.8
    assert brightness_error(L, torch.zeros(2, 2, 8, 8)) < 1e-6  # grey: in gamut
    assert brightness_error(L, torch.full((2, 2, 8, 8), 0.05)) < 1e-6  # a faint tint: in gamut
    # saturated green-blue at mid grey leaves the gamut: clipping moves the luminance
    fake = torch.tensor([-1.0, -1.0]).view(1, 2, 1, 1).expand(2, 2, 8, 8).clone().requires_grad_()
    error = brightness_error(torch.zeros(2, 1, 8, 8), fake)
    assert error > 1e-3
    error.backward()  # and it gives G a gradient
    assert fake.grad.abs().sum() > 0 and torch.isfinite(fake.grad).all()


def test_brightness_term_joins_the_losses_only_when_weighted():
    L, ab = torch.zeros(2, 1, 16, 16), torch.zeros(2, 2, 16, 16)
    fake = torch.full((2, 2, 16, 16), -1.0)
    assert EncDecGAN.from_profile("smoke", size=16, ngf=8, ndf=8).extra_generator_losses(L, ab, fake) == {}
    model = EncDecGAN.from_profile("smoke", size=16, ngf=8, ndf=8, brightness_weight=2.0)
    extra = model.extra_generator_losses(L, ab, fake)
    assert set(extra) == {"brightness"} and torch.isclose(extra["brightness"], 2 * brightness_error(L, fake))


# ------------------------------------------------------------ training
@pytest.fixture(scope="module")
def builtin16():
    return datasets.load("builtin", size=16)


@pytest.mark.parametrize(
    "method, overrides, losses",
    [
        (EncDecGAN, {}, {"D", "G_gan", "L1"}),
        (EncDecGAN, {"brightness_weight": 1.0}, {"D", "G_gan", "L1", "brightness"}),
        (UNetGAN, {}, {"D", "G_gan", "L1"}),
    ],
)
def test_smoke_training_runs(method, overrides, losses, builtin16):
    training.seed_everything(0)
    model = method.from_profile("smoke", size=16, ngf=8, ndf=8, **overrides)
    before = model.nets["G"].up[-1][1].weight.clone()
    log = training.train(model, builtin16, seed=0, console=Console(quiet=True))
    assert log["steps"] == 3 and set(log["phases"][0]["final_losses"]) == losses
    assert not torch.equal(before, model.nets["G"].up[-1][1].weight)
