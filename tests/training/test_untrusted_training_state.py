"""A training state that `run --resume` reads is untrusted input (issue 10): damaged,
hand-edited or from another run, it is refused with one error naming the file and
the field, before any step, and never a crash half-way through restoring it or at
a later step."""

import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from safetensors.torch import load_file, save_file

from colorbench.data import datasets
from colorbench.training import batches, checkpoints, trainer as training
from colorbench.errors import UserError
from colorbench.lab import rgb_to_normalized
from colorbench.plugins import get_colorizer
from tests.reporting.test_untrusted_files import _damaged

NAME = "run-training"


def new_model():
    torch.manual_seed(0)
    return get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=4, ndf=4, z_dim=3)


@pytest.fixture(scope="module")
def dataset():
    return datasets.load("builtin", size=16)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, dataset):
    """A genuine state after one real step, as `training.train` writes it."""
    model = new_model()
    model.nets.train()
    trainer = training.Trainer(model)
    L, ab = rgb_to_normalized(batches.batch_at(dataset.train, model.config.batch_size, 0, 0))
    trainer.step(model.phases()[0], L, ab)
    path = tmp_path_factory.mktemp("state") / NAME
    checkpoints.write_training_state(path, {**trainer.capture(1, []), "run": {"run_id": "x"}})
    return path


def resume(folder: Path, data) -> dict:
    return training.train(
        new_model(), data, seed=0, console=Console(file=io.StringIO()), state_path=folder / NAME, resume=True,
    )


def copy(saved: Path, to: Path) -> Path:
    shutil.copytree(saved.parent, to)
    return to


def tree(folder: Path) -> dict:
    return json.loads((folder / f"{NAME}.json").read_text())


def put(folder: Path, saved: dict) -> None:
    (folder / f"{NAME}.json").write_text(json.dumps(saved))


def tensors_file(folder: Path) -> Path:
    (path,) = folder.glob(f"{NAME}.step*.safetensors")
    return path


def item(node, *keys):
    """A value in the saved JSON tree (dicts are stored as {"__items__": [[k, v]...]})."""
    for key in keys:
        node = dict((k, v) for k, v in node["__items__"])[key] if isinstance(node, dict) else node[key]
    return node


def set_item(node, keys, value):
    parent = item(node, *keys[:-1])
    for pair in parent["__items__"]:
        if pair[0] == keys[-1]:
            pair[1] = value


def retensor(folder: Path, change) -> None:
    path = tensors_file(folder)
    state = load_file(path)
    change(state)
    save_file(state, path)


def test_a_genuine_state_resumes(saved, tmp_path, dataset):
    trained = resume(copy(saved, tmp_path / "s"), dataset)
    assert trained["status"] == "ok" and trained["steps"] == 3


def _step_beyond(folder):
    saved = tree(folder)
    set_item(saved["state"], ["step"], 100)
    tensors_file(folder).rename(folder / f"{NAME}.step100.safetensors")
    saved["tensors"] = f"{NAME}.step100.safetensors"
    put(folder, saved)


def _json(change):
    def damage(folder):
        saved = tree(folder)
        change(saved)
        put(folder, saved)

    return damage


def _first(prefix: str, suffix: str = ""):
    def pick(state):
        return next(k for k in sorted(state) if k.startswith(prefix) and k.endswith(suffix))

    return pick


CASES = {
    "step beyond the run": (_step_beyond, "step: 100 is not a step of this run (0 to 2)"),
    "step as text": (_json(lambda s: set_item(s["state"], ["step"], "1")), "step: '1' is not a step"),
    "tensors elsewhere": (_json(lambda s: s.update(tensors="../../etc/passwd")), "tensors: '../../etc/passwd' is not a"),
    "tensors absolute": (_json(lambda s: s.update(tensors="/etc/passwd")), "tensors: '/etc/passwd' is not a"),
    "tensors of another step": (
        lambda f: (tensors_file(f).rename(f / f"{NAME}.step7.safetensors"), _json(lambda s: s.update(tensors=f"{NAME}.step7.safetensors"))(f)),
        "are not those of the step the state is at (1)",
    ),
    "not an object": (lambda f: (f / f"{NAME}.json").write_text("[1, 2]"), "not a JSON object"),
    "not UTF-8": (lambda f: (f / f"{NAME}.json").write_bytes((f / f"{NAME}.json").read_bytes().replace(b'"run_id"', b'"run_\xe9d"')), "not UTF-8"),
    "state missing": (_json(lambda s: s.pop("state")), "state: Field required"),
    "a tensor missing": (lambda f: retensor(f, lambda t: t.pop("s.rng.torch")), "tensor s.rng.torch is missing"),
    "NaN weights": (lambda f: retensor(f, lambda t: t[_first("s.nets.", "weight")(t)].fill_(float("nan"))), "holds NaN or infinity"),
    "weights of another shape": (lambda f: retensor(f, lambda t: t.update({_first("s.nets.", "weight")(t): torch.zeros(3)})), "of another shape or type"),
    "weights of another type": (lambda f: retensor(f, lambda t: t.update({(k := _first("s.nets.", "weight")(t)): t[k].to(torch.int8)})), "is int8"),
    "Adam's moment of another shape": (lambda f: retensor(f, lambda t: t.update({_first("s.optimizers.", "exp_avg")(t): torch.zeros(2)})), "exp_avg: shape [2]"),
    "a learning rate as text": (_json(lambda s: set_item(s["state"], ["optimizers", "G", "param_groups", 0, "lr"], "fast")), "param_groups.0.lr: 'fast' is not a float"),
    "an optimiser missing": (_json(lambda s: item(s["state"], "optimizers")["__items__"].pop()), "optimizers: not those of unet_cgan"),
    "Python's RNG too short": (_json(lambda s: set_item(s["state"], ["rng", "python"], [3, [1, 2, 3], None])), "rng: not a generator's state"),
    "numpy's RNG too short": (_json(lambda s: set_item(s["state"], ["rng", "numpy"], ["MT19937", [1, 2], 0, 0, 0.0])), "rng: not a generator's state"),
    "torch's RNG too short": (lambda f: retensor(f, lambda t: t.update({"s.rng.torch": t["s.rng.torch"][:100].clone()})), "rng: not a generator's state"),
    "too many remedies": (_json(lambda s: set_item(s["state"], ["remedies"], [{}] * 9)), "remedies: not a list of at most 3"),
    "batches made another way": (_json(lambda s: set_item(s["state"], ["loader"], "workers")), "loader: 'workers': its batches were made in worker processes"),
    "a scheduler it has not": (_json(lambda s: set_item(s["state"], ["schedulers"], {"__items__": [["G", {"__items__": []}]]})), "schedulers: not those of unet_cgan (none)"),
    "a scaler it has not": (_json(lambda s: set_item(s["state"], ["scaler"], {"__items__": [["scale", 1.0]]})), "scaler: not its state (none)"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_state_is_refused_naming_the_file_and_field(saved, tmp_path, dataset, case):
    damage, words = CASES[case]
    folder = copy(saved, tmp_path / "s")
    damage(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(UserError) as refused:
        resume(folder, dataset)
    message = str(refused.value)
    assert message.startswith(f"cannot resume from {folder / NAME}.json: ") and words in message, message
    assert message.endswith("delete it to start afresh") and "\n" not in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing removed or rewritten


@pytest.mark.parametrize("text", [b"{", b"[1]", b'{"state": 3, "tensors": "x"}', b"\xff\xfe", b"[" * 50_000])
def test_a_damaged_state_is_never_passed_over_when_looking_for_one_to_resume(tmp_path, text):
    """`run --resume` reads every state's run record: an unreadable one is named,
    not skipped (which would start the run afresh, saying nothing is there)."""
    path = tmp_path / f"{NAME}.json"
    path.write_bytes(text)
    with pytest.raises(UserError, match=f"cannot resume from {path}: .*delete it to start afresh"):
        checkpoints.read_training_run(path)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_damage_to_the_state_json_resumes_or_is_refused_naming_it(saved, dataset, data):
    """A key dropped, a value of another type, huge, negative or NaN-like, the file
    cut short: resuming either runs to the end or raises one UserError naming the
    file, before a step; never another exception."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy(saved, Path(tmp) / "s")
        path = folder / f"{NAME}.json"
        path.write_text(_damaged(data, path.read_text()))
        try:
            trained = resume(folder, dataset)
        except UserError as e:
            assert str(e).startswith(f"cannot resume from {path}: "), str(e)
        else:
            assert trained["status"] in ("ok", "diverged")

