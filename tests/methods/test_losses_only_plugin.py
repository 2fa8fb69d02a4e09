"""A method is its networks and its losses: the core optimises (issue 11, item 1)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import colorbench
from tests.helpers import one_module_package, pip_install

ROOT = Path(colorbench.__file__).resolve().parent.parent


MODULE = '''\
"""tint_net: a newcomer's method, a network and a loss, nothing else."""

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.methods.colorizer import Colorizer, TrainConfig


@dataclass
class Config(TrainConfig):
    width: int = 8
    lr: float = 1e-2


class TintNet(Colorizer):
    name = "tint_net"
    description = "two convolutions trained with L1 on ab"
    paper = "none: a test of the losses-only API"
    Config = Config
    profiles = {"smoke": dict(steps=4, batch_size=4), "quick": dict(steps=20), "full": dict(steps=100)}

    def build(self):
        w = self.config.width
        return {"net": nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2, 3, padding=1), nn.Tanh())}

    def loss(self, L, ab):
        return F.l1_loss(self.nets["net"](L), ab)

    def predict(self, L, noise):
        return self.nets["net"](L)


@colorbench.hookimpl
def register_colorizers(register):
    register(TintNet)
'''


def test_a_plugin_package_with_a_network_and_a_loss_alone_trains_and_scores(tmp_path):
    package = one_module_package(tmp_path / "colorbench-tint-net", "colorbench_tint_net", MODULE)
    env = pip_install(package, tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-m", "colorbench", "run", "--plugin", "tint_net", "--profile", "smoke", "--size", "16",
         "--no-baseline", "--out", str(tmp_path / "results"), "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["plugin"]["distribution"]["name"] == "colorbench-tint-net"
    training = result["training"]
    assert training["status"] == "ok" and training["steps"] == 4 and training["images_seen"] == 16
    (phase,) = training["phases"]
    assert phase["name"] == "train" and set(phase["final_losses"]) == {"loss"} and phase["final_losses"]["loss"] > 0
    assert result["metrics"]["psnr"] > 0  # scored


OPTIMISATION = re.compile(r"\.backward\(|\.step\(|zero_grad|GradScaler|clip_grad")


def test_no_method_does_its_own_optimisation():
    """backward, zero_grad and optimiser steps are the Trainer's (colorbench/training)."""
    sources = [*ROOT.joinpath("plugins").glob("*.py"), *ROOT.joinpath("colorbench", "methods").glob("*.py")]
    assert len(sources) > 10
    found = [f"{path.name}:{n}" for path in sources for n, line in enumerate(path.read_text().splitlines(), 1) if OPTIMISATION.search(line)]
    assert found == []
