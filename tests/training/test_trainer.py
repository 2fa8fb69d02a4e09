"""The core's Trainer: what it does around a method's losses, and in which order."""

from dataclasses import dataclass

import pytest
import torch
from rich.console import Console

from colorbench.data import datasets
from colorbench.methods.colorizer import Colorizer, Phase, TrainConfig, Update
from colorbench.plugins import get_colorizer
from colorbench.training import batches, checkpoints, trainer as training
from colorbench.training.batches import loader
from tests.training.test_training import Spiky

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def data():
    return datasets.load("builtin", size=16)


def _batch(n=4, size=16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1, torch.rand(n, 2, size, size, generator=g) - 0.5


class RecordingSGD(torch.optim.SGD):
    """SGD that writes each call the Trainer makes, and whether gradients were there."""

    def __init__(self, params, name, events, **kw):
        super().__init__(params, **kw)
        self.name, self.events = name, events

    def zero_grad(self, set_to_none=True):
        self.events.append(f"zero_grad {self.name} set_to_none={set_to_none}")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        has_grad = all(p.grad is not None for g in self.param_groups for p in g["params"])
        self.events.append(f"step {self.name} grads={has_grad}")
        return super().step(closure)


@dataclass
class TwoConfig(TrainConfig):
    steps: int = 3
    batch_size: int = 4


class TwoNets(Colorizer):
    """A GAN-shaped method: a shared forward, then an update of D, then one of G."""

    name, description, paper = "two_nets_test", "two tints, two updates", "none: a test"
    Config = TwoConfig

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.events = []

    def build(self):
        return {"G": torch.nn.Conv2d(1, 2, 1), "D": torch.nn.Conv2d(2, 1, 1)}

    def optimizers(self):
        return {name: RecordingSGD(self.nets[name].parameters(), name, self.events, lr=0.1) for name in ("G", "D")}

    def phases(self):
        return [Phase("train", self.config.steps, [Update("D", self.d_loss), Update("G", self.g_loss)], shared=self.generate)]

    def generate(self, L, ab):
        self.events.append("shared")
        return {"fake": self.nets["G"](L)}

    def d_loss(self, L, ab, fake):
        self.events.append("loss D")
        self.d_weight_seen_by_D = self.nets["D"].weight.detach().clone()
        return self.nets["D"](fake.detach()).mean() - self.nets["D"](ab).mean(), {"D": 1.0}

    def g_loss(self, L, ab, fake):
        self.events.append("loss G")
        self.d_weight_seen_by_G = self.nets["D"].weight.detach().clone()
        loss = -self.nets["D"](fake).mean()
        return loss, {"G": loss}

    def predict(self, L, noise):
        return self.nets["G"](L).tanh()


def test_one_step_runs_shared_once_then_each_update_in_order():
    model = TwoNets(size=16)
    trainer = training.Trainer(model)
    losses = trainer.step(model.phases()[0], *_batch())
    assert model.events == [
        "shared",
        "loss D", "zero_grad D set_to_none=True", "step D grads=True",
        "loss G", "zero_grad G set_to_none=True", "step G grads=True",
    ]
    assert not torch.equal(model.d_weight_seen_by_D, model.d_weight_seen_by_G)  # G's loss sees D after its step
    assert list(losses) == ["D", "G"] and losses["D"] == 1.0 and isinstance(losses["G"], float)


def test_schedulers_step_after_their_optimisers_step():
    class Scheduled(TwoNets):
        def schedulers(self, optimizers):
            return {"G": torch.optim.lr_scheduler.StepLR(optimizers["G"], step_size=1, gamma=0.5)}

    model = Scheduled(size=16)
    trainer = training.Trainer(model)
    for _ in range(2):
        trainer.step(model.phases()[0], *_batch())
    assert trainer.optimizers["G"].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)
    assert trainer.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.1)


def test_a_scheduler_or_update_naming_no_optimiser_is_refused_when_training_is_set_up():
    class Misnamed(TwoNets):
        def schedulers(self, optimizers):
            return {"E": torch.optim.lr_scheduler.StepLR(optimizers["G"], step_size=1)}

    with pytest.raises(ValueError, match="schedulers for no optimiser: E"):
        training.Trainer(Misnamed(size=16))

    class NoSuchOptimiser(TwoNets):
        def phases(self):
            return [Phase("train", 1, [Update("H", self.g_loss)], shared=self.generate)]

    with pytest.raises(ValueError, match="no optimiser 'H'"):
        training.Trainer(NoSuchOptimiser(size=16))


class Steep(Colorizer):
    """One weight, one loss with a large gradient: the default optimiser's case."""

    name, description, paper = "steep_test", "a steep loss", "none: a test"
    Config = TwoConfig

    def build(self):
        return {"w": torch.nn.Linear(1, 1, bias=False)}

    def optimizers(self):
        return {"sgd": torch.optim.SGD(self.nets.parameters(), lr=1.0)}

    def loss(self, L, ab):
        return 1000.0 * self.nets["w"].weight.sum()

    def predict(self, L, noise):
        return torch.zeros(len(L), 2, *L.shape[2:])


@pytest.mark.parametrize("clip, moved", [(None, 1000.0), (0.5, 0.5)])
def test_gradient_clipping_is_a_setting_and_off_by_default(clip, moved):
    model = Steep(size=16)
    trainer = training.Trainer(model, clip_grad_norm=clip)
    before = model.nets["w"].weight.item()
    assert trainer.step(model.phases()[0], *_batch()) == {"loss": pytest.approx(1000.0 * before)}  # a bare loss: "loss"
    assert before - model.nets["w"].weight.item() == pytest.approx(moved)


def test_bf16_autocast_on_the_cpu_covers_the_forward_and_keeps_fp32_weights():
    seen = []

    class Watched(Steep):
        def loss(self, L, ab):
            out = torch.nn.functional.linear(L.flatten(1)[:, :1], self.nets["w"].weight)
            seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
            return out.float().square().mean()

    for precision, expected in [("fp32", (False, torch.float32)), ("bf16", (True, torch.bfloat16))]:
        seen.clear()
        model = Watched(size=16)
        training.Trainer(model, precision=precision).step(model.phases()[0], *_batch())
        assert seen == [expected]
        assert model.nets["w"].weight.dtype == torch.float32
    with pytest.raises(ValueError, match="precision 'fp8'"):
        training.Trainer(Watched(size=16), precision="fp8")


def test_a_unet_cgan_trains_in_bf16_on_the_cpu(data):
    training.seed_everything(0)
    model = get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=8, ndf=8)
    log = training.train(model, data, seed=0, console=QUIET, precision="bf16")
    assert log["status"] == "ok" and log["precision"] == "bf16" and log["steps"] == 3
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.nets.parameters())


# ------------------------------------------------------------------ rollback and resume with schedulers
class ScheduledSpiky(Spiky):
    """Spiky (diverges while its learning rate is too high), with a scheduler that
    shrinks the rate 0.9x a step."""

    name = "scheduled_spiky_test"

    def schedulers(self, optimizers):
        return {"sgd": torch.optim.lr_scheduler.LambdaLR(optimizers["sgd"], lambda step: 0.9**step)}


def test_a_rollback_halves_the_scheduled_rates_for_good(data):
    model = ScheduledSpiky(size=16)
    log = training.train(model, data, seed=0, console=QUIET, checkpoint_every=2)
    assert log["status"] == "ok" and log["steps"] == 6
    assert [r["step"] for r in log["remedies"]] == [0, 0]  # 0.1 -> 0.05 -> 0.025
    # the scheduler's base rate was halved too: six steps of the schedule from 0.025, not from 0.1
    assert model.opt.param_groups[0]["lr"] == pytest.approx(0.025 * 0.9**6)


class Crash(Exception):
    pass


def _scheduled_unet(seed):
    class ScheduledUNet(get_colorizer("unet_cgan")):
        def schedulers(self, optimizers):
            return {name: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5) for name, opt in optimizers.items()}

    training.seed_everything(seed)
    return ScheduledUNet.from_profile("smoke", size=16, ngf=8, ndf=8, steps=10)


def _crash_at(model, call):
    generate, calls = model.generate, {"n": 0}

    def crashing(L, ab):
        calls["n"] += 1
        if calls["n"] == call:
            raise Crash
        return generate(L, ab)

    model.generate = crashing


def test_a_resumed_run_continues_its_schedulers_exactly(data, tmp_path):
    whole = _scheduled_unet(0)
    training.train(whole, data, seed=0, console=QUIET)

    crashed, state = _scheduled_unet(0), tmp_path / "run-training"
    _crash_at(crashed, 8)  # after the checkpoint at step 6
    with pytest.raises(Crash):
        training.train(crashed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=3)
    saved = checkpoints.read_training_state(state)
    assert saved["step"] == 6 and saved["schedulers"]["G"]["last_epoch"] == 6

    resumed = _scheduled_unet(123)
    training.train(resumed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=3, resume=True)
    for name, weight in whole.nets.state_dict().items():
        assert torch.equal(weight, resumed.nets.state_dict()[name]), name


# ------------------------------------------------------------------ batches
def test_the_loader_gives_each_step_the_batch_batch_at_gives_and_leaves_the_global_rng_alone(data):
    train = data.train
    torch.manual_seed(5)
    expected = [batches.batch_at(train, 4, 7, step) for step in range(3, 8)]
    torch.manual_seed(5)
    made = iter(loader(train, batch_size=4, seed=7, start=3, total=8))
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(5).get_state())  # iter() drew nothing
    torch.manual_seed(5)
    assert all(torch.equal(next(made), batch) for batch in expected)
    assert next(made, None) is None


def _unet_with(workers, data, seed=0):
    training.seed_everything(seed)
    model = get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=8, ndf=8, steps=4)
    log = training.train(model, data, seed=0, console=QUIET, workers=workers)
    return model, log


def test_worker_processes_give_the_same_weights_whatever_their_count(data):
    one, log = _unet_with(1, data)
    two, _ = _unet_with(2, data)
    main, main_log = _unet_with(0, data)
    assert log["loader"] == {"workers": 1, "crops": "seeded per item"}
    assert main_log["loader"] == {"workers": 0, "crops": "global RNG"}
    for name, weight in one.nets.state_dict().items():
        assert torch.equal(weight, two.nets.state_dict()[name]), name
    assert any(not torch.equal(w, main.nets.state_dict()[k]) for k, w in one.nets.state_dict().items())  # other crops


def test_a_state_saved_with_workers_is_not_resumed_without(data, tmp_path):
    crashed, state = _scheduled_unet(0), tmp_path / "run-training"
    _crash_at(crashed, 5)
    with pytest.raises(Crash):
        training.train(crashed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=3, workers=2)
    from colorbench.errors import UserError

    with pytest.raises(UserError, match="loader: 'workers': its batches were made in worker processes"):
        training.train(_scheduled_unet(0), data, seed=0, console=QUIET, state_path=state, resume=True, workers=0)
