"""Every file colorbench reads is untrusted input (issue 10): a damaged, hand-edited
or hostile result file, checkpoint or sample image is one line on stderr and an
exit status, never a traceback, a picture of something else or a silent black
image, and nothing is written on a refusal."""

import hashlib
import json
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from typer.testing import CliRunner

import colorbench
from colorbench.training import checkpoints
from colorbench.cli import app
from colorbench.errors import UserError
from colorbench.plugins import pm
from tests.helpers import Sepia, one_json, write_png
from tests.cli.test_run_failures import AlwaysDiverges

FORMATS = ["table", "markdown", "json"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


class NaNTint(Sepia):
    """Finite weights, non-finite colours: what a damaged network can predict."""

    name = "nan_tint_test"

    def predict(self, L, noise):
        return super().predict(L, noise) * float("nan")


class TestMethods:
    @colorbench.hookimpl
    def register_colorizers(self, register):
        register(AlwaysDiverges)
        register(NaNTint)


@pytest.fixture(scope="module")
def methods():
    pm.register(TestMethods(), name="untrusted_files_methods")
    yield
    pm.unregister(name="untrusted_files_methods")


@pytest.fixture(scope="module")
def made(tmp_path_factory, methods):
    """Real files to damage: a small unet_cgan run (result, checkpoint, sample PNGs),
    a diverged run and a `score --out` result, each in a folder of its own."""
    root = tmp_path_factory.mktemp("made")
    run = invoke(
        "run", "--plugin", "unet_cgan", "--profile", "smoke", "--size", "16", "--set", "ngf=8", "--set", "ndf=8",
        "--out", root / "results", "--no-baseline", "--json",
    )
    assert run.exit_code == 0, run.output
    (result,) = one_json(run)["results"]
    diverged = invoke("run", "--plugin", "diverges_test", "--profile", "smoke", "--size", "16", "--out", root / "diverged", "--no-baseline")
    assert diverged.exit_code == 1 and len(list((root / "diverged").glob("*.json"))) == 1, diverged.output
    rng = np.random.default_rng(0)
    image = write_png(root / "images" / "a.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    write_png(root / "images" / "b.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    scored = invoke("score", root / "images", root / "images", "--out", root / "score" / "score.json")
    assert scored.exit_code == 0, scored.output
    return SimpleNamespace(
        results=root / "results", result=Path(result["file"]), checkpoint=Path(result["checkpoint"]["path"]),
        diverged=root / "diverged", score=root / "score", image=image,
    )


def copy_results(made, to: Path) -> Path:
    shutil.copytree(made.results, to)
    return to / made.result.name


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` and a hash of its bytes: what "nothing written" compares."""
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_traceback(result):
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def fails_cleanly(result, code: int, *words: str):
    """Exit ``code`` with one line on stderr that holds each of ``words``."""
    no_traceback(result)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


# ------------------------------------------------------------------ case 3
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("holding", ["nothing", "diverged", "score"])
def test_leaderboard_of_no_scored_runs_says_so(made, tmp_path, cli, holding, fmt):
    folder = {"nothing": tmp_path, "diverged": made.diverged, "score": made.score}[holding]
    result = cli("leaderboard", "--results", folder, "--format", fmt)
    no_traceback(result)
    assert result.exit_code == 0 and result.stderr == ""
    if fmt == "json":
        assert one_json(result) == {"groups": []}
    else:
        assert "No results" in result.stdout


# ------------------------------------------------------------------ case 4
def test_results_under_a_folder_named_checkpoints_are_read(made, tmp_path, cli):
    copy_results(made, tmp_path / "checkpoints" / "res")
    result = cli("leaderboard", "--results", tmp_path / "checkpoints" / "res", "--json")
    assert result.exit_code == 0 and result.stderr == ""  # the run's own checkpoints/ folder is still not read
    assert [row["method"] for group in one_json(result)["groups"] for row in group["rows"]] == ["unet_cgan"]


# ------------------------------------------------------------------ case 10
def test_a_checkpoint_with_nan_weights_is_refused(made, tmp_path, cli):
    model = checkpoints.load(made.checkpoint)
    with torch.no_grad():
        next(iter(model.nets.parameters()))[0] = float("nan")
    path, _ = checkpoints.save(model, tmp_path / "nan")  # its sha256 matches: the weights are what was saved
    result = cli("colorize", "--checkpoint", path, made.image, "--out", tmp_path / "out")
    fails_cleanly(result, 1, str(path), "non-finite weights")
    assert not (tmp_path / "out").exists()


def test_weights_changed_after_saving_are_refused(made, tmp_path, cli):
    path = tmp_path / made.checkpoint.name
    shutil.copy(made.checkpoint.with_suffix(".json"), path.with_suffix(".json"))
    state = {k: v.clone() for k, v in checkpoints.load(made.checkpoint).nets.state_dict().items()}
    next(iter(state.values())).add_(0.01)
    save_file(state, path)  # a readable file of the right shapes, just not the saved weights
    result = cli("colorize", "--checkpoint", path, made.image, "--out", tmp_path / "out")
    fails_cleanly(result, 1, str(path), "sha256 differs", "restore")
    assert not (tmp_path / "out").exists()


def test_non_finite_predictions_are_an_error_naming_the_method(methods, tmp_path, cli):
    model = NaNTint(size=16)
    with pytest.raises(UserError, match="nan_tint_test predicted non-finite colours"):
        model.colorize(torch.zeros(1, 1, 16, 16), n_samples=2)
    path, _ = checkpoints.save(model, tmp_path / "nan_tint")
    write_png(tmp_path / "in.png", np.zeros((16, 16, 3), np.uint8))
    result = cli("colorize", "--checkpoint", path, tmp_path / "in.png", "--out", tmp_path / "out")
    no_traceback(result)
    assert result.exit_code == 1 and "nan_tint_test predicted non-finite colours" in result.stderr
    assert not (tmp_path / "out").exists()  # no black PNG


# ------------------------------------------------------------------ case 12
@pytest.mark.parametrize(
    "change, field",
    [
        (lambda m: m["config"].update(ngf="8"), "config.ngf"),
        (lambda m: m.update(size=0), "size"),
        (lambda m: m.pop("plugin"), "plugin"),
    ],
)
def test_a_damaged_checkpoint_config_is_one_line_naming_the_field(made, tmp_path, cli, change, field):
    path = tmp_path / made.checkpoint.name
    shutil.copy(made.checkpoint, path)
    shutil.copy(made.checkpoint.with_suffix(".json"), path.with_suffix(".json"))
    edit(path.with_suffix(".json"), change)
    result = cli("colorize", "--checkpoint", path, made.image, "--out", tmp_path / "out")
    fails_cleanly(result, 1, str(path.with_suffix(".json")), f"({field}:")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda r: r["protocol"]["dataset"].pop("scored"), "protocol.dataset.scored"),
        (lambda r: r["per_image"]["psnr"].pop(), "per_image: psnr has 23 values for 24 images"),
    ],
)
def test_a_damaged_result_is_skipped_by_leaderboard_and_refused_by_compare(made, tmp_path, cli, change, field):
    path = copy_results(made, tmp_path / "results")
    edit(path, change)
    before = snapshot(tmp_path)
    for fmt in FORMATS:
        result = cli("leaderboard", "--results", tmp_path / "results", "--format", fmt)
        no_traceback(result)
        assert result.exit_code == 0
        (line,) = result.stderr.strip().splitlines()
        assert "skipping" in line and str(path) in line and field in line
        assert "unet" not in result.stdout
    fails_cleanly(cli("compare", path, made.result), 1, str(path), field)
    fails_cleanly(cli("compare", made.result, path, "--json"), 1, str(path), field)
    assert snapshot(tmp_path) == before


@pytest.fixture
def board(made, tmp_path):
    copy_results(made, tmp_path / "board" / "results")
    return tmp_path / "board"


def test_publishing_with_a_sample_image_missing_is_refused_and_writes_nothing(made, board, cli):
    (board / "results" / "samples" / made.result.with_suffix(".png").name).unlink()
    before = snapshot(board)
    result = cli("leaderboard", "--write", "--board", board)
    fails_cleanly(result, 1, made.result.name, "no such file")
    assert snapshot(board) == before and sorted(p.name for p in board.iterdir()) == ["results"]


def _writable(folder: Path) -> bool:
    try:
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


@contextmanager
def read_only(folder: Path):
    """``folder`` made unwritable; for root, which ignores permissions, immutable."""
    folder.chmod(0o555)
    immutable = False
    try:
        if _writable(folder) and shutil.which("chattr"):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if _writable(folder):
            pytest.skip("this user can write into a read-only folder")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_publishing_into_a_read_only_board_is_refused(board, cli):
    before = snapshot(board)
    with read_only(board):
        result = cli("leaderboard", "--write", "--board", board)
    fails_cleanly(result, 1, f"cannot write the board in {board}")
    assert snapshot(board) == before


# ------------------------------------------------------------------ case 15
@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_sample_path_outside_the_results_is_never_read(made, board, tmp_path, cli, where):
    secret = write_png(tmp_path / "outside" / "secret.png", np.full((16, 128, 3), 255, np.uint8))
    stored = "../../outside/secret.png" if where == "relative" else str(secret)
    result_file = board / "results" / made.result.name
    edit(result_file, lambda r: r["samples"].update(grid=stored))
    written = cli("leaderboard", "--write", "--board", board)
    no_traceback(written)
    assert written.exit_code == 0
    (line,) = written.stderr.strip().splitlines()
    assert "skipping" in line and str(result_file) in line and "samples.grid" in line
    assert "No results yet." in (board / "README.md").read_text()
    assert not (board / "figures").exists()  # nothing was drawn, the secret least of all


def test_a_sample_linked_to_outside_the_results_is_refused(made, board, tmp_path, cli):
    secret = write_png(tmp_path / "outside" / "secret.png", np.full((32, 128, 3), 255, np.uint8))
    sample = board / "results" / "samples" / made.result.with_suffix(".png").name
    sample.unlink()
    sample.symlink_to(secret)
    before = snapshot(board)
    result = cli("leaderboard", "--write", "--board", board)
    fails_cleanly(result, 1, "lies outside")
    assert snapshot(board) == before and not (board / "README.md").exists()


# ------------------------------------------------------------------ any damage
ODD_VALUES = st.sampled_from(
    ["x", "", "64", [], {}, [1, 2], True, None, float("nan"), float("inf"), 2**62, 10**30, 1e300, -1, -1e9, 0, 0.5]
)


def _damaged(data, text: str) -> str:
    """``text`` (a JSON object) with one thing broken: a key or list item dropped, a
    list item repeated, a value replaced by one of another type, NaN-like, huge or
    negative, or the file cut short."""
    if data.draw(st.integers(0, 4)) == 0:
        return text[: data.draw(st.integers(0, len(text) - 1))]
    tree = json.loads(text)
    parent, key = None, None
    node = tree
    while isinstance(node, (dict, list)) and node:  # a random walk down: every depth gets its turn
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        parent, node = node, node[key]
        if data.draw(st.booleans()):
            break
    action = data.draw(st.sampled_from(["drop", "repeat", "replace"]))
    if action == "drop":
        del parent[key]  # in a list: one value fewer than the others
    elif action == "repeat" and isinstance(parent, list):
        parent.insert(key, parent[key])
    else:
        parent[key] = data.draw(ODD_VALUES)
    return json.dumps(tree)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_damaged_result_files_never_crash_leaderboard_or_compare(made, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = copy_results(made, Path(tmp) / "results")
        path.write_text(_damaged(data, path.read_text()))
        before = snapshot(Path(tmp))
        for fmt in FORMATS:
            result = invoke("leaderboard", "--results", Path(tmp) / "results", "--format", fmt)
            no_traceback(result)
            assert result.exit_code == 0, result.output
            if fmt == "json":
                one_json(result)
        for args in ([path, made.result], [made.result, path, "--json"]):
            result = invoke("compare", *args)
            no_traceback(result)
            assert result.exit_code in (0, 1, 2), result.output
            if "--json" in args:
                one_json(result)
        assert snapshot(Path(tmp)) == before


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_damaged_checkpoint_configs_never_crash_colorize(made, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "checkpoint"
        folder.mkdir()
        path = Path(shutil.copy(made.checkpoint, folder))
        config = Path(shutil.copy(made.checkpoint.with_suffix(".json"), folder))
        config.write_text(_damaged(data, config.read_text()))
        before = snapshot(folder)
        result = invoke("colorize", "--checkpoint", path, made.image, "--out", Path(tmp) / "out", "--json")
        no_traceback(result)
        assert result.exit_code in (0, 1, 2), result.output
        one_json(result)
        if result.exit_code:
            assert not (Path(tmp) / "out").exists()
        assert snapshot(folder) == before


# ------------------------------------------------------------------ issue 10, second round
def _both_refuse(cli, path: Path, other: Path, *words: str) -> None:
    """`leaderboard` skips ``path`` with one warning and `compare` refuses it, each
    naming the file and ``words``; nothing is written."""
    before = snapshot(path.parent)
    for fmt in FORMATS:
        result = cli("leaderboard", "--results", path.parent, "--format", fmt)
        no_traceback(result)
        assert result.exit_code == 0, result.output
        (line,) = result.stderr.strip().splitlines()
        assert "skipping" in line and str(path) in line and all(w in line for w in words), line
    fails_cleanly(cli("compare", path, other), 1, str(path), *words)
    fails_cleanly(cli("compare", other, path, "--json"), 1, str(path), *words)
    assert snapshot(path.parent) == before


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda t: t.replace('"status"', '"metrics": {}, "status"', 1), ["key 'metrics' appears twice"]),  # json.loads keeps the last
        (lambda t: t.replace('"status"', '"cpu_note": NaN, "status"', 1), ["NaN is not a JSON number"]),
        (lambda t: t.replace('"status"', '"x": -Infinity, "status"', 1), ["-Infinity is not a JSON number"]),
        (lambda t: t.replace('"smoke"', '"sm\udce9oke"', 1), ["not UTF-8"]),  # a latin-1 byte
        (lambda t: "[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ],
    ids=["repeated key", "NaN", "-Infinity", "latin-1 byte", "deep nesting"],
)
def test_json_a_lenient_reader_would_accept_is_refused(made, tmp_path, cli, damage, words):
    path = tmp_path / "results" / made.result.name
    path.parent.mkdir()
    path.write_bytes(damage(made.result.read_text()).encode("utf-8", "surrogateescape"))
    _both_refuse(cli, path, made.result, *words)


def test_a_byte_order_mark_is_read_past(made, tmp_path, cli):
    path = tmp_path / "results" / made.result.name
    path.parent.mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + made.result.read_bytes())  # what some editors save
    shown = cli("leaderboard", "--results", path.parent, "--json")
    assert shown.exit_code == 0 and shown.stderr == ""
    assert [row["method"] for group in one_json(shown)["groups"] for row in group["rows"]] == ["unet_cgan"]
    compared = cli("compare", path, made.result, "--json")
    assert compared.exit_code == 0 and one_json(compared)["metrics"]["psnr"]["difference"] == 0


def test_an_image_listed_twice_is_refused(made, tmp_path, cli):
    path = copy_results(made, tmp_path / "results")
    edit(path, lambda r: r["per_image"]["id"].__setitem__(1, r["per_image"]["id"][0]))
    _both_refuse(cli, path, made.result, "per_image.id", "listed twice")


def test_an_interval_upside_down_is_refused(made, tmp_path, cli):
    path = copy_results(made, tmp_path / "results")
    edit(path, lambda r: r["ci95"].update(psnr=r["ci95"]["psnr"][::-1]))
    _both_refuse(cli, path, made.result, "ci95.psnr", "lower end")


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(-2, 2), st.floats(-1, 600)),
)
def test_a_metric_value_is_read_iff_the_metric_can_take_it(made, data, value):
    """Any finite number, anywhere a metric's value is stored: one the metric can
    take is read (and compared without overflow warnings), any other is refused
    naming the field, so an SSIM of 7 or a PSNR of 1e308 never reaches a table."""
    from colorbench.reporting.schemas import value_range

    result = json.loads(made.result.read_text())
    name = data.draw(st.sampled_from(sorted(set(result["per_image"]) - {"id"})))
    where = data.draw(st.sampled_from(["per_image"] + [w for w in ("metrics", "ci95") if result[w].get(name) is not None]))
    if where == "metrics":
        result["metrics"][name], field = value, f"metrics.{name}"
    elif where == "per_image":
        i = data.draw(st.integers(0, len(result["per_image"]["id"]) - 1))
        result["per_image"][name][i], field = value, f"{name}.{i}"
    else:
        result["ci95"][name], field = [value, value], f"ci95.{name}.0"
    low, high = value_range(name, None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results" / made.result.name
        path.parent.mkdir()
        path.write_text(json.dumps(result))
        board = invoke("leaderboard", "--results", path.parent, "--json")
        compared = invoke("compare", made.result, path, "--json")
    for outcome in (board, compared):
        no_traceback(outcome)
        one_json(outcome)
    if low <= value <= high:
        assert board.stderr == "" and compared.exit_code == 0, (board.stderr, compared.stderr)
    else:
        assert field in board.stderr and "outside" in board.stderr
        assert compared.exit_code == 1 and field in compared.stderr


# ------------------------------------------------------------------ sample images
@pytest.mark.parametrize("kind", ["grid", "samples"])
@pytest.mark.parametrize("shape", [(8000, 8000), (1, 1), (16, 128)])
def test_a_sample_image_of_another_size_is_refused_before_it_is_decoded(made, board, cli, kind, shape):
    """8000x8000 black is a 200 kB PNG that decodes to 190 MB (and matplotlib many
    times that): its size is checked from the header, against the run's own."""
    from PIL import Image

    stem = made.result.stem + ("-samples" if kind == "samples" else "")
    Image.new("RGB", shape[::-1]).save(board / "results" / "samples" / f"{stem}.png")
    before = snapshot(board)
    result = cli("leaderboard", "--write", "--board", board)
    fails_cleanly(result, 1, made.result.name, f"{shape[1]}x{shape[0]} pixels, not the")
    assert snapshot(board) == before


def test_a_sample_image_that_is_a_pipe_is_refused_without_blocking(made, board, cli):
    import os

    sample = board / "results" / "samples" / f"{made.result.stem}.png"
    sample.unlink()
    os.mkfifo(sample)
    fails_cleanly(cli("leaderboard", "--write", "--board", board), 1, made.result.name, "not a regular file")


def test_a_pipe_among_the_results_is_skipped_without_blocking(made, tmp_path, cli):
    import os

    copy_results(made, tmp_path / "results")
    os.mkfifo(tmp_path / "results" / "pipe.json")
    result = cli("leaderboard", "--results", tmp_path / "results", "--json")
    assert result.exit_code == 0 and "pipe.json: not a regular file" in result.stderr
    assert [row["method"] for group in one_json(result)["groups"] for row in group["rows"]] == ["unet_cgan"]


# ------------------------------------------------------------------ checkpoints
def _rewritten(made, folder: Path, *, config=lambda m: None, tensors=lambda t: None) -> Path:
    """A copy of the made checkpoint with its config or tensors changed, its
    config's sha256 made to match: only the new checks can refuse it."""
    from safetensors.torch import load_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / made.checkpoint.name
    state = load_file(made.checkpoint)
    tensors(state)
    save_file(state, path)
    meta = json.loads(made.checkpoint.with_suffix(".json").read_text())
    config(meta)
    meta["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(
    "config, words",
    [
        (lambda m: m["config"].update(ngf=100_000), ["G.down.0.0.weight is float32 [8, 1, 4, 4], the network's float32 [100000, 1, 4, 4]"]),
        (lambda m: m["config"].update(z_dim=10**9), ["the network's float32 [1000000064, 32, 4, 4]"]),
        (lambda m: m.update(size=4096), ["missing (G.down.3.2.weight", "unexpected"]),
    ],
    ids=["ngf=100000", "z_dim=10**9", "size=4096"],
)
def test_an_absurd_config_is_refused_by_the_weight_shapes_before_any_memory_is_taken(made, tmp_path, cli, config, words):
    """ngf=100000 would ask for 1.3 TB: the network is built on the meta device
    and compared with the weights first, so the refusal names the shapes, not an
    allocator's failure (or, where memory overcommits, the OOM killer)."""
    path = _rewritten(made, tmp_path / "ck", config=config)
    result = cli("colorize", "--checkpoint", path, made.image, "--out", tmp_path / "out")
    fails_cleanly(result, 1, str(path), "does not match plugin unet_cgan", *words)
    assert len(result.stderr) < 1000 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("dtype", [torch.int8, torch.float64, torch.float16])
def test_weights_of_another_type_are_refused_not_cast(made, tmp_path, cli, dtype):
    def retype(state):
        state["D.model.0.weight"] = state["D.model.0.weight"].to(dtype)

    path = _rewritten(made, tmp_path / "ck", tensors=retype)
    result = cli("colorize", "--checkpoint", path, made.image, "--out", tmp_path / "out")
    fails_cleanly(result, 1, str(path), f"D.model.0.weight is {str(dtype).removeprefix('torch.')} [8, 3, 4, 4], the network's float32")
    assert not (tmp_path / "out").exists()
