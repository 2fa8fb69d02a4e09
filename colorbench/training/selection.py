"""Held-out model selection: train on most of the training images, keep the model
that does best on the rest.

A method opts in with ``select_every`` > 0 in its config and a
`colorbench.methods.colorizer.Colorizer.selection_loss` (Zhu's "the model with the
lowest L1 error"). Whole training images are held out (`batches.held_out_split`:
never a test image); every ``select_every`` steps of a selectable phase, and at
its end, the mean selection loss over the held-out items is measured in eval mode
without gradients, with the same noise each time; the lowest one's weights are
kept and put back when training ends. Every draw here has its own seeded
generator, so a method that does not select trains exactly as before.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch.utils.data import Subset

from colorbench.data.datasets import Dataset
from colorbench.errors import UserError
from colorbench.lab import rgb_to_normalized
from colorbench.methods.colorizer import Colorizer, Phase
from colorbench.training import batches, state_dicts

_NOISE = 2**40 + 3  # the key of the selection's noise seed (`batches.derived_seed`)


def every(colorizer: Colorizer) -> int:
    """The method's ``select_every`` (0 when its config has none). ValueError for a
    negative one, or a positive one without a `Colorizer.selection_loss`."""
    steps = getattr(colorizer.config, "select_every", 0)
    if type(steps) is not int or steps < 0:
        raise ValueError(f"select_every must be a whole number of steps, 0 or more (0: no selection), not {steps!r}")
    if steps and type(colorizer).selection_loss is Colorizer.selection_loss:
        raise ValueError(f"{colorizer.name} has select_every {steps} but no selection_loss to select by")
    return steps


def criterion(colorizer: Colorizer) -> str:
    """What the method selects by: the first line of its selection_loss's docstring."""
    doc = inspect.getdoc(type(colorizer).selection_loss)
    return doc.splitlines()[0] if doc else f"{colorizer.name}'s selection_loss"


class Selection:
    """The held-out split of ``data``'s training items for ``colorizer``, the
    evaluations so far and the best model's weights (on the CPU)."""

    def __init__(self, colorizer: Colorizer, data: Dataset, seed: int):
        self.colorizer, self.every, self.seed = colorizer, every(colorizer), seed
        try:
            kept, self.held_out = batches.held_out_split(data.train, seed)
        except ValueError as e:
            raise UserError(
                f"{colorizer.name} keeps the model that does best on held-out training images (select_every {self.every}), "
                f"and {data.name} has {e}: add training images, or --set select_every=0"
            ) from None
        self.train = Subset(data.train, kept)  # what training draws its batches from
        self.images = len({batches.source_of(data.train, i) for i in self.held_out})
        self.dataset = data.train
        self.evaluated: list[list] = []  # [step, mean loss or None when not finite]
        self.best: dict | None = None  # {"step", "value", "nets"}

    def due(self, phase: Phase, done: int) -> bool:
        """Whether the model is evaluated after ``done`` steps of ``phase``."""
        return phase.selectable and done > 0 and (done % self.every == 0 or done == phase.steps)

    @torch.no_grad()
    def evaluate(self, step: int) -> float:
        """The held-out mean selection loss of the model now, after ``step`` steps,
        recorded; the model's weights kept when it is the lowest so far."""
        colorizer = self.colorizer
        modes = [(m, m.training) for m in colorizer.nets.modules()]
        colorizer.nets.eval()
        try:
            noise = torch.Generator(device=colorizer.device).manual_seed(batches.derived_seed(self.seed, _NOISE))
            total = 0.0
            for rgb in batches.held_out_batches(self.dataset, self.held_out, colorizer.config.batch_size, self.seed):
                L, ab = rgb_to_normalized(rgb.to(colorizer.device))
                total += float(colorizer.selection_loss(L, ab, noise)) * len(rgb)
        finally:
            for module, mode in modes:
                module.train(mode)
        value = total / len(self.held_out)
        finite = math.isfinite(value)
        self.evaluated.append([step, value if finite else None])
        if finite and (self.best is None or value < self.best["value"]):
            nets = {k: v.detach().cpu().clone() for k, v in colorizer.nets.state_dict().items()}
            self.best = {"step": step, "value": value, "nets": nets}
        return value

    def finish(self) -> None:
        """Put the best model's weights in place (none evaluated: the last stay)."""
        if self.best is not None:
            self.colorizer.nets.load_state_dict(self.best["nets"])

    def record(self) -> dict:
        """What the result records: how the model was chosen, and which one was
        (``step``: after how many training steps, of every phase, it was measured)."""
        best = self.best or {"step": None, "value": None}
        return {
            "criterion": criterion(self.colorizer),
            "every": self.every,
            "held_out": {"images": self.images, "items": len(self.held_out)},
            "step": best["step"],
            "value": best["value"],
            "evaluated": [list(e) for e in self.evaluated],
        }

    # ------------------------------------------------------------ resume
    def state(self) -> dict:
        """What a training state holds of the selection (copied by the Trainer)."""
        return {"held_out": list(self.held_out), "evaluated": [list(e) for e in self.evaluated], "best": self.best}

    def restore(self, state: dict) -> None:
        self.evaluated = [list(e) for e in state["evaluated"]]
        best = state["best"]
        self.best = None if best is None else {"step": best["step"], "value": best["value"], "nets": dict(best["nets"])}

    def check_state(self, state) -> None:
        """ValueError ("selection.field: what is wrong") unless ``state`` is one this
        selection saved: the same held-out items, evaluations of steps, best weights
        that fit the networks."""
        if not isinstance(state, dict):
            raise ValueError("selection: not a held-out model selection's state")
        if state.get("held_out") != self.held_out:
            raise ValueError("selection.held_out: not the training images this run holds out (another dataset or seed?)")
        evaluated = state.get("evaluated")
        if not isinstance(evaluated, list) or not all(
            isinstance(e, list) and len(e) == 2 and type(e[0]) is int and (e[1] is None or _finite(e[1])) for e in evaluated
        ):
            raise ValueError("selection.evaluated: not a list of [step, held-out loss]")
        best = state.get("best")
        if best is None:
            return
        if not isinstance(best, dict) or type(best.get("step")) is not int or not _finite(best.get("value")):
            raise ValueError("selection.best: not a step and its held-out loss")
        nets = best.get("nets")
        if not isinstance(nets, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in nets.items()):
            raise ValueError("selection.best.nets: not a set of weights")
        if problems := state_dicts.differences(self.colorizer.nets.state_dict(), nets):
            raise ValueError(f"selection.best.nets: weights {'; '.join(problems)}")
        if name := state_dicts.non_finite(nets):
            raise ValueError(f"selection.best.nets.{name}: holds NaN or infinity")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
