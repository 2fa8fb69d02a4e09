"""Every registered colourizer, built-in or not, passes the same checks (as timm tests
every registered model): it trains at the smoke profile, is scored, round-trips
through its checkpoint, and a stochastic one gives different samples for different noise."""

import math

import pytest
import torch

from colorbench import plugins
from colorbench.training import checkpoints
from tests.helpers import one_json

METHODS = sorted(plugins.colorizers())


def test_the_seven_seed_methods_and_gray_are_registered():
    assert {"gray", "encdec_gan", "unet_gan", "unet_cgan", "pretrained_g_gan", "sagan", "perceptual_cnn", "histogram_cgan"} <= set(METHODS)
    for cls in plugins.colorizers().values():
        assert cls.description and cls.paper
        assert set(cls.profiles) in ({"smoke", "quick", "full"}, set()), cls.name  # set(): nothing to train (gray)


@pytest.mark.parametrize("name", METHODS)
def test_smoke_run_scores_and_round_trips(name, cli, tmp_path):
    result = cli("run", "--plugin", name, "--profile", "smoke", "--size", "32", "--out", tmp_path, "--no-baseline", "--json")
    assert result.exit_code == 0, result.output
    (run,) = one_json(result)["results"]
    assert run["plugin"]["name"] == name
    assert all(math.isfinite(v) for v in run["metrics"].values())
    cls = plugins.get_colorizer(name)
    if run["checkpoint"] is None:
        assert not cls(size=32).n_parameters()  # only a method with nothing to learn saves nothing
        return
    model = checkpoints.load(run["checkpoint"]["path"])
    again = checkpoints.load(run["checkpoint"]["path"])
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    reference = torch.rand(2, 2, 32, 32) * 2 - 1 if cls.hint else None
    first = model.colorize(L, n_samples=2, seed=0, reference=reference)
    assert first.shape == (2, 2, 2, 32, 32) and first.abs().max() <= 1
    assert torch.equal(first, again.colorize(L, n_samples=2, seed=0, reference=reference))
    if cls.stochastic:
        other = model.colorize(L, n_samples=2, seed=1, reference=reference)
        assert (first[0] - first[1]).abs().max() > 0  # samples differ...
        assert (first - other).abs().max() > 0  # ...and depend on the noise seed
