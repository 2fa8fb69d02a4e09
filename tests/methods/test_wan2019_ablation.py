"""The ablation of Wan (2019), "A Survey on Colorization with cGAN", as Wan ran it:
encdec_gan (§3.1), unet_gan (§3.3), wan_unet_cgan (§3.4), in RGB, GAN loss only.

encdec_gan and unet_gan differ only in the generator's skip connections;
unet_gan and wan_unet_cgan only in whether D sees the gray image."""

import json

import pytest
import torch
from rich.console import Console

from colorbench.data import datasets
from colorbench.training import trainer as training
from colorbench.lab import normalized_lightness, normalized_to_rgb, rgb_to_normalized
from colorbench.methods.networks import EncoderDecoder, PatchDiscriminator, UNet
from colorbench.methods.wan2019 import WanGANConfig, gray_error
from colorbench.plugins import get_colorizer
from colorbench.scoring.evaluate import evaluate

EncDecGAN, UNetGAN, WanUNetCGAN = (get_colorizer(n) for n in ("encdec_gan", "unet_gan", "wan_unet_cgan"))
ABLATION = (EncDecGAN, UNetGAN, WanUNetCGAN)


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
def _small(method, **overrides):
    return method.from_profile("smoke", size=16, ngf=8, ndf=8, **overrides)


def test_generators_output_rgb_and_differ_only_in_skip_connections():
    enc, unet_gan, unet_cgan = (_small(m) for m in ABLATION)
    assert type(enc.nets["G"]) is EncoderDecoder
    assert type(unet_gan.nets["G"]) is UNet and type(unet_cgan.nets["G"]) is UNet
    assert all(m.nets["G"].up[-1][1].out_channels == 3 for m in (enc, unet_gan, unet_cgan))  # §3: RGB, not ab
    shapes = lambda m: {k: v.shape for k, v in m.nets["G"].state_dict().items()}  # noqa: E731
    assert shapes(unet_gan) == shapes(unet_cgan)


def test_discriminator_sees_the_rgb_alone_except_in_the_conditional_gan():
    L, rgb = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    for method, channels in ((EncDecGAN, 3), (UNetGAN, 3), (WanUNetCGAN, 4)):
        model = _small(method)
        D = model.nets["D"]
        assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == channels == model.d_channels
        assert model.d_input(L, rgb).shape[1] == channels
    for method in (EncDecGAN, UNetGAN):
        assert torch.equal(_small(method).d_input(L, rgb), rgb)
    seen = _small(WanUNetCGAN).d_input(L, rgb)  # §3.4: the gray image, with noise, beside the RGB
    assert torch.equal(seen[:, 1:], rgb) and 0 < (seen[:, :1] - L).std() < 0.1


def test_the_three_follow_section_3s_settings():
    for method in ABLATION:
        config = method.Config()
        assert isinstance(config, WanGANConfig) and method.version == ("2" if method.name != "wan_unet_cgan" else "1")
        assert config.l1_weight == 0 and config.gray_lr == 0  # Eq. 3: no L1 to the true colours; §3.2 is an option
        assert config.batch_size == 64 and (config.lr, config.beta1) == (2e-4, 0.5) and config.z_dim == 100
        assert method.profiles["quick"]["batch_size"] == method.profiles["full"]["batch_size"] == 64
        assert method.profiles["full"]["steps"] == 7_820  # 10 epochs of 50,000 images at batch 64
        assert method.stochastic and method.paper.startswith("Wan 2019 §3.")
    assert (EncDecGAN.Config().d_input_noise, WanUNetCGAN.Config().d_input_noise) == (0, 0.05)


def test_generator_loss_has_no_term_against_the_true_colours():
    torch.manual_seed(0)
    for method in (EncDecGAN, UNetGAN):  # D sees only G's output: the true image cannot enter G's loss
        model = _small(method)
        L, fake = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
        one, terms = model.g_loss(L, torch.zeros(2, 2, 16, 16), fake)
        other, _ = model.g_loss(L, torch.rand(2, 2, 16, 16) - 0.5, fake)
        assert set(terms) == {"G_gan"} and torch.equal(one, other)


def test_d_is_shown_the_true_image_in_rgb():
    L, ab = rgb_to_normalized(torch.rand(2, 3, 16, 16))
    real = _small(UNetGAN).real(L, ab)
    assert real.shape == (2, 3, 16, 16) and torch.allclose((real + 1) / 2, normalized_to_rgb(L, ab))


@pytest.mark.parametrize("method", ABLATION)
def test_samples_differ_with_the_noise_repeat_with_the_seed_and_are_the_rgbs_ab(method):
    torch.manual_seed(0)
    model = _small(method).to("cpu")
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    samples = model.colorize(L, n_samples=3, seed=0)
    assert samples.shape == (3, 3, 2, 16, 16)
    assert (samples[0] - samples[1]).abs().max() > 1e-4
    assert torch.equal(samples, model.colorize(L, n_samples=3, seed=0))
    rgb = model.predict_rgb(L, torch.Generator().manual_seed(0))
    assert rgb.shape == (3, 3, 16, 16) and 0 <= rgb.min() and rgb.max() <= 1
    assert torch.allclose(rgb_to_normalized(rgb)[1], samples[0], atol=1e-6)  # the contract keeps the RGB's ab


# ------------------------------------------------------------ §3.2 gray regulariser
def test_gray_regulariser_is_zero_for_the_input_gray_and_positive_otherwise():
    rgb = torch.rand(2, 3, 8, 8)
    assert gray_error(normalized_lightness(rgb), rgb) < 1e-10
    darker = (rgb * 0.5).requires_grad_()
    error = gray_error(normalized_lightness(rgb), darker)
    assert error > 1e-3
    error.backward()  # and it gives G a gradient
    assert darker.grad.abs().sum() > 0 and torch.isfinite(darker.grad).all()


def test_gray_regulariser_is_weighted_by_its_own_adams_learning_rate():
    assert set(_small(EncDecGAN).optimizers()) == {"G", "D"}
    assert [u.optimizer for u in _small(EncDecGAN).phases()[0].updates] == ["D", "G"]
    model = _small(EncDecGAN, gray_lr=0.1)  # §3.2: "a learning rate of 10 times lower"
    optimizers = model.optimizers()
    assert isinstance(optimizers["G_gray"], torch.optim.Adam)
    assert optimizers["G_gray"].param_groups[0]["lr"] == pytest.approx(2e-5)
    assert optimizers["G_gray"].param_groups[0]["params"] == list(model.nets["G"].parameters())
    assert [u.optimizer for u in model.phases()[0].updates] == ["D", "G", "G_gray"]


# ------------------------------------------------------------ training and scoring
@pytest.fixture(scope="module")
def builtin16():
    return datasets.load("builtin", size=16)


@pytest.mark.parametrize(
    "method, overrides, losses",
    [
        (EncDecGAN, {}, {"D", "G_gan"}),
        (EncDecGAN, {"gray_lr": 1.0}, {"D", "G_gan", "gray"}),
        (WanUNetCGAN, {}, {"D", "G_gan"}),
    ],
)
def test_smoke_training_runs(method, overrides, losses, builtin16):
    training.seed_everything(0)
    model = _small(method, **overrides)
    before = model.nets["G"].up[-1][1].weight.clone()
    log = training.train(model, builtin16, seed=0, console=Console(quiet=True))
    assert log["steps"] == 3 and set(log["phases"][0]["final_losses"]) == losses
    assert not torch.equal(before, model.nets["G"].up[-1][1].weight)


def test_evaluation_scores_the_rgb_output_too(builtin16):
    torch.manual_seed(0)
    model = _small(UNetGAN)
    scored = evaluate(model, builtin16.test, seed=0, n_samples=1)
    native = scored["native_output"]
    assert native["space"] == "rgb" and set(native["metrics"]) == {"psnr", "lightness_error"}
    drift = scored["per_image"]["native_lightness_error"]
    assert len(drift) == scored["scored"] and native["metrics"]["lightness_error"] == pytest.approx(sum(drift) / len(drift))
    low, high = native["ci95"]["lightness_error"]
    assert low <= native["metrics"]["lightness_error"] <= high
    assert "native_output" not in evaluate(get_colorizer("gray")(size=16), builtin16.test)  # ab methods: the contract only


def test_run_records_and_shows_both_scores_and_the_board_has_the_column(cli, tmp_path):
    out = tmp_path / "results"
    result = cli("run", "--plugin", "unet_gan", "--profile", "smoke", "--size", "16", "--set", "ngf=8", "--set", "ndf=8", "--out", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "unet_gan: its own RGB output (before its ab is joined with the input's L): PSNR" in result.stdout
    (stored,) = [json.loads(p.read_text()) for p in out.glob("*unet_gan*.json")]
    assert stored["native_output"]["space"] == "rgb" and stored["metrics"]["psnr"] != stored["native_output"]["metrics"]["psnr"]
    board = cli("leaderboard", "--results", out, "--format", "markdown")
    assert board.exit_code == 0
    published = tmp_path / "board"
    (published / "results").parent.mkdir(exist_ok=True)
    out.rename(published / "results")
    assert cli("leaderboard", "--board", published, "--write").exit_code == 0
    text = (published / "README.md").read_text()
    assert "own RGB ΔL* ↓" in text and "Wan 2019 §3.3" in text
