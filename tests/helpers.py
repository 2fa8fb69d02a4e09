"""Helpers the tests share (fixtures are in conftest.py)."""

import json
from pathlib import Path

import torch

import colorbench
from colorbench.colorizer import Colorizer


def one_json(result) -> dict:
    """The single JSON object a --json command must print on stdout."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


class Sepia(Colorizer):
    """A throwaway method: a constant warm tint, learned as one parameter."""

    name = "sepia_test"
    description = "constant sepia tint (test plugin)"
    paper = "none: a test"

    def build(self):
        return {"tint": torch.nn.Linear(1, 2, bias=False)}

    def predict(self, L, noise):
        tint = self.nets["tint"].weight.view(1, 2, 1, 1).tanh()
        return tint.expand(len(L), 2, *L.shape[2:])


class SepiaPlugin:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        register(Sepia)


def write_png(path: Path, array) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
