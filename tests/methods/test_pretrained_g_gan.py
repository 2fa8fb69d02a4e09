import pytest
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from colorbench import lab
from colorbench.data import datasets
from colorbench.training import trainer as training
from colorbench.methods.colorizer import PROFILES
from colorbench.errors import UsageError
from colorbench.methods.networks import gan_loss
from colorbench.plugins import get_colorizer
from colorbench.training.batches import HELD_OUT_ITEMS
from colorbench_plugins.pretrained_g_gan import Discriminator, ResidualBlock, ResidualUNet, from_unit, to_unit

PretrainedGGAN = get_colorizer("pretrained_g_gan")



def _small(size=16, **overrides):
    return PretrainedGGAN.from_profile("smoke", size=size, **{"ngf": 8, "ndf": 8, **overrides})


def test_generator_gives_ab_in_unit_range_at_32_and_64_px():
    for size in (16, 32, 64):
        G = ResidualUNet(size=size, ngf=8).eval()
        ab01 = G(torch.rand(2, 1, size, size))
        assert ab01.shape == (2, 2, size, size) and ab01.min() >= 0 and ab01.max() <= 1


def test_skips_are_added_not_concatenated():
    G = ResidualUNet(size=32, ngf=8, n_down=3)
    # every decoder stage takes only the width below it, never twice the width
    assert [block[0].in_channels for block in G.up] + [G.out[0].in_channels] == [32, 16, 8]
    # and its input is the sum: with the up stage silenced, the encoder's features pass through
    G.eval()
    L = torch.rand(1, 1, 32, 32)
    feats = []
    hook = G.down[0].register_forward_hook(lambda m, i, o: feats.append(o))
    for block in G.up:
        nn.init.zeros_(block[1].weight)  # BN scale and shift 0: the stage outputs 0
        nn.init.zeros_(block[1].bias)
    seen = []
    G.out.register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    G(L)
    hook.remove()
    assert torch.equal(seen[0], feats[0])


def test_generator_has_residual_blocks_that_add_their_input():
    G = ResidualUNet(size=32, ngf=8, n_res=3)
    blocks = [m for m in G.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 3
    block = blocks[0].eval()
    nn.init.zeros_(block.body[-1][1].weight)  # the second block's BN gives 0, its ReLU 0: the block is the identity
    nn.init.zeros_(block.body[-1][1].bias)
    x = torch.randn(2, 32, 4, 4)
    assert torch.equal(block(x), x)


def test_generator_rejects_a_size_it_cannot_halve_and_a_code():
    with pytest.raises(ValueError):
        ResidualUNet(size=8, ngf=8, n_down=3)
    with pytest.raises(ValueError):
        ResidualUNet(size=16, ngf=8)(torch.rand(1, 1, 16, 16), torch.randn(1, 4))
    with pytest.raises(UsageError, match="z_dim must be 0"):  # a setting: the user's mistake
        _small(z_dim=10)


def test_unit_scale_round_trips_with_the_shared_normalisation():
    rgb = torch.rand(2, 3, 8, 8)
    Lab = lab.rgb_to_lab(rgb)
    L, ab = lab.normalize(Lab)
    assert torch.allclose(to_unit(L), Lab[:, :1] / 100, atol=1e-6)
    assert torch.allclose(to_unit(ab), (Lab[:, 1:] + 110) / 220, atol=1e-6)
    assert to_unit(L).min() >= 0 and to_unit(L).max() <= 1
    assert torch.allclose(from_unit(to_unit(ab)), ab, atol=1e-6)
    assert torch.allclose(lab.denormalize(from_unit(to_unit(L)), from_unit(to_unit(ab))), Lab, atol=1e-4)


def test_predict_maps_the_generators_unit_output_back_to_the_shared_range():
    model = _small()
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    ab = model.colorize(L)[0]
    with torch.no_grad():
        ab01 = model.nets["G"](to_unit(L))
    assert torch.allclose(ab, 2 * ab01 - 1) and ab.abs().max() <= 1


def test_discriminator_sees_L_and_ab():
    model = _small(size=32)
    D = model.nets["D"]
    assert isinstance(D, Discriminator) and D.model[0].in_channels == 3
    L, ab = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    assert torch.equal(model.d_input(L, ab), torch.cat([L, ab], dim=1))


def test_phases_pretrain_on_L1_then_train_the_gan_one_to_five_at_every_profile():
    for profile in PROFILES:
        model = PretrainedGGAN.from_profile(profile, size=16, ngf=8, ndf=8)
        pre, gan = model.phases()
        assert (pre.name, gan.name) == ("pretrain_L1", "gan")
        assert [(u.optimizer, u.loss) for u in pre.updates] == [("G_pretrain", model.l1_loss)]
        assert [(u.optimizer, u.loss) for u in gan.updates] == [("D", model.d_loss), ("G", model.g_loss)]
        assert pre.shared == gan.shared == model.generate  # on the paper's [0, 1] scale
        assert pre.steps > 0 and gan.steps == 5 * pre.steps  # 20 and 100 epochs
        assert model.config.steps == pre.steps + gan.steps
        assert not pre.selectable and gan.selectable and 0 < model.config.select_every <= gan.steps  # the GANs' lowest L1
    assert PretrainedGGAN.profiles["smoke"]["batch_size"] == 4
    assert PretrainedGGAN.profiles["quick"] == dict(pretrain_steps=60, gan_steps=300, batch_size=16, select_every=50)


def test_full_is_the_papers_scale_on_imagenet():
    # 6 GPUs x 16, 20 + 100 epochs of ImageNet-1k's 1,281,167 training images less those held out, L1 once an epoch
    epoch = (1_281_167 - HELD_OUT_ITEMS) // 96
    assert epoch == 13_335
    assert PretrainedGGAN.profiles["full"] == dict(
        pretrain_steps=20 * epoch, gan_steps=100 * epoch, batch_size=96, select_every=epoch
    )


@pytest.mark.parametrize("size, halvings", [(16, 1), (32, 2), (64, 3), (256, 5)])
def test_the_residual_blocks_work_at_8x8(size, halvings):
    G = PretrainedGGAN.from_profile("full", size=size, ngf=2, ndf=2).nets["G"]
    assert len(G.down) == halvings and G.res[0].body[0][0].in_channels == 2 * min(2 ** (halvings - 1), 8)
    assert PretrainedGGAN.from_profile("smoke", size=size, ngf=2, ndf=2, n_down=1).nets["G"].res[0].body[0][0].in_channels == 2


def test_version_and_citation():
    assert PretrainedGGAN.version == "2"
    assert PretrainedGGAN.paper.startswith('Zhu (no year): Zhiyuan Zhu, "Colorization Black and White Images with GAN"')


def test_every_generator_block_is_convolution_batch_norm_activation():
    G = ResidualUNet(size=64, ngf=8, n_down=3, n_res=3)
    for block in G.down:  # the first too: "Each convolution block ... a 2D batch normalization"
        conv, bn, act = block
        assert (conv.kernel_size, conv.stride, conv.padding) == ((4, 4), (2, 2), (1, 1))
        assert isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.LeakyReLU) and act.negative_slope == 0.2
    for block in G.up:
        conv, bn, act = block
        assert isinstance(conv, nn.ConvTranspose2d) and (conv.kernel_size, conv.stride, conv.padding) == ((4, 4), (2, 2), (1, 1))
        assert isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.ReLU)
    for res in G.res:  # two 3x3 convolution blocks and the input added
        assert len(res.body) == 2
        for conv, bn, act in res.body:
            assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
            assert conv.in_channels == conv.out_channels == 32 and isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.ReLU)
    conv, sigmoid = G.out  # a and b straight from the last up convolution, in [0, 1]
    assert isinstance(conv, nn.ConvTranspose2d) and conv.out_channels == 2 and isinstance(sigmoid, nn.Sigmoid)
    assert G(torch.rand(2, 1, 64, 64)).shape == (2, 2, 64, 64)


def test_discriminator_has_three_blocks_that_halve_the_size_and_double_the_width():
    D = Discriminator(in_channels=3, size=64, ndf=8)
    x, sides, widths = torch.rand(1, 3, 64, 64), [], []
    for layer in D.model:
        x = layer(x)
        if isinstance(layer, nn.Sequential):  # an intermediate convolution block
            assert isinstance(layer[1], nn.BatchNorm2d) and isinstance(layer[2], nn.LeakyReLU)
            sides.append(x.shape[-1])
            widths.append(x.shape[1])
    assert sides == [16, 8, 4] and widths == [16, 32, 64]  # after the input convolution's 32 x 32, ndf 8
    assert x.shape == (1, 1, 3, 3)  # one logit per patch
    assert Discriminator(in_channels=3, size=256, ndf=2)(torch.rand(1, 3, 256, 256)).shape == (1, 1, 15, 15)
    assert Discriminator(in_channels=3, size=16, ndf=2)(torch.rand(1, 3, 16, 16)).shape == (1, 1, 3, 3)  # the smallest size


def test_adam_as_the_paper_gives_it_and_a_fresh_one_for_the_gan_phase():
    model = _small()
    trainer = training.Trainer(model)
    assert set(trainer.optimizers) == {"G", "D", "G_pretrain"}
    for opt in trainer.optimizers.values():
        assert type(opt) is torch.optim.Adam and not trainer.schedulers
        (group,) = opt.param_groups
        assert (group["lr"], group["betas"], group["weight_decay"]) == (2e-4, (0.5, 0.999), 0)
    G_params = list(model.nets["G"].parameters())
    assert trainer.optimizers["G"].param_groups[0]["params"] == trainer.optimizers["G_pretrain"].param_groups[0]["params"] == G_params
    L, ab = torch.rand(4, 1, 16, 16) * 2 - 1, (torch.rand(4, 2, 16, 16) - 0.5) * 0.5
    model.nets.train()
    trainer.step(model.phases()[0], L, ab)
    assert trainer.optimizers["G_pretrain"].state and not trainer.optimizers["G"].state  # the GAN phase starts afresh


def test_losses_are_the_papers_equations():
    model = _small()
    model.nets.eval()
    L, ab = to_unit(torch.rand(2, 1, 16, 16) * 2 - 1), to_unit((torch.rand(2, 2, 16, 16) - 0.5) * 0.5)
    fake = model.nets["G"](L)
    D = model.nets["D"]
    real_logits, fake_logits = D(torch.cat([L, ab], 1)), D(torch.cat([L, fake], 1))
    d, _ = model.d_loss(L, ab, fake)  # Eq. 1: both terms, not halved
    assert torch.allclose(d, gan_loss(real_logits, True) + gan_loss(fake_logits, False))
    g, terms = model.g_loss(L, ab, fake)  # Eq. 2 with lambda 100
    assert torch.allclose(g, gan_loss(fake_logits, True) + 100 * F.l1_loss(fake, ab))
    assert set(terms) == {"G_gan", "L1"}


def test_the_model_is_selected_by_its_l1_on_the_unit_scale():
    model = _small()
    model.nets.eval()
    L, ab = torch.rand(3, 1, 16, 16) * 2 - 1, (torch.rand(3, 2, 16, 16) - 0.5) * 0.5
    with torch.no_grad():
        chosen_by = model.selection_loss(L, ab, torch.Generator())
        shared = (model.predict(L, None) - ab).abs().mean()
    assert chosen_by.item() == pytest.approx(shared.item() / 2, rel=1e-5)


def _snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def _changed(before, net):
    return any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_l1_phase_updates_only_G_and_gan_phase_updates_both():
    torch.manual_seed(0)
    model = _small()
    model.nets.train()
    trainer = training.Trainer(model)
    L, ab = torch.rand(4, 1, 16, 16) * 2 - 1, (torch.rand(4, 2, 16, 16) - 0.5) * 0.5
    pre, gan = model.phases()

    G0, D0 = _snapshot(model.nets["G"]), _snapshot(model.nets["D"])
    losses = trainer.step(pre, L, ab)
    assert set(losses) == {"L1"}
    assert _changed(G0, model.nets["G"]) and not _changed(D0, model.nets["D"])

    G1, D1 = _snapshot(model.nets["G"]), _snapshot(model.nets["D"])
    losses = trainer.step(gan, L, ab)
    assert set(losses) == {"D", "G_gan", "L1"}
    assert _changed(G1, model.nets["G"]) and _changed(D1, model.nets["D"])


def test_l1_is_taken_on_the_unit_scale():
    # the L1 shown is half the same error on the shared [-1, 1] scale
    model = _small()
    model.nets.eval()
    trainer = training.Trainer(model)
    trainer.optimizers["G_pretrain"].param_groups[0]["lr"] = 0.0
    L, ab = torch.rand(2, 1, 16, 16) * 2 - 1, (torch.rand(2, 2, 16, 16) - 0.5) * 0.5
    with torch.no_grad():
        shared = (model.predict(L, None) - ab).abs().mean().item()
    assert trainer.step(model.phases()[0], L, ab)["L1"] == pytest.approx(shared / 2, rel=1e-4)


def test_deterministic_whatever_the_seed():
    model = _small()
    assert not PretrainedGGAN.stochastic
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    a = model.colorize(L, n_samples=2, seed=0)
    assert a.shape == (2, 3, 2, 16, 16)
    assert torch.equal(a[0], a[1]) and torch.equal(a, model.colorize(L, n_samples=2, seed=123))


@pytest.fixture(scope="module")
def builtin16():
    return datasets.load("builtin", size=16)


def test_smoke_training_runs_both_phases_and_repeats_with_a_seed(builtin16):
    def train(seed):
        training.seed_everything(seed)
        model = _small()
        log = training.train(model, builtin16, seed=seed, console=Console(quiet=True))
        return model, log

    (a, log), (b, _) = train(0), train(0)
    assert [p["name"] for p in log["phases"]] == ["pretrain_L1", "gan"]
    assert [p["steps"] for p in log["phases"]] == [1, 5] and log["steps"] == 6 and log["images_seen"] == 24
    assert set(log["phases"][0]["final_losses"]) == {"L1"}
    assert set(log["phases"][1]["final_losses"]) == {"D", "G_gan", "L1"}
    chosen = log["selection"]  # every 2 GAN steps and at the end, on one of builtin's six photos
    assert [step for step, _ in chosen["evaluated"]] == [3, 5, 6] and chosen["held_out"] == {"images": 1, "items": 64}
    assert chosen["value"] == min(value for _, value in chosen["evaluated"]) and chosen["criterion"].startswith("L1 of G's ab")
    for (name, x), y in zip(a.nets.state_dict().items(), b.nets.state_dict().values()):
        assert torch.equal(x, y), name
