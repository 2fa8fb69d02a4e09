"""A run's settings are one typed object (`RunSettings`) that the CLI builds once."""

from pathlib import Path

import pytest

from colorbench.errors import UsageError
from colorbench.run_settings import Checkpoint, Published, RunSettings
from tests.helpers import one_json


@pytest.mark.parametrize("weights", [Checkpoint(Path("m.safetensors")), Published("v1"), Published(None, Path("w.safetensors"))])
def test_loading_weights_goes_with_neither_resume_nor_set(weights):
    with pytest.raises(UsageError, match="--resume continues an unfinished training"):
        RunSettings(resume=True, weights=weights)
    with pytest.raises(UsageError, match="--set changes a method's config"):
        RunSettings(overrides={"ngf": 4}, weights=weights)
    assert RunSettings(weights=weights).weights == weights


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        RunSettings().seed = 1


def test_workers_and_precision_reach_the_trainer(cli, tmp_path):
    result = cli(
        "run", "--plugin", "unet_cgan", "--profile", "smoke", "--size", 16, "--set", "ngf=4", "--set", "ndf=4", "--no-baseline",
        "--workers", 1, "--out", tmp_path / "out", "--json",
    )
    assert result.exit_code == 0, result.output
    training = one_json(result)["results"][0]["training"]
    assert training["loader"]["workers"] == 1 and training["precision"] == "fp32"
