"""Mixed precision and channels-last on the CPU: fp16's gradient scaler is part of
the saved training state, and channels-last trains the same networks (float
rounding) and leaves them as they were built. (torch.compile takes about a
minute to compile even a tiny network on a CPU: not tested here.)"""

import pytest
import torch
from rich.console import Console

from colorbench import plugins
from colorbench.lab import rgb_to_normalized
from colorbench.training import checkpoints, trainer as training

QUIET = Console(quiet=True)


def _unet_cgan(**overrides):
    training.seed_everything(0)
    return plugins.get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=4, ndf=4, dropout=0.0, **overrides)


def _batch():
    return rgb_to_normalized(torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)))


def test_fp16_keeps_its_gradient_scaler_in_the_training_state(tmp_path):
    model = _unet_cgan()
    trainer = training.Trainer(model, precision="fp16")
    assert trainer.scaler is not None and trainer.scaler.is_enabled()  # fp16 without scaling underflows, on the CPU too
    phase = model.phases()[0]
    for _ in range(3):
        trainer.step(phase, *_batch())
    before = trainer.scaler.state_dict()
    assert before["scale"] < 2.0**16  # backed off from its start (G's 100 x L1 overflows fp16): what a resume must keep
    checkpoints.write_training_state(tmp_path / "t", trainer.capture(3, []))

    again = _unet_cgan()
    resumed = training.Trainer(again, precision="fp16")
    saved = checkpoints.read_training_state(tmp_path / "t")
    resumed.check_state(saved, total=10)
    resumed.restore(saved)
    assert resumed.scaler.state_dict() == before
    trainer.step(phase, *_batch())
    resumed.step(again.phases()[0], *_batch())
    assert all(torch.equal(a, b) for a, b in zip(model.nets.state_dict().values(), again.nets.state_dict().values()))


def test_channels_last_trains_the_same_networks_and_leaves_them_as_built(data):
    plain, fast = _unet_cgan(), _unet_cgan()
    log = training.train(plain, data, seed=0, console=QUIET)
    fast_log = training.train(fast, data, seed=0, console=QUIET, channels_last=True, precision="bf16")
    assert (log["channels_last"], fast_log["channels_last"], fast_log["precision"], fast_log["world_size"]) == (False, True, "bf16", 1)
    assert not fast_log["compile"]
    for name, weight in fast.nets.named_parameters():
        assert weight.is_contiguous(), f"{name} left in channels-last"

    fp32_cl = _unet_cgan()
    training.train(fp32_cl, data, seed=0, console=QUIET, channels_last=True)
    for (name, a), b in zip(plain.nets.state_dict().items(), fp32_cl.nets.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=lambda m: f"{name}: {m}")


@pytest.fixture(scope="module")
def data():
    from colorbench.data import datasets

    return datasets.load("builtin", size=16, seed=0)
