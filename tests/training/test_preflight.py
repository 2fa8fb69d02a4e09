"""Everything a user can get wrong about a run is refused before any work starts:
one line, exit status 2 (1 for unusable data), no traceback, nothing written."""

import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

import colorbench
from colorbench import devices, runner
from colorbench.data import datasets
from colorbench.training import checkpoints, trainer as training
from colorbench.cli.run import MAX_SEED
from colorbench.data.datasets import Dataset, Fixed, RandomCrops
from colorbench.errors import UsageError, UserError
from colorbench.plugins import colorizers, get_colorizer, pm
from colorbench.run_settings import RunSettings
from tests.helpers import Sepia, one_json, write_png
from tests.training.test_training import QUIET, Spiky, SpikyConfig


def refused(result, message: str, out: Path, exit_code: int = 2) -> None:
    assert result.exit_code == exit_code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert message in line, line
    assert "Traceback" not in result.output
    assert not out.exists()  # no checkpoint, training state or result


def run(cli, out, *args):
    return cli("run", "--profile", "smoke", "--size", "16", "--no-baseline", "--out", out, *args)


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_a_non_finite_setting_is_refused_before_training(cli, tmp_path, value):
    result = run(cli, tmp_path / "out", "--plugin", "unet_cgan", "--set", f"l1_weight={value}")
    refused(result, f"--set 'l1_weight={value}': l1_weight takes a finite number, e.g. --set l1_weight=100.0", tmp_path / "out")


def test_a_run_that_really_diverges_writes_its_diverged_result(cli, tmp_path):
    result = run(cli, tmp_path, "--plugin", "unet_cgan", "--set", "ngf=4", "--set", "ndf=4", "--set", "lr=1e30", "--json")
    assert result.exit_code == 1, result.output
    (failed,) = one_json(result)["failed"]
    stored = json.loads(Path(failed["file"]).read_text())
    assert stored["status"] == "diverged" and stored["metrics"] == {} and stored["plugin"]["config"]["lr"] == 1e30


@dataclass
class UnboundedConfig(SpikyConfig):
    clip: float = math.inf  # a default no result file could hold


class Unbounded(Spiky):
    name = "unbounded_test"
    Config = UnboundedConfig


def test_a_config_no_result_could_hold_is_refused_before_training(tmp_path):
    data = datasets.load("builtin", size=16)
    with pytest.raises(UserError, match="unbounded_test's config cannot be recorded in a result"):
        runner.run(Unbounded, data, RunSettings(profile="smoke", out_dir=tmp_path), console=QUIET)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "plugin, setting, message",
    [
        ("sagan", "pretrain_betas=0.5", "pretrain_betas takes 2 finite numbers separated by commas, e.g. --set pretrain_betas=0.9,0.99"),
        ("sagan", "pretrain_betas=0.5,x", "pretrain_betas takes 2 finite numbers"),
        ("sagan", "feature_weights={relu3_3: 1}", "feature_weights takes a JSON object of texts to finite numbers"),
        ("sagan", 'feature_weights={"relu3_3": Infinity}', "feature_weights takes a JSON object"),
        ("unet_cgan", "steps=1.5", "steps takes a whole number"),
        ("unet_cgan", "ngf=", "ngf takes a whole number"),
        ("pretrained_g_gan", "steps=1", "pretrained_g_gan's steps is derived (pretrain_steps + gan_steps): set those"),
        ("sagan", "steps=1", "sagan's steps is derived (pretrain_steps + cycles x (critic_steps + gan_steps)): set those"),
        ("unet_cgan", "lambda=3", "unet_cgan has no setting 'lambda'"),
        ("unet_cgan", "ngf=0", "unet_cgan cannot work with ngf=0 at 16x16: RuntimeError"),
        ("unet_cgan", "ngf=-1", "unet_cgan cannot be built at 16x16 with ngf=-1"),
        ("unet_cgan", "lr=-1", "unet_cgan cannot work with lr=-1.0 at 16x16: ValueError: Invalid learning rate"),
        ("sagan", "pretrain_betas=0.5,1.5", "sagan cannot work with pretrain_betas=0.5,1.5"),
        ("sagan", 'feature_weights={"relu9_9": 1}', "KeyError: 'relu9_9'"),
        ("unet_cgan", "batch_size=0", "batch_size must be at least 1"),
        ("unet_cgan", "steps=-1", "steps cannot be negative (phase train -1)"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_before_training(cli, tmp_path, plugin, setting, message):
    refused(run(cli, tmp_path / "out", "--plugin", plugin, "--set", setting), message, tmp_path / "out")


def test_settings_are_parsed_by_their_declared_type():
    sagan = get_colorizer("sagan")
    parsed = sagan.parse_overrides(["pretrain_betas=0.5,0.9", 'feature_weights={"relu3_3": 1}', "cycles=2", "l1_weight=2"])
    assert parsed == {"pretrain_betas": (0.5, 0.9), "feature_weights": {"relu3_3": 1.0}, "cycles": 2, "l1_weight": 2.0}
    model = sagan.from_profile("smoke", size=16, **parsed)
    assert model.config.pretrain_betas == (0.5, 0.9) and model.config.steps == 2 + 2 * (2 + 2)
    assert get_colorizer("unet_cgan").parse_overrides(["z_dim=0"]) == {"z_dim": 0}


def test_from_profile_refuses_a_derived_setting_and_an_unknown_profile():
    gan = get_colorizer("pretrained_g_gan")
    with pytest.raises(UsageError, match=r"steps is derived \(pretrain_steps \+ gan_steps\)"):
        gan.from_profile("smoke", size=16, steps=1)
    with pytest.raises(UsageError, match="unknown profile 'smok'; did you mean smoke"):
        gan.from_profile("smok", size=16)
    with pytest.raises(UsageError, match="l1_weight takes a finite number, not nan"):
        gan.from_profile("smoke", size=16, l1_weight=float("nan"))
    get_colorizer("gray").from_profile("full", size=16)  # nothing to train: every profile is the same


# ------------------------------------------------------------------ sizes and data
@pytest.mark.parametrize("plugin", ["gray", "unet_cgan"])
def test_a_size_the_builtin_photos_cannot_give_is_refused(cli, tmp_path, plugin):
    result = cli("run", "--plugin", plugin, "--size", "512", "--out", tmp_path / "out")
    refused(result, "--size 512 is too large for the builtin dataset", tmp_path / "out")
    assert "sizes 16 to 256" in result.stderr


def test_cifar10_is_never_enlarged(cli, tmp_path):
    result = cli("run", "--plugin", "gray", "--dataset", "cifar10:subset-6k", "--size", "64", "--out", tmp_path / "out")
    refused(result, "--size 64 is larger than CIFAR-10's 32x32 images, which would be enlarged; use --size 32 or 16", tmp_path / "out")


def test_the_largest_builtin_size_gives_every_crop():
    data = datasets.load("builtin", size=256)
    assert len(data.test) > 0
    assert all(crop.shape == (3, 256, 256) for crop in (data.train[i] for i in range(len(data.train.images))))


def test_a_size_larger_than_most_folder_images_is_refused(cli, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        write_png(tmp_path / "data" / f"{i}.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    result = cli("run", "--plugin", "gray", "--dataset", f"folder:{tmp_path / 'data'}", "--size", "64", "--out", tmp_path / "out")
    refused(result, "--size 64 is larger than most images", tmp_path / "out")
    assert "use --size 32 or less" in result.stderr
    assert datasets.load(f"folder:{tmp_path / 'data'}", size=32).size == 32


def _no_test_images(arg, *, size, data_dir, seed):
    return Dataset("no_test", 16, RandomCrops([torch.rand(3, 32, 32)], 16), Fixed([]))


class NoTestImages:
    @colorbench.hookimpl
    def register_datasets(self, register):
        register("no_test", _no_test_images, "a dataset with nothing to score (test plugin)")


def test_a_dataset_with_no_test_images_is_refused_before_training(cli, tmp_path):
    pm.register(NoTestImages(), name="no_test_images")
    try:
        result = cli("run", "--plugin", "unet_cgan", "--dataset", "no_test", "--out", tmp_path / "out")
    finally:
        pm.unregister(name="no_test_images")
    refused(result, "no_test has no test images at 16x16: nothing to score", tmp_path / "out", exit_code=1)


def _broken_test_set(arg, *, size, data_dir, seed):
    test = {"mixed": [("a", torch.rand(3, 16, 16)), ("b", torch.rand(3, 20, 20))], "flat": [("a", torch.rand(16, 16))],
            "bytes": [("a", torch.zeros(3, 16, 16, dtype=torch.uint8))]}[arg]
    return Dataset("broken", 16, RandomCrops([torch.rand(3, 32, 32)], 16), Fixed(test))


class BrokenTestSet:
    @colorbench.hookimpl
    def register_datasets(self, register):
        register("broken", _broken_test_set, "a dataset plugin whose test images are not what scoring reads (test plugin)")


@pytest.mark.parametrize(
    "kind, message",
    [
        ("mixed", "broken's test images cannot be read as a batch (RuntimeError: stack expects each tensor to be equal size"),
        ("flat", "dataset broken's test images are torch.float32 (16, 16), not float RGB tensors (3, 16, 16): a bug in its plugin"),
        ("bytes", "dataset broken's test images are torch.uint8 (3, 16, 16), not float RGB tensors"),
    ],
)
def test_a_dataset_plugin_whose_test_images_cannot_be_scored_is_one_line(cli, tmp_path, kind, message):
    pm.register(BrokenTestSet(), name="broken_test_set")
    try:
        result = cli("run", "--plugin", "unet_cgan", "--profile", "smoke", "--dataset", f"broken:{kind}", "--out", tmp_path / "out")
    finally:
        pm.unregister(name="broken_test_set")
    refused(result, message, tmp_path / "out", exit_code=1)


# ------------------------------------------------------------------ flags
@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--plugin", "gray", "--seed", "-1"], "Invalid value for '--seed'"),
        (["run", "--plugin", "gray", "--seed", str(MAX_SEED + 1)], "Invalid value for '--seed'"),
        (["colorize", "in.png", "--plugin", "gray", "--seed", "-1"], "Invalid value for '--seed'"),
        (["colorize", "in.png", "--plugin", "gray", "--seed", str(2**64)], "Invalid value for '--seed'"),
        (["run", "--plugin", "gray", "--samples", "0"], "Invalid value for '--samples'"),
        (["run", "--plugin", "gray", "--checkpoint-every", "-1"], "Invalid value for '--checkpoint-every'"),
        (["run", "--plugin", "gray", "--size", str(2**70 + 1)], "is not a power of two"),
    ],
)
def test_numeric_flags_out_of_range_are_refused(cli, tmp_path, args, message):
    refused(cli(*args, "--out", tmp_path / "out"), message, tmp_path / "out")


def test_the_largest_seed_is_one_numpy_takes():
    training.seed_everything(MAX_SEED)


# ------------------------------------------------------------------ devices, batches, memory
@pytest.mark.parametrize(
    "device, message",
    [
        ("meta", "--device meta: colorbench runs on cpu, cuda, cuda:N or mps (or auto), not on meta"),
        ("xla", "not on xla"),
        ("cpu:1", "--device cpu:1: there is one cpu device; use --device cpu"),
        ("mps:1", "there is one mps device"),
        ("", "--device '' is not a device"),
    ],
)
def test_a_device_colorbench_cannot_run_on_is_refused(cli, tmp_path, device, message):
    refused(run(cli, tmp_path / "out", "--plugin", "gray", "--device", device), message, tmp_path / "out")


@settings(max_examples=50, deadline=None)
@given(name=st.text(max_size=12) | st.sampled_from(["cpu", "cpu:0", "cuda", "cuda:1", "mps", "meta", "xla:0", "hpu", "ipu", "vulkan"]))
def test_pick_gives_a_device_colorbench_runs_on_or_a_usage_error(name):
    try:
        device = devices.pick(name)
    except UsageError as e:
        assert "\n" not in str(e)
        return
    assert device.type in ("cpu", "cuda", "mps") and (device.type == "cuda" or device.index is None)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data-dir", "{tmp}/in"], "--data-dir is not read by the builtin dataset"),
        (["--dataset", "folder:{tmp}/in", "--data-dir", "{tmp}/in"], "--data-dir is not read by folder:PATH"),
        (["--dataset", "cifar10", "--data-dir", "{tmp}/file"], "--data-dir {tmp}/file is a file; pass the folder"),
    ],
)
def test_a_data_dir_nothing_reads_is_refused(cli, tmp_path, args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "file").write_text("not a folder")
    result = run(cli, tmp_path / "out", "--plugin", "gray", *[a.format(tmp=tmp_path) for a in args])
    refused(result, message.format(tmp=tmp_path), tmp_path / "out")


def test_a_batch_larger_than_the_training_set_is_refused_before_training(cli, tmp_path):
    data = datasets.load("builtin", size=16)
    refused(run(cli, tmp_path / "out", "--plugin", "unet_cgan", "--set", f"batch_size={len(data.train) + 1}"),
            f"unet_cgan's batch_size {len(data.train) + 1} (profile smoke) is more than the {len(data.train)} training items of builtin",
            tmp_path / "out")
    runner.check(get_colorizer("unet_cgan"), data, RunSettings(profile="smoke", overrides={"batch_size": len(data.train)}))
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 1)):
        for i in range(n):
            write_png(tmp_path / "data" / split / f"{i}.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    small = cli("run", "--plugin", "unet_cgan", "--profile", "quick", "--dataset", f"folder:{tmp_path / 'data'}", "--out", tmp_path / "out")
    refused(small, "unet_cgan's batch_size 16 (profile quick) is more than the 4 training items", tmp_path / "out", exit_code=1)


def test_a_model_too_large_to_train_in_free_memory_is_refused(cli, tmp_path, monkeypatch):
    assert devices.free_memory(torch.device("cpu")) is None or devices.free_memory(torch.device("cpu")) > 0
    monkeypatch.setattr(devices, "free_memory", lambda device: 8 * 2**20)  # a machine with 8 MiB free
    result = run(cli, tmp_path / "out", "--plugin", "unet_cgan", "--set", "ngf=8")  # its samples fit: 1.7 MiB
    refused(result, "unet_cgan (", tmp_path / "out")
    assert "with ngf=8) needs at least" in result.stderr and "GiB to train (8 floats per parameter); cpu has 0.0 GiB free" in result.stderr
    assert run(cli, tmp_path / "out", "--plugin", "gray").exit_code == 0  # nothing to train: nothing to hold


def test_more_samples_than_memory_holds_are_refused_before_training(cli, tmp_path):
    result = run(cli, tmp_path / "out", "--plugin", "unet_cgan", "--samples", str(10**7))
    refused(result, f"{10**7} samples per test image (--samples) of unet_cgan take about", tmp_path / "out")
    assert "for a batch of 24 test images at 16x16" in result.stderr and "ask for fewer" in result.stderr
    assert run(cli, tmp_path / "out", "--plugin", "gray", "--samples", str(10**7)).exit_code == 0  # one prediction: nothing to hold


def test_a_loss_network_that_cannot_be_had_is_found_before_any_method_trains(cli, tmp_path, monkeypatch):
    from colorbench.weights import backbones as weights

    def missing(name, download=True):
        raise UserError(weights.how_to_get(name))

    monkeypatch.setattr(weights, "features_state_dict", missing)  # offline, nothing cached
    result = run(cli, tmp_path / "out", "--plugin", "unet_cgan,perceptual_cnn")  # unet_cgan would train first
    refused(result, "ImageNet vgg16 weights not found: run `colorbench weights fetch`", tmp_path / "out", exit_code=1)


# ------------------------------------------------------------------ failures no check could foresee
class _Trains(Sepia):
    profiles = {"smoke": dict(steps=4, batch_size=2)}

    calls = 0

    def optimizers(self):
        return {"sgd": torch.optim.SGD(self.nets.parameters(), lr=0.1)}

    def loss(self, L, ab):
        self.calls += 1
        return (self.nets["tint"].weight - 0.5).square().sum()


class FailsScoring(_Trains):
    name = "fails_scoring_test"

    def predict(self, L, noise):
        if len(L) > 1:  # the one blank image of the checks passes: a bug only scoring meets
            raise RuntimeError("a bug in predict\nand its second line")
        return super().predict(L, noise)


class FailsAtStep3(_Trains):
    name = "fails_at_step_3_test"

    def loss(self, L, ab):
        if self.calls == 2:
            raise RuntimeError("out of memory at step 3")
        return super().loss(L, ab)


class Failing:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        register(FailsScoring)
        register(FailsAtStep3)


@pytest.fixture
def failing():
    pm.register(Failing(), name="failing_test_methods")
    yield
    pm.unregister(name="failing_test_methods")


def test_a_failure_after_training_keeps_the_weights_and_writes_nothing_half(cli, tmp_path, failing):
    result = run(cli, tmp_path, "--plugin", "fails_scoring_test", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (failed,) = one_json(result)["failed"]
    message, _, kept = failed["error"].partition("; the trained weights are kept: ")
    assert message == "RuntimeError: a bug in predict" and Path(kept).is_file()
    assert not list(tmp_path.glob("*.json")) and not list((tmp_path / "samples").glob("*"))  # no result, no pictures
    assert checkpoints.load(Path(kept)).name == "fails_scoring_test"


def test_a_failure_during_training_names_the_state_it_resumes_from(cli, tmp_path, failing):
    result = run(cli, tmp_path, "--plugin", "fails_at_step_3_test", "--checkpoint-every", "1", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (failed,) = one_json(result)["failed"]
    assert failed["error"] == "RuntimeError: out of memory at step 3; its last saved training state is kept: --resume continues from it"
    (state,) = (tmp_path / "checkpoints").glob("*-training.json")
    assert checkpoints.read_training_state(state.with_suffix(""))["step"] == 2
    assert not list(tmp_path.glob("*.json"))

    other = run(cli, tmp_path, "--plugin", "fails_at_step_3_test", "--resume", "--seed", "1")  # not how it was started
    run_id = state.name.removesuffix("-training.json")
    assert f"nothing to resume in {tmp_path} for this dataset, profile, seed and config (the unfinished run {run_id} was " \
           "started with seed 0 (not 1)): starting a new run" in " ".join(other.stderr.split())


# ------------------------------------------------------------------ properties
METHODS = sorted(colorizers())


def _conforms(value, kind) -> bool:
    """``value`` is exactly of the declared type ``kind``, every number finite."""
    if kind is float:
        return type(value) is float and math.isfinite(value)
    if kind in (int, bool, str):
        return type(value) is kind
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and args[-1:] == (Ellipsis,):  # tuple[int, ...]: any length
        return type(value) is tuple and all(_conforms(v, args[0]) for v in value)
    if origin is tuple:
        return type(value) is tuple and len(value) == len(args) and all(map(_conforms, value, args))
    if origin is dict:
        return type(value) is dict and all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    raise AssertionError(f"a built-in method declares a setting of type {kind}: teach this test about it")


def _numbers(ints=st.integers()):
    return st.one_of(
        ints.map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "1_000", " 7 ", "0x10", "1e3", "true"]),
    )


def _texts(ints=st.integers()):
    json_values = st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )
    return st.one_of(
        st.text(max_size=20),
        _numbers(ints),
        st.lists(_numbers(ints), max_size=4).map(",".join),
        json_values.map(json.dumps),
        st.dictionaries(st.sampled_from(["relu3_3", "relu4_3", "relu5_3", "x"]), st.floats(), max_size=3).map(json.dumps),
    )


def _typed_text(kind, ints):
    """Text in the form a setting of type ``kind`` takes, with any number in it."""
    number = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.sampled_from(["1e400", "-1e-3", "0.5"])
    if kind is bool:
        return st.sampled_from(["true", "false", "1", "0", "True", "yes"])
    if kind is int:
        return ints.map(str)
    if kind is float:
        return number
    if typing.get_origin(kind) is tuple:
        return st.lists(number, min_size=1, max_size=3).map(",".join)
    if typing.get_origin(kind) is dict:
        weights = st.dictionaries(st.sampled_from(["relu3_3", "relu4_3", "relu5_3", "relu9_9"]), st.floats(), max_size=3)
        return weights.map(json.dumps)
    return st.text(max_size=10)


def _text_for(kind, ints=st.integers()):
    return _typed_text(kind, ints) | _texts(ints)


def _fields(name):
    cls = get_colorizer(name)
    return cls, typing.get_type_hints(cls.Config)


@pytest.mark.parametrize("name", METHODS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_parse_overrides_gives_the_declared_type_or_a_usage_error(name, data):
    cls, kinds = _fields(name)
    key = data.draw(st.sampled_from(sorted(kinds)))
    text = data.draw(_text_for(kinds[key]))
    try:
        parsed = cls.parse_overrides([f"{key}={text}"])
    except UsageError as e:
        assert "\n" not in str(e) and key in str(e)
        return
    assert list(parsed) == [key] and _conforms(parsed[key], kinds[key])


@pytest.mark.parametrize("name", METHODS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_accepted_overrides_build_or_raise_a_user_error(name, data):
    cls, kinds = _fields(name)
    keys = data.draw(st.lists(st.sampled_from(sorted(kinds)), max_size=3, unique=True))
    # widths and depths stay small: a network of a million layers builds for ever, by design
    pairs = [f"{key}={data.draw(_typed_text(kinds[key], ints=st.integers(-2, 12)))}" for key in keys]
    try:
        overrides = cls.parse_overrides(pairs)
    except UsageError:
        event("refused by parse_overrides")
        return
    try:
        model = cls.from_profile("smoke", size=16, **overrides)
    except UserError as e:
        event("refused by from_profile")
        assert "\n" not in str(e)
        return
    event("built")
    for key, value in overrides.items():
        assert getattr(model.config, key) == value
