"""`colorbench new-plugin NAME`: a ready-to-install plugin package to start a method from.

The package holds a pyproject.toml with the ``colorbench`` entry point, one module
with a small but real method (a CNN trained with L1 on ab, the simplest honest
starting point) and a test that trains it, colourizes and round-trips a checkpoint.
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path
from string import Template

from colorbench.errors import UsageError, UserError

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "colorbench-$dist"
version = "0.1.0"
description = "$name: a colorbench colourization method"
requires-python = ">=3.10"
dependencies = ["colorbench"]

[project.optional-dependencies]
test = ["pytest"]

# This line is what makes colorbench find the method.
[project.entry-points.colorbench]
$name = "colorbench_$name"

[tool.setuptools]
py-modules = ["colorbench_$name"]
''')

MODULE = Template('''\
"""$name: <one line on the method>.

Follows: <the paper: authors, year, title, and the sections this implements>.
Defaults taken from it: <learning rate, batch size, loss weights... and where each is stated>.
Changed, and why: <anything that differs from the paper>.

The starting point below is a small CNN trained with L1 on ab: replace its
network, loss and profiles with your method's. colorbench gives `loss` batches
of normalised Lab (L in [-1, 1] of shape (B, 1, S, S), ab in [-1, 1] of shape
(B, 2, S, S)), minimises it with Adam at the config's `lr` (override
`optimizers`, or `phases` for several losses and optimisers, as a GAN does)
and scores whatever `predict` returns, the same way as for every other method.
"""

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.methods.colorizer import Colorizer, TrainConfig


@dataclass
class Config(TrainConfig):
    width: int = 32  # channels of the hidden layers
    lr: float = 1e-3  # Adam's learning rate (the default optimiser reads `lr`)


class $cls(Colorizer):
    name = "$name"
    description = "$name: a small CNN trained with L1 on ab (replace with your method)"
    # Your paper: authors, "title", venue, year, and the sections this follows. Until
    # then it says honestly that it follows none (a placeholder is refused).
    paper = "none: the template's small CNN trained with L1 on ab"
    stochastic = False  # True if colorize gives different samples for different noise
    Config = Config
    profiles = {
        "smoke": dict(steps=3, batch_size=4),  # seconds: what the tests use
        "quick": dict(steps=200, batch_size=16),  # minutes on a laptop CPU
        "full": dict(steps=50_000, batch_size=64),  # the paper's scale
    }

    def build(self):
        w = self.config.width
        net = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2, 3, padding=1), nn.Tanh(),
        )
        return {"net": net}  # every network by name: a checkpoint saves these

    def loss(self, L, ab):
        """What training minimises on a batch, and the terms to show by name."""
        l1 = F.l1_loss(self.nets["net"](L), ab)
        return l1, {"L1": l1}

    def predict(self, L, noise):
        return self.nets["net"](L)


@colorbench.hookimpl
def register_colorizers(register):
    register($cls)
''')

TEST = Template('''\
"""Checks every colorbench method should pass: registered, trains, colourizes, round-trips."""

import torch
from rich.console import Console

from colorbench import plugins
from colorbench.data import datasets
from colorbench.training import checkpoints, trainer as training


def test_$name(tmp_path):
    cls = plugins.get_colorizer("$name")  # registered through the entry point
    training.seed_everything(0)
    model = cls.from_profile("smoke", size=16)
    log = training.train(model, datasets.load("builtin", size=16), seed=0, console=Console(quiet=True))
    assert log["status"] == "ok" and log["steps"] > 0

    L = torch.rand(2, 1, 16, 16) * 2 - 1
    ab = model.colorize(L, n_samples=2)
    assert ab.shape == (2, 2, 2, 16, 16) and ab.abs().max() <= 1

    path, _ = checkpoints.save(model, tmp_path / "model")
    assert torch.equal(checkpoints.load(path).colorize(L), model.colorize(L))
''')

README = Template('''\
# colorbench-$dist

The `$name` colourization method as a [colorbench](https://pypi.org/project/colorbench/) plugin.

    pip install -e .
    colorbench list                                  # shows $name
    python -m pytest                                 # its own test
    colorbench run --plugin $name --profile smoke    # scored beside the gray baseline
''')


def render(name: str, into: Path) -> Path:
    """Write the package for method ``name`` into ``into/colorbench-NAME``; returns it."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise UsageError(f"plugin name {name!r} must be lower-case letters, digits and _ (a Python identifier), like my_method")
    from colorbench import outputs, plugins

    if name in plugins.colorizers():
        raise UsageError(f"a colourizer named {name!r} is already registered; pick another name")
    dist = name.replace("_", "-")
    root = outputs.check_folder(into, "--into", subfolders=(f"colorbench-{dist}",)) / f"colorbench-{dist}"
    if os.path.lexists(root):
        raise UserError(f"{root} already exists; nothing was written (remove it or pick another --into)")
    fields = {"name": name, "dist": dist, "cls": "".join(part.title() for part in name.split("_"))}
    files = {
        "pyproject.toml": PYPROJECT,
        f"colorbench_{name}.py": MODULE,
        f"tests/test_{name}.py": TEST,
        "README.md": README,
    }
    return outputs.write_folder(root, {relative: template.substitute(fields).encode() for relative, template in files.items()})
