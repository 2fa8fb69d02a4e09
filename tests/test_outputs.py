"""No command ever overwrites, shadows or half-writes a user's file (`colorbench.outputs`)."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.helpers import one_json

SUFFIXES = [".png", ".jpg", ".jpeg", ".PNG", ".bmp", ".tif"]


def tiny_image(path: Path, seed: int = 0) -> Path:
    """An 8 x 8 colour image in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    return path


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``: equal snapshots mean
    nothing was changed, added or removed."""
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def refused(result, code: int, *words: str) -> None:
    """One line on stderr naming what was wrong, the given exit status, no traceback."""
    assert result.exit_code == code, result.output
    assert not result.exception or isinstance(result.exception, SystemExit), result.exception
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error:") and all(w in line for w in words), line


def colorize(cli, *args):
    return cli("colorize", "--plugin", "gray", *args)


@pytest.fixture
def photos(tmp_path) -> Path:
    """tmp_path/in with in/a.png and in/sub/b.jpg."""
    tiny_image(tmp_path / "in" / "a.png", 1)
    tiny_image(tmp_path / "in" / "sub" / "b.jpg", 2)
    return tmp_path / "in"


# case 1: an output folder that is, lies inside or contains an input


@pytest.mark.parametrize(
    "out, relation",
    [("in", "is"), ("in/sub", "lies inside"), ("in/sub/new", "lies inside"), (".", "contains"), ("link", "is")],
)
def test_an_output_folder_overlapping_an_input_is_refused(cli, photos, tmp_path, out, relation):
    (tmp_path / "link").symlink_to(photos, target_is_directory=True)  # the same folder by another name
    before = snapshot(tmp_path)
    result = colorize(cli, photos, "--out", tmp_path / out)
    refused(result, 2, f"--out {tmp_path / out} {relation} the input")
    assert snapshot(tmp_path) == before


def test_an_input_file_inside_the_output_folder_is_refused(cli, photos, tmp_path):
    before = snapshot(tmp_path)
    result = colorize(cli, photos / "a.png", "--out", photos)
    refused(result, 2, "contains the input", "a.png")
    assert snapshot(tmp_path) == before


# case 2: two inputs never share an output


def test_same_stems_in_one_folder_get_one_output_each(cli, tmp_path):
    dark = np.zeros((8, 8, 3), np.uint8)
    bright = np.full((8, 8, 3), 250, np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(dark).save(tmp_path / "in" / "x.png")
    Image.fromarray(bright).save(tmp_path / "in" / "x.jpg")
    tiny_image(tmp_path / "in" / "y.PNG")
    result = colorize(cli, tmp_path / "in", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(one_json(result)["written"]) == sorted(str(out / n) for n in ["x.png", "x.jpg.png", "y.png"])
    assert sorted(p.name for p in out.iterdir()) == ["x.jpg.png", "x.png", "y.png"]
    assert np.asarray(Image.open(out / "x.png")).max() < 10  # from x.png...
    assert np.asarray(Image.open(out / "x.jpg.png")).min() > 200  # ...and x.jpg, not one over the other


def test_two_arguments_with_one_name_are_refused_naming_both(cli, tmp_path):
    a, b = tiny_image(tmp_path / "a" / "x.png", 1), tiny_image(tmp_path / "b" / "x.png", 2)
    before = snapshot(tmp_path)
    result = colorize(cli, a, b, "--out", tmp_path / "out")
    refused(result, 2, str(a), str(b), "would both be written as x.png")
    assert snapshot(tmp_path) == before


def test_a_file_given_twice_is_colourized_once(cli, photos, tmp_path):
    result = colorize(cli, photos, photos / "sub", photos / "a.png", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(one_json(result)["written"]) == [str(tmp_path / "out" / "a.png"), str(tmp_path / "out" / "sub" / "b.png")]


def test_existing_outputs_are_kept_unless_overwrite(cli, photos, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "b.png").write_bytes(b"the user's")
    before = snapshot(tmp_path)
    result = colorize(cli, photos, "--out", out)
    refused(result, 1, "1 output(s) already exist", str(out / "sub" / "b.png"), "--overwrite")
    assert snapshot(tmp_path) == before  # not even a.png, which was free

    result = colorize(cli, photos, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert Image.open(out / "sub" / "b.png").size == (8, 8)


def test_a_folder_where_an_output_goes_is_refused_even_with_overwrite(cli, photos, tmp_path):
    (tmp_path / "out" / "a.png").mkdir(parents=True)
    before = snapshot(tmp_path)
    refused(colorize(cli, photos, "--out", tmp_path / "out", "--overwrite"), 1, "is a folder where an output should go")
    assert snapshot(tmp_path) == before


# case 6 and 12: an output that cannot be written is named before any work starts


def test_run_checks_out_before_loading_anything(cli, tmp_path):
    (tmp_path / "results").write_text("the user's")
    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path / "results")
    refused(result, 2, f"--out {tmp_path / 'results'} is a file")
    assert "training items" not in result.output  # refused before the dataset loaded
    assert (tmp_path / "results").read_text() == "the user's"

    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path / "results" / "deeper")
    refused(result, 2, f"{tmp_path / 'results'} is a file, so no folder can be made there")


def test_colorize_out_naming_a_file_is_one_line(cli, photos, tmp_path):
    (tmp_path / "out.png").write_bytes(b"the user's")
    before = snapshot(tmp_path)
    refused(colorize(cli, photos, "--out", tmp_path / "out.png"), 2, f"--out {tmp_path / 'out.png'} is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_score_out_naming_a_folder_is_one_line(cli, tmp_path):
    gt, pred = tiny_image(tmp_path / "gt" / "a.png").parent, tiny_image(tmp_path / "pred" / "a.png").parent
    before = snapshot(tmp_path)
    refused(cli("score", gt, pred, "--out", gt), 2, f"--out {gt} is a folder")
    assert snapshot(tmp_path) == before


def test_score_keeps_an_existing_out_file_unless_overwrite(cli, tmp_path):
    gt, pred = tiny_image(tmp_path / "gt" / "a.png").parent, tiny_image(tmp_path / "pred" / "a.png").parent
    (tmp_path / "score.json").write_text("the user's")
    before = snapshot(tmp_path)
    refused(cli("score", gt, pred, "--out", tmp_path / "score.json"), 1, "already exists", "--overwrite")
    assert snapshot(tmp_path) == before

    result = cli("score", gt, pred, "--out", tmp_path / "score.json", "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "score.json").read_text())["kind"] == "score"


def test_new_plugin_into_a_file_or_onto_a_package_is_one_line(cli, tmp_path):
    (tmp_path / "file").write_text("the user's")
    (tmp_path / "colorbench-mine").mkdir()
    before = snapshot(tmp_path)
    refused(cli("new-plugin", "mine", "--into", tmp_path / "file"), 2, "--into", "is a file, not a folder")
    refused(cli("new-plugin", "mine", "--into", tmp_path), 1, "already exists; nothing was written")
    assert snapshot(tmp_path) == before


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        pytest.skip("this user (root?) may write in a read-only folder anyway")
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize(
    "command",
    [
        lambda ro, t: ["colorize", "--plugin", "gray", tiny_image(t / "in" / "a.png"), "--out", ro / "out"],
        lambda ro, t: ["run", "--plugin", "gray", "--profile", "smoke", "--out", ro],
        lambda ro, t: ["score", tiny_image(t / "gt" / "a.png").parent, tiny_image(t / "p" / "a.png").parent, "--out", ro / "s.json"],
        lambda ro, t: ["new-plugin", "mine", "--into", ro],
    ],
    ids=["colorize", "run", "score", "new-plugin"],
)
def test_a_read_only_output_folder_is_named_up_front(cli, read_only, tmp_path, command):
    args = command(read_only, tmp_path)
    before = snapshot(tmp_path)
    refused(cli(*args), 1, f"{read_only} is not writable")
    assert snapshot(tmp_path) == before


# the property: whatever the inputs' names and --out, no input changes and each gets its own output

stems = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=5).filter(
    lambda s: s not in {".", ".."}
)


@st.composite
def trees(draw) -> list[str]:
    """Relative file names: a few stems, reused with different suffixes and folders."""
    pool = draw(st.lists(stems, min_size=1, max_size=3))
    files = st.tuples(st.sampled_from(["", "d/", "d/é/", "E/"]), st.sampled_from(pool), st.sampled_from(SUFFIXES))
    return sorted({folder + stem + suffix for folder, stem, suffix in draw(st.lists(files, min_size=1, max_size=7))})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=trees(),
    as_files=st.booleans(),
    out_choice=st.sampled_from(["fresh", "input", "inside", "parent", "file", "input file"]),
)
def test_no_input_changes_and_each_gets_its_own_output(cli, names, as_files, out_choice):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = root / "in"
        for i, name in enumerate(names):
            tiny_image(inputs / name, i)
        (root / "file").write_text("the user's")
        out = {
            "fresh": root / "out", "input": inputs, "inside": inputs / "d", "parent": root,
            "file": root / "file", "input file": inputs / names[0],
        }[out_choice]
        args = [inputs / n for n in names] if as_files else [inputs]
        everything = snapshot(root)

        result = cli("colorize", "--plugin", "gray", *args, "--out", out, "--json")

        assert result.exit_code in (0, 1, 2), result.output
        assert not result.exception or isinstance(result.exception, SystemExit), result.exception
        now = snapshot(root)
        if result.exit_code:
            assert now == everything  # refused: nothing written at all
            return
        assert {k: now.get(k) for k in everything} == everything  # nothing of the user's changed...
        assert all(root / k == out or out in (root / k).parents for k in set(now) - set(everything))  # ...only --out grew
        written = one_json(result)["written"]
        assert len(written) == len(set(written)) == len(names)
        assert {p.as_posix() for p in out.rglob("*") if p.is_file()} == set(written)
        for name in names:  # each input's output is named by the rule: NAME.png or STEM.png
            relative = Path(name) if not as_files else Path(Path(name).name)
            assert {str(out / relative.with_suffix(".png")), str(out / f"{relative}.png")} & set(written)
        assert all(Image.open(p).size == (8, 8) for p in written)
