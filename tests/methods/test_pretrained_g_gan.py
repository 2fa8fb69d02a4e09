import pytest
import torch
from rich.console import Console
from torch import nn

from colorbench import lab
from colorbench.data import datasets
from colorbench.training import trainer as training
from colorbench.methods.colorizer import PROFILES
from colorbench.errors import UsageError
from colorbench.methods.networks import PatchDiscriminator
from colorbench.plugins import get_colorizer
from colorbench_plugins.pretrained_g_gan import ResidualBlock, ResidualUNet, from_unit, to_unit

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
    nn.init.zeros_(block.body[-1].weight)  # body's output is then 0: the block is the identity
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
    assert isinstance(D, PatchDiscriminator) and D.model[0].in_channels == 3
    L, ab = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    assert torch.equal(model.d_input(L, ab), torch.cat([L, ab], dim=1))


def test_phases_pretrain_on_L1_then_train_the_gan_one_to_five_at_every_profile():
    for profile in PROFILES:
        model = PretrainedGGAN.from_profile(profile, size=16, ngf=8, ndf=8)
        pre, gan = model.phases()
        assert (pre.name, gan.name) == ("pretrain_L1", "gan")
        assert [(u.optimizer, u.loss) for u in pre.updates] == [("G", model.l1_loss)]
        assert [(u.optimizer, u.loss) for u in gan.updates] == [("D", model.d_loss), ("G", model.g_loss)]
        assert pre.shared == gan.shared == model.generate  # on the paper's [0, 1] scale
        assert pre.steps > 0 and gan.steps == 5 * pre.steps
        assert model.config.steps == pre.steps + gan.steps
    assert PretrainedGGAN.profiles["smoke"]["batch_size"] == 4
    assert PretrainedGGAN.profiles["full"] == dict(pretrain_steps=7_800, gan_steps=39_000, batch_size=128)


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
    trainer.optimizers["G"].param_groups[0]["lr"] = 0.0
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
    for (name, x), y in zip(a.nets.state_dict().items(), b.nets.state_dict().values()):
        assert torch.equal(x, y), name
