"""xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: <one line on the method>.

Follows: <the paper: authors, year, title, and the sections this implements>.
Defaults taken from it: <learning rate, batch size, loss weights... and where each is stated>.
Changed, and why: <anything that differs from the paper>.

The starting point below is a small CNN trained with L1 on ab: replace its
network, loss and profiles with your method's. colorbench gives `train_step`
batches of normalised Lab (L in [-1, 1] of shape (B, 1, S, S), ab in [-1, 1] of
shape (B, 2, S, S)) and scores whatever `predict` returns, the same way as for
every other method.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import colorbench
from colorbench.colorizer import Colorizer, TrainConfig


@dataclass
class Config(TrainConfig):
    width: int = 32  # channels of the hidden layers
    lr: float = 1e-3  # Adam


class Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx(Colorizer):
    name = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    description = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: a small CNN trained with L1 on ab (replace with your method)"
    paper = "<authors, year, title, sections>"
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

    def setup_training(self):
        self.optimizer = torch.optim.Adam(self.nets.parameters(), lr=self.config.lr)

    def train_step(self, L, ab):
        loss = F.l1_loss(self.nets["net"](L), ab)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"L1": loss.item()}

    def predict(self, L, noise):
        return self.nets["net"](L)


@colorbench.hookimpl
def register_colorizers(register):
    register(Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)
