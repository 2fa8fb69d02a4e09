import json

import pytest
import torch

from colorbench.training import checkpoints
from colorbench.errors import UsageError, UserError
from colorbench.plugins import get_colorizer


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=4, ndf=4, z_dim=3)
    path, digest = checkpoints.save(model, tmp_path / "model", dataset="builtin")
    return model, path


def test_round_trip_gives_the_same_colours(saved):
    model, path = saved
    loaded = checkpoints.load(path)
    assert loaded.config == model.config and loaded.size == 16
    L = torch.rand(2, 1, 16, 16) * 2 - 1
    assert torch.equal(model.colorize(L, seed=3), loaded.colorize(L, seed=3))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["plugin"] == "unet_cgan" and meta["dataset"] == "builtin"


def test_wrong_plugin_is_refused(saved):
    with pytest.raises(UsageError, match="made by plugin 'unet_cgan', not 'gray'"):
        checkpoints.load(saved[1], plugin="gray")


def test_weights_that_do_not_fit_the_config_are_refused(saved):
    _, path = saved
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["config"]["ngf"] = 8
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="does not match plugin unet_cgan"):
        checkpoints.load(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.with_suffix(".json").unlink(), "is missing"),
        (lambda p: p.with_suffix(".json").write_text("{"), "is not valid JSON"),
        (lambda p: p.write_bytes(b"\x00" * 20), "not a readable safetensors file"),
        (lambda p: p.unlink(), "not found"),
    ],
)
def test_damaged_checkpoints_give_one_clear_error(saved, damage, message):
    _, path = saved
    damage(path)
    with pytest.raises(UserError, match=message):
        checkpoints.load(path)


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_checkpoint_carrying_a_pickle_payload_is_refused_and_never_runs(saved, tmp_path, kind):
    import pickle

    _, path = saved
    marker = tmp_path / "pwned"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"G.weight": Payload(marker)}))
    else:
        torch.save({"G.weight": Payload(marker)}, path)
    with pytest.raises(UserError, match="not a readable safetensors file"):
        checkpoints.load(path)
    assert not marker.exists()


def test_a_pickle_checkpoint_by_name_is_refused(tmp_path):
    with pytest.raises(UsageError, match="not a .safetensors file"):
        checkpoints.load(tmp_path / "model.pth")
