"""Training: exact resume from a saved state, and what happens when a GAN diverges."""

from dataclasses import dataclass

import pytest
import torch
from rich.console import Console

from colorbench.data import datasets
from colorbench.training import checkpoints, trainer as training
from colorbench.methods.colorizer import Colorizer, TrainConfig
from colorbench.plugins import get_colorizer

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def data():
    return datasets.load("builtin", size=16)


def _unet(seed=0, **overrides):
    training.seed_everything(seed)
    return get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=8, ndf=8, steps=12, **overrides)


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.nets.state_dict().values(), b.nets.state_dict().values()))


class Crash(Exception):
    pass


def test_resuming_from_a_saved_state_ends_with_the_same_weights(data, tmp_path):
    whole = _unet()
    training.train(whole, data, seed=0, console=QUIET)

    crashed = _unet()
    state = tmp_path / "run-training"
    original_generate = crashed.generate
    calls = {"n": 0}

    def crash_at_step_7(L, ab):  # after the checkpoints of steps 4 (and not 8)
        calls["n"] += 1
        if calls["n"] == 7:
            raise Crash
        return original_generate(L, ab)

    crashed.generate = crash_at_step_7  # G's output, computed once per step
    with pytest.raises(Crash):
        training.train(crashed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=4)
    assert checkpoints.training_state_json(state).is_file()

    resumed = _unet(seed=123)  # a fresh process: other initial weights, other RNG state
    log = training.train(resumed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=4, resume=True)
    assert log["status"] == "ok" and log["steps"] == 12
    assert _same_weights(whole, resumed)
    assert not list(tmp_path.iterdir())  # removed once training is done


def test_every_rng_and_optimizer_state_round_trips_through_files(data, tmp_path):
    model = _unet()
    training.train(model, data, seed=0, console=QUIET)
    state = training.Trainer(model).capture(12, [{"step": 3, "reason": "x"}])
    checkpoints.write_training_state(tmp_path / "s-training", state)
    again = checkpoints.read_training_state(tmp_path / "s-training")
    assert again["step"] == 12 and again["remedies"] == [{"step": 3, "reason": "x"}]
    assert torch.equal(again["rng"]["torch"], state["rng"]["torch"])
    assert again["optimizers"]["G"]["param_groups"] == state["optimizers"]["G"]["param_groups"]
    assert set(again["optimizers"]["G"]["state"]) == set(state["optimizers"]["G"]["state"])  # int keys kept


@dataclass
class SpikyConfig(TrainConfig):
    steps: int = 6
    batch_size: int = 4
    lr: float = 0.1
    unstable_above: float = 0.03  # learning rates above this blow up


class Spiky(Colorizer):
    """A method that diverges whenever its learning rate is too high."""

    name, description, paper = "spiky_test", "diverges at high learning rates", "none: a test"
    Config = SpikyConfig

    def build(self):
        return {"tint": torch.nn.Linear(1, 2, bias=False)}

    def optimizers(self):
        self.opt = torch.optim.SGD(self.nets.parameters(), lr=self.config.lr)  # kept: the loss reads its rate
        return {"sgd": self.opt}

    def loss(self, L, ab):
        pred = self.nets["tint"].weight.view(1, 2, 1, 1).expand_as(ab)
        loss = torch.nn.functional.mse_loss(pred, ab)
        if self.opt.param_groups[0]["lr"] > self.config.unstable_above:
            loss = loss * float("inf")
        return loss, {"mse": loss}

    def predict(self, L, noise):
        return self.nets["tint"].weight.view(1, 2, 1, 1).expand(len(L), 2, *L.shape[2:])


def test_a_divergence_rolls_back_and_halves_the_learning_rate(data):
    model = Spiky(size=16)
    log = training.train(model, data, seed=0, console=QUIET, checkpoint_every=2)
    assert log["status"] == "ok" and log["steps"] == 6
    assert [r["step"] for r in log["remedies"]] == [0, 0]  # 0.1 -> 0.05 -> 0.025
    assert model.opt.param_groups[0]["lr"] == pytest.approx(0.025)
    assert all(torch.isfinite(p).all() for p in model.nets.parameters())


def test_a_run_that_keeps_diverging_ends_marked_with_its_last_good_weights(data):
    model = Spiky(Spiky.Config(unstable_above=0.0), size=16)
    before = model.nets["tint"].weight.detach().clone()
    log = training.train(model, data, seed=0, console=QUIET)
    assert log["status"] == "diverged"
    assert log["diverged"]["step"] == 0 and "non-finite" in log["diverged"]["reason"]
    assert len(log["remedies"]) == training.MAX_REMEDIES + 1
    assert torch.equal(model.nets["tint"].weight, before)  # never NaN weights
