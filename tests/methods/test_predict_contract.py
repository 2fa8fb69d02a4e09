"""A method whose `predict` breaks the contract (ab for each L: a floating tensor
(B, 2, H, W) on L's device) is told so by name and expected shape, not by a
broadcasting error deep in scoring."""

import re

import numpy as np
import pytest
import torch

import colorbench
from colorbench import plugins
from colorbench.errors import UserError
from tests.helpers import Sepia, write_png

WRONG = {
    "three channels": (lambda L: torch.zeros(len(L), 3, *L.shape[2:]), r"returned shape \(4, 3, 16, 16\); expected \(4, 2, 16, 16\)"),
    "no batch axis": (lambda L: torch.zeros(2, *L.shape[2:]), r"returned shape \(2, 16, 16\); expected \(4, 2, 16, 16\)"),
    "half size": (lambda L: torch.zeros(len(L), 2, 8, 8), r"returned shape \(4, 2, 8, 8\); expected \(4, 2, 16, 16\)"),
    "one image": (lambda L: torch.zeros(1, 2, *L.shape[2:]), r"returned shape \(1, 2, 16, 16\); expected \(4, 2, 16, 16\)"),
    "integers": (lambda L: torch.zeros(len(L), 2, *L.shape[2:], dtype=torch.int64), r"returned a torch.int64 tensor; expected a floating one"),
    "numpy": (lambda L: np.zeros((len(L), 2, *L.shape[2:]), np.float32), r"returned a ndarray; expected a floating tensor of shape \(4, 2, 16, 16\)"),
}


def wrong_method(make):
    """A parameter-free method (colourizes without a checkpoint) whose predict gives ``make(L)``."""

    class Wrong(Sepia):
        name = "wrong_shape_test"

        def build(self):
            return {}

        def predict(self, L, noise):
            return make(L)

    return Wrong


@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_prediction_is_named_with_the_expected_shape(case, stochastic):
    make, message = WRONG[case]
    method = type("Wrong", (wrong_method(make),), {"stochastic": stochastic})(size=16)
    with pytest.raises(UserError, match=r"^method wrong_shape_test's predict " + message + r": ab for each L \(see CONTRIBUTING.md\)$"):
        method.colorize(torch.zeros(4, 1, 16, 16), n_samples=2)


def test_a_prediction_on_another_device_is_refused():
    meta = wrong_method(lambda L: torch.zeros(len(L), 2, *L.shape[2:], device="meta"))(size=16)
    with pytest.raises(UserError, match=r"returned a tensor on meta; expected one on L's device, cpu"):
        meta.colorize(torch.zeros(4, 1, 16, 16))


def test_a_right_prediction_passes_in_any_floating_type():
    method = wrong_method(lambda L: torch.zeros(len(L), 2, *L.shape[2:], dtype=torch.float64))(size=16)
    assert method.colorize(torch.zeros(3, 1, 8, 8), n_samples=2).shape == (2, 3, 2, 8, 8)


@pytest.fixture
def three_channel_plugin():
    class Registers:
        @colorbench.hookimpl
        def register_colorizers(self, register):
            register(wrong_method(WRONG["three channels"][0]))

    plugins.pm.register(Registers(), name="wrong_shape_test")
    yield
    plugins.pm.unregister(name="wrong_shape_test")


def _said(result, words: str) -> list[str]:
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if words in line]


def test_colorize_and_run_say_which_method_broke_the_contract(cli, three_channel_plugin, tmp_path):
    image = write_png(tmp_path / "in" / "a.png", np.full((16, 16, 3), 128, np.uint8))
    result = cli("colorize", image, "--plugin", "wrong_shape_test", "--out", tmp_path / "out")
    assert result.exit_code == 1
    (line,) = _said(result, "predict returned")
    assert "method wrong_shape_test's predict returned shape (1, 3, 256, 256); expected (1, 2, 256, 256)" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

    result = cli("run", "--plugin", "wrong_shape_test", "--profile", "smoke", "--out", tmp_path / "results", "--no-baseline")
    assert result.exit_code == 1
    (line,) = _said(result, "predict returned")
    # found by run's check before any training, so nothing is trained for nothing
    assert re.search(r"method wrong_shape_test's predict returned shape \((\d+), 3, (\d+), \2\); expected \(\1, 2, \2, \2\)", line)
