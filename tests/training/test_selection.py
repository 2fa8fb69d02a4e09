"""Held-out model selection: which training images are held out, the model kept, a
resume that ends as an uninterrupted run, and nothing changed for a method that
does not select."""

import math
import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from colorbench.data import datasets
from colorbench.data.datasets import Dataset, RandomCrops
from colorbench.errors import UserError
from colorbench.methods.colorizer import Colorizer, TrainConfig
from colorbench.plugins import get_colorizer
from colorbench.training import batches, checkpoints, selection, trainer as training

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def data():
    return datasets.load("builtin", size=16)


# ------------------------------------------------------------------ the split
class Photos(torch.utils.data.Dataset):
    """``images`` photos, ``per_image`` items each, as `RandomCrops` numbers them."""

    def __init__(self, images: int, per_image: int):
        self.images, self.per_image = images, per_image

    def __len__(self):
        return self.images * self.per_image

    def __getitem__(self, i):
        return torch.rand(3, 4, 4)

    def source_of(self, i):
        return i % self.images


@settings(max_examples=30, deadline=None)
@given(images=st.integers(2, 60), per_image=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_whole_images_are_held_out_a_tenth_of_the_items_at_most_a_thousand(images, per_image, seed):
    dataset = Photos(images, per_image)
    kept, held = batches.held_out_split(dataset, seed)
    assert batches.held_out_split(dataset, seed) == (kept, held)  # the seed alone decides
    assert sorted(kept + held) == list(range(len(dataset)))  # a partition (under 1,000 held out here)
    held_images = {dataset.source_of(i) for i in held}
    assert not held_images & {dataset.source_of(i) for i in kept}  # never a crop of a held-out photo in training
    assert 1 <= len(held_images) < images  # at least one photo each side
    wanted = min(math.ceil(len(dataset) / 10), batches.HELD_OUT_ITEMS)
    assert len(held) >= wanted or len(held_images) == images - 1  # enough, unless that would leave nothing
    assert len(held) - per_image < wanted  # and no photo more than needed


def test_a_large_dataset_holds_out_a_thousand_images():
    kept, held = batches.held_out_split(Photos(50_000, 1), seed=0)
    assert len(held) == batches.HELD_OUT_ITEMS and len(kept) == 49_000


def test_a_single_training_image_cannot_be_split(data):
    with pytest.raises(ValueError, match="1 training image"):
        batches.held_out_split(Photos(1, 64), 0)
    one = Dataset("one_photo", 16, RandomCrops([torch.rand(3, 32, 32)], 16), data.test)
    model = get_colorizer("pretrained_g_gan").from_profile("smoke", size=16, ngf=4, ndf=4)
    with pytest.raises(UserError, match="one_photo has only 1 training image: add training images, or --set select_every=0"):
        training.train(model, one, seed=0, console=QUIET)


def test_held_out_items_are_the_same_crops_every_time_and_leave_the_rngs_alone(data):
    _, held = batches.held_out_split(data.train, 0)
    assert {data.train.source_of(i) for i in held} == {held[0] % 6} and len(held) == 64  # one of six photos
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    first = torch.cat(list(batches.held_out_batches(data.train, held, 5, seed=0)))
    again = torch.cat(list(batches.held_out_batches(data.train, held, 7, seed=0)))
    assert first.shape == (64, 3, 16, 16) and torch.equal(first, again)
    assert torch.equal(torch.get_rng_state(), states[0]) and (np.random.get_state()[1] == states[1]).all() and random.getstate() == states[2]
    assert not torch.equal(first, torch.cat(list(batches.held_out_batches(data.train, held, 5, seed=1))))  # other crops


# ------------------------------------------------------------------ the model kept
@dataclass
class WalkConfig(TrainConfig):
    steps: int = 8
    batch_size: int = 4
    select_every: int = 1


class Walk(Colorizer):
    """A tint that moves by one each step; its held-out loss is lowest at tint 3."""

    name, description, paper = "walk_test", "a tint walking past its best", "none: a test"
    Config = WalkConfig

    def build(self):
        tint = torch.nn.Linear(1, 2, bias=False)
        torch.nn.init.zeros_(tint.weight)
        return {"tint": tint}

    def optimizers(self):
        return {"sgd": torch.optim.SGD(self.nets.parameters(), lr=1.0)}

    def loss(self, L, ab):
        return -self.nets["tint"].weight.sum() / 2  # each weight + 0.5 a step

    def selection_loss(self, L, ab, noise):
        """Distance of the tint from 3."""
        self.modes_seen = [m.training for m in self.nets.modules()]
        return (self.nets["tint"].weight.sum() - 3).abs() + 0 * ab.mean()

    def predict(self, L, noise):
        return self.nets["tint"].weight.view(1, 2, 1, 1).expand(len(L), 2, *L.shape[2:])


def test_the_lowest_held_out_loss_is_the_model_kept_and_recorded(data):
    model = Walk(size=16)
    log = training.train(model, data, seed=0, console=QUIET)
    assert model.nets["tint"].weight.sum().item() == 3  # step 3's, not step 8's
    assert model.nets.training and not any(model.modes_seen)  # measured in eval mode, trained in train mode
    assert log["selection"] == {
        "criterion": "Distance of the tint from 3.",
        "every": 1,
        "held_out": {"images": 1, "items": 64},
        "step": 3,
        "value": 0.0,
        "evaluated": [[step, abs(step - 3.0)] for step in range(1, 9)],
    }


def test_selecting_needs_a_selection_loss_and_a_whole_number_of_steps():
    class NoCriterion(Walk):
        selection_loss = Colorizer.selection_loss

    with pytest.raises(ValueError, match="select_every 1 but no selection_loss"):
        training.Trainer(NoCriterion(size=16))
    with pytest.raises(ValueError, match="0 or more"):
        training.Trainer(Walk(WalkConfig(select_every=-1), size=16))


def test_a_method_that_does_not_select_trains_as_before(data, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("held-out items made for a method that does not select")

    monkeypatch.setattr(batches, "held_out_split", never)
    monkeypatch.setattr(batches, "held_out_batches", never)
    model = Walk(WalkConfig(select_every=0), size=16)
    log = training.train(model, data, seed=0, console=QUIET)
    assert "selection" not in log and "selection" not in training.Trainer(model).capture(8, [])
    assert model.nets["tint"].weight.sum().item() == 8  # the last model


def test_an_evaluation_leaves_the_global_rngs_where_they_were(data):
    model = Walk(size=16)
    chosen = selection.Selection(model, data, seed=0)
    torch.manual_seed(5)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    chosen.evaluate(1)
    assert torch.equal(torch.get_rng_state(), before[0]) and (np.random.get_state()[1] == before[1]).all() and random.getstate() == before[2]


# ------------------------------------------------------------------ resume
def _zhu(seed=0):
    training.seed_everything(seed)
    return get_colorizer("pretrained_g_gan").from_profile("smoke", size=16, ngf=4, ndf=4, pretrain_steps=2, gan_steps=10, select_every=3)


class Crash(Exception):
    pass


def test_a_resumed_run_selects_the_model_an_uninterrupted_one_does(data, tmp_path):
    whole = _zhu()
    whole_log = training.train(whole, data, seed=0, console=QUIET)
    assert [step for step, _ in whole_log["selection"]["evaluated"]] == [5, 8, 11, 12]  # every 3 GAN steps, and the last

    crashed, state = _zhu(), tmp_path / "run-training"
    generate, calls = crashed.generate, [0]

    def crash_at_step_11(L, ab):  # after the state of step 8, which holds two evaluations
        calls[0] += 1
        if calls[0] == 11:
            raise Crash
        return generate(L, ab)

    crashed.generate = crash_at_step_11
    with pytest.raises(Crash):
        training.train(crashed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=4)
    saved = checkpoints.read_training_state(state)
    assert saved["step"] == 8 and [s for s, _ in saved["selection"]["evaluated"]] == [5, 8]
    assert saved["selection"]["best"]["step"] in (5, 8) and saved["selection"]["held_out"] == batches.held_out_split(data.train, 0)[1]

    resumed = _zhu(seed=123)  # a fresh process: other initial weights, other RNG state
    log = training.train(resumed, data, seed=0, console=QUIET, state_path=state, checkpoint_every=4, resume=True)
    assert log["selection"] == whole_log["selection"]
    for (name, x), y in zip(whole.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(x, y), name


def test_a_state_of_another_split_or_without_selection_is_refused(data, tmp_path):
    model = _zhu()
    chosen = selection.Selection(model, data, seed=0)
    trainer = training.Trainer(model, selection=chosen)
    chosen.evaluate(3)
    state = trainer.capture(3, [])
    trainer.check_state(state, 12)  # its own state fits
    with pytest.raises(ValueError, match="selection.held_out: not the training images this run holds out"):
        trainer.check_state({**state, "selection": {**state["selection"], "held_out": state["selection"]["held_out"][1:]}}, 12)
    with pytest.raises(ValueError, match="selection: missing"):
        trainer.check_state({k: v for k, v in state.items() if k != "selection"}, 12)
    best = state["selection"]["best"]
    with pytest.raises(ValueError, match="selection.best.nets.*NaN"):
        nan = {k: v.float().fill_(float("nan")) if v.is_floating_point() else v for k, v in best["nets"].items()}
        trainer.check_state({**state, "selection": {**state["selection"], "best": {**best, "nets": nan}}}, 12)
    with pytest.raises(ValueError, match="selection: held by a run that selected"):
        training.Trainer(model).check_state(state, 12)
