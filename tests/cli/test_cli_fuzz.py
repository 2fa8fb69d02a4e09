"""Fuzz the command line: every command, driven with generated arguments and
generated damaged files, answers with exit status 0, 1 or 2, never a traceback
(without --debug), and never changes a file it was given.

Each example runs in a fresh copy of a small corpus: good and damaged images, a
real checkpoint and damaged copies of its config, real and damaged result files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from colorbench.cli import app
from tests.helpers import write_png

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
WEIRD = ["res[v2].json", "s[/b].json", "[bold]x[/bold]", "ünï cödé", "a b", "-dash", "..", "x" * 200, "\\back", "*", "$(x)"]


def _image(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from colorbench.training import checkpoints
    from colorbench.plugins import get_colorizer

    root = tmp_path_factory.mktemp("corpus")
    for i in range(3):
        image = _image(i)
        write_png(root / "gt" / f"{i}.png", image)
        write_png(root / "pred" / f"{i}.png", np.clip(image.astype(int) + 9, 0, 255).astype(np.uint8))
        write_png(root / "photos" / "train" / f"{i}.png", _image(10 + i, 70, 80))
        write_png(root / "photos" / "test" / f"{i}.png", _image(20 + i, 70, 80))
    write_png(root / "mixed" / "x.png", _image(5))
    (root / "mixed" / "x.jpg").write_bytes((root / "mixed" / "x.png").read_bytes())  # a PNG named .jpg
    good = (root / "gt" / "0.png").read_bytes()
    (root / "damaged").mkdir()
    (root / "damaged" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "damaged" / "empty.png").write_bytes(b"")
    (root / "damaged" / "text.png").write_text("not an image")
    write_png(root / "damaged" / "tiny.png", _image(6, 2, 3))
    write_png(root / "damaged" / "gray.png", np.repeat(_image(7)[..., :1], 3, axis=2))

    torch.manual_seed(0)
    model = get_colorizer("unet_cgan").from_profile("smoke", size=16, ngf=4, ndf=4, z_dim=3)
    weights, _ = checkpoints.save(model, root / "ckpt" / "good", dataset="builtin")
    meta = json.loads(weights.with_suffix(".json").read_text())
    for name, change in {
        "str_ngf": lambda m: m["config"].update(ngf="64"),
        "size0": lambda m: m.update(size=0),
        "noplugin": lambda m: m.pop("plugin"),
        "badhash": lambda m: m.update(weights_sha256="0" * 64),
        "nan_z": lambda m: m["config"].update(z_dim=float("nan")),
    }.items():
        changed = json.loads(json.dumps(meta))
        change(changed)
        shutil.copy(weights, root / "ckpt" / f"{name}.safetensors")
        (root / "ckpt" / f"{name}.json").write_text(json.dumps(changed))
    (root / "ckpt" / "garbage.safetensors").write_bytes(b"\x00" * 64)
    shutil.copy(weights.with_suffix(".json"), root / "ckpt" / "garbage.json")

    runner = CliRunner()
    for name in ("a", "b"):
        out = runner.invoke(app, ["score", str(root / "gt"), str(root / "pred"), "--out", str(root / "results" / f"{name}.json")])
        assert out.exit_code == 0, out.output
    result = json.loads((root / "results" / "a.json").read_text())
    for name, change in {
        "noscored": lambda r: r["protocol"]["dataset"].pop("scored"),
        "short": lambda r: r["per_image"]["psnr"].pop(),
        "nometrics": lambda r: r.pop("metrics"),
        "empty": lambda r: r.clear(),
    }.items():
        changed = json.loads(json.dumps(result))
        change(changed)
        (root / "damaged_results").mkdir(exist_ok=True)
        (root / "damaged_results" / f"{name}.json").write_text(json.dumps(changed))
    (root / "damaged_results" / "list.json").write_text("[1, 2]")
    (root / "damaged_results" / "truncated.json").write_text((root / "results" / "a.json").read_text()[:100])
    (root / "empty_dir").mkdir()
    return root


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _check(corpus: Path, make_args) -> None:
    """Run one generated command line in a fresh copy of the corpus."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "in"
        shutil.copytree(corpus, work)
        before = _files(work)
        args = [str(a) for a in make_args(work, Path(tmp) / "out")]
        with contextlib.chdir(tmp):  # what a command writes by default (./colorbench-results) stays in tmp
            result = CliRunner().invoke(app, args)
        described = f"colorbench {' '.join(args)}\n{result.output}"
        assert result.exit_code in (0, 1, 2), described
        assert result.exception is None or isinstance(result.exception, SystemExit), described + repr(result.exception)
        assert "Traceback" not in result.output, described
        after = _files(work)
        assert {k: after.get(k) for k in before} == before, f"an input changed: {described}"


def paths(inside: list[str]):
    """A path: one of the corpus' entries, a missing one, or a weird name beside them."""
    return st.one_of(
        st.sampled_from(inside).map(lambda rel: lambda work, out: work / rel),
        st.sampled_from(WEIRD).map(lambda name: lambda work, out: out / name),
        st.just(lambda work, out: out / "fresh"),
        st.just(lambda work, out: work / "no" / "such"),
    )


ENTRIES = ["gt", "pred", "gt/0.png", "mixed", "damaged", "damaged/truncated.png", "damaged/text.png", "photos", "empty_dir",
           "results", "results/a.json", "damaged_results", "ckpt", "ckpt/good.safetensors", "ckpt/good.json", "."]
CHECKPOINTS = [f"ckpt/{n}.safetensors" for n in ("good", "str_ngf", "size0", "noplugin", "badhash", "nan_z", "garbage")]
RESULTS = ["results/a.json", "results/b.json"] + [f"damaged_results/{n}.json" for n in ("noscored", "short", "nometrics", "empty", "list", "truncated")]
TEXT = st.one_of(st.sampled_from(WEIRD), st.text(max_size=12))
INTS = st.one_of(st.sampled_from([0, 1, 16, 32, 48, 512, -1, 2**32, 2**63]), st.integers(-(2**70), 2**70))
maybe = st.booleans()


@st.composite
def command_lines(draw, command: str):
    """A generated command line: (work, out) -> argv."""
    parts = [command] if command != "weights" else ["weights", "fetch"]
    picks: list = []

    def opt(flag, strategy, p=True):
        if draw(maybe) or not p:
            picks.append((flag, draw(strategy)))

    if command == "colorize":
        for _ in range(draw(st.integers(1, 3))):
            picks.append((None, draw(paths(ENTRIES + CHECKPOINTS))))
        opt("--out", paths(ENTRIES), p=False)
        if draw(maybe):
            opt("--checkpoint", paths(CHECKPOINTS), p=False)
        else:
            opt("--plugin", st.sampled_from(["gray", "unet_cgan", "nope", "ev[/x]il", ""]), p=False)
        opt("--seed", INTS)
        opt("--reference", paths(ENTRIES))
    elif command == "score":
        picks += [(None, draw(paths(ENTRIES))), (None, draw(paths(ENTRIES)))]
        opt("--out", paths(ENTRIES + RESULTS))
    elif command == "compare":
        picks += [(None, draw(paths(RESULTS + ENTRIES))), (None, draw(paths(RESULTS + ENTRIES)))]
    elif command == "leaderboard":
        opt("--results", paths(ENTRIES))
        opt("--format", st.sampled_from(["table", "markdown", "json", "html"]))
    elif command == "new-plugin":
        picks.append((None, draw(TEXT)))
        opt("--into", paths(ENTRIES))
    elif command == "weights":
        opt("--archive", paths(ENTRIES))
    elif command == "run":
        # smoke-sized, on small data: every example trains for a second at most
        opt("--plugin", st.sampled_from(["gray", "unet_cgan", "gray,unet_cgan", "nope", "", ",", "ev[/x]il"]), p=False)
        opt("--dataset", st.sampled_from(["folder:{photos}", "folder:{gt}", "folder:{damaged}", "folder:{missing}", "builtin:x", "nope", "cifar10:subset-6k"]), p=False)
        opt("--size", st.sampled_from([16, 0, 3, 48, 512, 2**40, -16]))
        opt("--seed", INTS)
        opt("--set", st.sampled_from(["ngf=4", "l1_weight=inf", "ngf=abc", "nope=1", "steps=1", "z_dim=", "beta1=nan", "ngf=1e999"]))
        opt("--out", paths(ENTRIES))
        opt("--samples", st.sampled_from([0, 1, 2, -3]))
        opt("--checkpoint-every", st.sampled_from([0, 1, -1]))
        if draw(maybe):
            picks.append(("--strict", None))
        if draw(maybe):
            picks.append(("--no-baseline", None))
        picks += [("--profile", "smoke"), ("--device", "cpu")]
    if draw(maybe):
        picks.append(("--json", None))

    def make(work: Path, out: Path) -> list:
        argv = list(parts)
        for flag, value in picks:
            value = value(work, out) if callable(value) else value
            if isinstance(value, str) and "{" in value:
                value = value.format(photos=work / "photos", gt=work / "gt", damaged=work / "damaged", missing=work / "missing")
            if command == "run" and flag == "--dataset" and value == "cifar10:subset-6k":
                argv += ["--data-dir", work / "empty_dir"]
            argv += [a for a in (flag, value) if a is not None]
        return argv

    return make


@pytest.mark.parametrize(
    "command, examples",
    [("colorize", 40), ("score", 30), ("compare", 30), ("leaderboard", 30), ("new-plugin", 15), ("weights", 8),
     ("list", 2), ("plugins", 2)],
)
def test_fuzz_command(corpus, command, examples):
    @settings(FUZZ, max_examples=examples)
    @given(command_lines(command))
    def check(make_args):
        _check(corpus, make_args)

    check()


@pytest.mark.slow
def test_fuzz_run(corpus):
    @settings(FUZZ, max_examples=25)
    @given(command_lines("run"))
    def check(make_args):
        _check(corpus, make_args)

    check()
