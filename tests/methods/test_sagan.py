import sys

import pytest
import torch
from rich.console import Console
from torch import nn
from torch.nn.utils import parametrize

from colorbench.data import datasets
from colorbench.training import checkpoints, trainer as training
from colorbench.methods.perceptual import PerceptualLoss, VGGFeatures
from colorbench.plugins import get_colorizer

SAGAN = get_colorizer("sagan")
sagan = sys.modules[SAGAN.__module__]
SMALL = dict(ngf=8, ndf=8)  # unit-test widths
_VGG = {}



@pytest.fixture(autouse=True)
def one_vgg(monkeypatch):
    """Build the frozen VGG16 once for the whole module: constructing it takes seconds."""

    def shared(layer_weights):
        key = tuple(sorted(layer_weights.items()))
        if key not in _VGG:
            _VGG[key] = PerceptualLoss(layer_weights)
        return _VGG[key]

    monkeypatch.setattr(sagan, "PerceptualLoss", shared)


def _model(size=32, **overrides):
    torch.manual_seed(0)
    return SAGAN.from_profile("smoke", size=size, **{**SMALL, **overrides})


def _batch(size=32, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1, (torch.rand(n, 2, size, size, generator=g) - 0.5) * 0.6


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_convolutions_of_G_and_the_critic_are_spectrally_normalised():
    model = _model()
    head = model.nets["G"].head[0]  # G's 1x1 output projection: the one left out, on purpose
    assert isinstance(head, nn.Conv2d) and not parametrize.is_parametrized(head)
    for name in ("G", "D"):
        convs = [m for m in model.nets[name].modules() if isinstance(m, nn.Conv2d) and m is not head]
        assert len(convs) > 5
        for conv in convs:
            assert parametrize.is_parametrized(conv, "weight")
            assert "SpectralNorm" in type(conv.parametrizations.weight[0]).__name__
    # and it normalises: after some power iterations every weight's largest singular value is ~1
    G = model.nets["G"].train()
    for _ in range(20):
        G(torch.randn(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
    for conv in (m for m in G.modules() if isinstance(m, nn.Conv2d) and m is not head):
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), 2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_self_attention_starts_as_the_identity_and_attends_once_gamma_moves():
    torch.manual_seed(0)
    attention = sagan.SelfAttention(16).eval()
    x = torch.randn(2, 16, 6, 5)
    assert attention.gamma.item() == 0 and attention.query.out_channels == 2
    assert torch.equal(attention(x), x)  # exactly: gamma * attn + x with gamma = 0

    with torch.no_grad():
        attention.gamma.fill_(0.7)
    out = attention(x)
    assert out.shape == x.shape and (out - x).abs().max() > 1e-3
    # SAGAN's formula, written out: softmax over positions of q_i . k_j, weights on v_j
    q, k, v = (f(x).flatten(2) for f in (attention.query, attention.key, attention.value))
    weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N): row i sums to 1 over j
    expected = 0.7 * (v @ weights.transpose(1, 2)).view_as(x) + x
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_self_attention_sits_at_the_chosen_decoder_stride_and_in_the_critic():
    model = _model(size=64, attention_stride=4)
    seen = {}
    for name in ("G", "D"):
        layers = [m for m in model.nets[name].modules() if isinstance(m, sagan.SelfAttention)]
        assert len(layers) == 1
        layers[0].register_forward_hook(lambda m, i, o, name=name: seen.update({name: tuple(o.shape[-2:])}))
    model.nets.eval()
    model.nets["G"](torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))
    model.nets["D"](torch.zeros(1, 3, 64, 64))
    assert seen == {"G": (16, 16), "D": (16, 16)}  # G: 64 / 4; D: after its first block (stride 4)


def test_G_samples_with_uniform_noise_repeatable_by_seed_and_the_critic_gives_patch_logits():
    """The paper's G(z; θ_g), "z is uniformly distributed noise that is passed as input to generator" (§2.2)."""
    model = _model(size=64)
    L, _ = _batch(64, n=2)
    samples = model.colorize(L, n_samples=3, seed=1)
    assert SAGAN.stochastic and samples.shape == (3, 2, 2, 64, 64) and samples.abs().max() <= 1
    assert not torch.equal(samples[0], samples[1])  # each sample its own z
    assert torch.equal(samples, model.colorize(L, n_samples=3, seed=1))  # drawn from the seed's generator
    assert not torch.equal(samples, model.colorize(L, n_samples=3, seed=2))
    assert samples.abs().mean() < 0.1  # the N(0, 0.02) output projection: G starts near gray
    assert model.nets["D"].eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 5, 5)


def test_the_noise_is_uniform_in_minus_one_to_one_and_joins_L_at_Gs_input():
    L = torch.zeros(64, 1, 16, 16)
    z = sagan.uniform_noise(L, torch.Generator().manual_seed(0))
    assert z.shape == L.shape and z.min() >= -1 and z.max() < 1
    assert z.mean().abs() < 0.02 and z.var().item() == pytest.approx(1 / 3, rel=0.05)  # U(-1, 1): variance 1/3
    assert torch.equal(z, sagan.uniform_noise(L, torch.Generator().manual_seed(0)))
    G = _model().nets["G"]
    assert G.down[0][0].in_channels == 2  # L and z, joined
    first = {}
    G.down[0].register_forward_hook(lambda m, i, o: first.update(input=i[0]))
    L, z = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    G.eval()(L, z)
    assert torch.equal(first["input"], torch.cat([L, z], dim=1))


def test_phases_are_the_NoGAN_schedule_and_cycles_repeat_critic_and_gan():
    model = _model(pretrain_steps=7, critic_steps=5, gan_steps=3)
    assert [(p.name, p.steps) for p in model.phases()] == [("pretrain_G", 7), ("pretrain_critic", 5), ("gan", 3)]
    updates = lambda phase: [(u.optimizer, u.loss.__name__) for u in phase.updates]  # noqa: E731
    assert [updates(p) for p in model.phases()] == [
        [("G_pre", "content_loss")],
        [("D_pre", "critic_loss")],
        [("D", "critic_loss"), ("G", "gan_loss")],  # the critic's step, then G's, per batch
    ]
    assert model.config.steps == 15

    twice = _model(pretrain_steps=7, critic_steps=5, gan_steps=3, cycles=2)
    assert [(p.name, p.steps, p.shared.__name__) for p in twice.phases()] == [
        ("pretrain_G", 7, "generate"),
        ("pretrain_critic", 5, "generate_frozen"),
        ("gan", 3, "generate_for_gan"),
        ("pretrain_critic_2", 5, "generate_frozen"),
        ("gan_2", 3, "generate_for_gan"),
    ]
    assert twice.config.steps == 23
    quick, smoke = SAGAN.profiles["quick"], SAGAN.profiles["smoke"]
    assert quick["pretrain_steps"] > quick["gan_steps"] > smoke["gan_steps"]  # NoGAN: most of it pre-training


def test_phase_1_trains_only_G_and_phase_2_only_the_critic():
    model = _model()
    model.nets.train()
    model.prepare_training(None)
    trainer = training.Trainer(model)
    L, ab = _batch()
    pretrain, critic, gan = model.phases()

    G0, D0 = _state(model.nets["G"]), _state(model.nets["D"])
    losses = trainer.step(pretrain, L, ab)
    assert set(losses) == {"feature", "L1"} and all(v > 0 for v in losses.values())
    assert not _same(_state(model.nets["G"]), G0) and _same(_state(model.nets["D"]), D0)

    G1, D1 = _state(model.nets["G"]), _state(model.nets["D"])
    assert set(trainer.step(critic, L, ab)) == {"D"}
    assert _same(_state(model.nets["G"]), G1)  # weights, batch-norm statistics and spectral-norm vectors
    assert not _same(_state(model.nets["D"]), D1)

    G2, D2 = _state(model.nets["G"]), _state(model.nets["D"])
    losses = trainer.step(gan, L, ab)
    assert set(losses) == {"D", "feature", "L1", "G_gan"}
    assert not _same(_state(model.nets["G"]), G2) and not _same(_state(model.nets["D"]), D2)


def test_optimisers_are_the_papers_adam_at_2e_4_for_G_and_D_in_every_phase():
    """§3: "We used Adam as optimizer. The initial learning rate for both generator G and
    discriminator D are set to 0.0002"; betas (the paper gives none) are DeOldify's."""
    for profile in SAGAN.profiles:
        model = SAGAN.from_profile(profile, size=32, **SMALL)
        opt = model.optimizers()
        assert set(opt) == {"G_pre", "D_pre", "G", "D"} and not model.schedulers(opt)  # constant rates
        for name, o in opt.items():
            assert type(o) is torch.optim.Adam and len(o.param_groups) == 1
            assert o.param_groups[0]["lr"] == 2e-4 and o.param_groups[0]["weight_decay"] == 0, name
        assert opt["G_pre"].param_groups[0]["betas"] == opt["D_pre"].param_groups[0]["betas"] == (0.9, 0.99)
        assert opt["G"].param_groups[0]["betas"] == opt["D"].param_groups[0]["betas"] == (0.0, 0.9)
    params = lambda opt: {id(p) for g in opt.param_groups for p in g["params"]}  # noqa: E731
    ids = {name: {id(p) for p in model.nets[name].parameters()} for name in ("G", "D")}
    assert params(opt["G_pre"]) == params(opt["G"]) == ids["G"]
    assert params(opt["D_pre"]) == params(opt["D"]) == ids["D"]


def test_the_VGG_loss_network_is_not_part_of_the_model_nor_its_checkpoint(tmp_path):
    model = _model()
    keys_before = set(model.nets.state_dict())
    model.prepare_training(None)
    assert isinstance(model.feature_loss.vgg, VGGFeatures)
    assert not any(isinstance(m, VGGFeatures) for m in model.nets.modules())
    assert set(model.nets.state_dict()) == keys_before and not any("vgg" in k for k in keys_before)
    assert set(model.nets) == {"G", "D"}
    path, _ = checkpoints.save(model, tmp_path / "m")
    from safetensors.torch import load_file

    assert set(load_file(path)) == keys_before


def _train():
    training.seed_everything(0)
    model = SAGAN.from_profile("smoke", size=16, **SMALL)
    log = training.train(model, datasets.load("builtin", size=16), seed=0, console=Console(quiet=True))
    return model, log


def test_smoke_training_runs_every_phase_and_a_checkpoint_gives_identical_colours(tmp_path):
    model, log = _train()
    smoke = SAGAN.profiles["smoke"]
    assert log["status"] == "ok"
    assert [(p["name"], p["steps"]) for p in log["phases"]] == [
        ("pretrain_G", smoke["pretrain_steps"]),
        ("pretrain_critic", smoke["critic_steps"]),
        ("gan", smoke["gan_steps"]),
    ]
    assert set(log["phases"][2]["final_losses"]) == {"D", "feature", "L1", "G_gan"}
    assert log["images_seen"] == log["steps"] * smoke["batch_size"]

    path, _ = checkpoints.save(model, tmp_path / "sagan")
    loaded = checkpoints.load(path, plugin="sagan")
    assert loaded.config == model.config and loaded.size == 16
    L = torch.rand(3, 1, 16, 16) * 2 - 1
    assert torch.equal(loaded.colorize(L), model.colorize(L))


def test_the_critic_is_a_binary_classifier_with_cross_entropy_and_G_weighs_content_1_5_gan_1():
    """§2.2: D "gives the output between 0 and 1 which denotes the probability of image
    belonging to training data": binary cross-entropy on logits (DeOldify's BCEWithLogitsLoss),
    and DeOldify's weights_gen=(1.0, 1.5): 1.0 x the critic's term, 1.5 x the feature loss."""
    model = _model()
    model.prepare_training(None)
    c = model.config
    assert (c.gan_weight, c.content_weight, c.l1_weight) == (1.0, 1.5, 1.0)
    D = model.nets["D"].eval()  # no dropout: the same logits on every call
    L, ab = _batch()
    generated = _batch(seed=1)[1]
    with torch.no_grad():
        real, fake = D(torch.cat([L, ab], 1)), D(torch.cat([L, generated], 1))
    p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)  # each patch's probability of "real"
    loss, terms = model.critic_loss(L, ab, generated)
    expected = 0.5 * (-torch.log(p_real).mean() - torch.log(1 - p_fake).mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and terms == {"D": loss}

    loss, terms = model.gan_loss(L, ab, generated)
    assert terms["G_gan"].item() == pytest.approx(-torch.log(p_fake).mean().item(), rel=1e-5)  # non-saturating
    content = terms["feature"] + terms["L1"]
    assert loss.item() == pytest.approx((1.5 * content + 1.0 * terms["G_gan"]).item(), rel=1e-5)
    loss, terms = model.content_loss(L, ab, generated)  # phase 1: the content alone, unweighted
    assert set(terms) == {"feature", "L1"} and loss.item() == pytest.approx(content.item(), rel=1e-6)


def test_profiles_and_the_full_scale():
    """The paper gives ImageNet and no size, batch or epochs: full is DeOldify's amounts at batch 32."""
    full = SAGAN.Config(**SAGAN.profiles["full"])  # the values alone: building nets this wide takes seconds
    assert (full.batch_size, full.ngf, full.ndf, full.critic_blocks, full.cycles) == (32, 64, 256, 3, 1)
    assert (full.pretrain_steps, full.critic_steps, full.gan_steps, full.steps) == (100_000, 35_000, 1_200, 136_200)
    assert full.gan_steps * full.batch_size == pytest.approx(0.03 * 1_281_167, rel=0.01)  # 3 % of ImageNet
    assert full.pretrain_steps * full.batch_size == pytest.approx(2.5 * 1_281_167, rel=0.01)  # 64 + 128 + 192 px stages
    quick = SAGAN.profiles["quick"]
    assert quick == dict(ngf=16, ndf=32, pretrain_steps=120, critic_steps=60, gan_steps=40, batch_size=16)
    assert SAGAN.version == "2" and SAGAN.paper.startswith("Narkhede et al. (no year): Amey Narkhede")
