"""Checks every colorbench method should pass: registered, trains, colourizes, round-trips."""

import torch
from rich.console import Console

from colorbench import checkpoints, datasets, plugins, training


def test_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx(tmp_path):
    cls = plugins.get_colorizer("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")  # registered through the entry point
    training.seed_everything(0)
    model = cls.from_profile("smoke", size=16)
    log = training.train(model, datasets.load("builtin", size=16), seed=0, console=Console(quiet=True))
    assert log["status"] == "ok" and log["steps"] > 0

    L = torch.rand(2, 1, 16, 16) * 2 - 1
    ab = model.colorize(L, n_samples=2)
    assert ab.shape == (2, 2, 2, 16, 16) and ab.abs().max() <= 1

    path, _ = checkpoints.save(model, tmp_path / "model")
    assert torch.equal(checkpoints.load(path).colorize(L), model.colorize(L))
