"""No command ever overwrites, shadows or half-writes a user's file (`colorbench.outputs`)."""

import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.helpers import one_json, permissions_enforced, refused, snapshot, tiny_image

SUFFIXES = [".png", ".jpg", ".jpeg", ".PNG", ".bmp", ".tif"]


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
    """A folder of mode 555, which not even root may write in during the test."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with permissions_enforced():
            with contextlib.suppress(PermissionError):
                (folder / "probe").touch()
                pytest.skip("a folder cannot be made read-only here")
            yield folder
    finally:
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


# run writes results, checkpoints/ and samples/ (PNGs): never where its dataset reads images


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    for i in range(5):
        tiny_image(tmp_path / "photos" / f"{i}.png", i)
    (tmp_path / "link").symlink_to(tmp_path / "photos", target_is_directory=True)
    return tmp_path / "photos"


@pytest.mark.parametrize(
    "out, relation",
    [("photos", "is"), ("photos/results", "lies inside"), ("photos/../photos/r", "lies inside"), ("link/r", "lies inside")],
)
def test_run_never_writes_into_its_dataset_folder(cli, photo_folder, tmp_path, out, relation):
    before = snapshot(tmp_path)
    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--dataset", f"folder:{photo_folder}", "--out", tmp_path / out)
    refused(result, 2, f"{relation} the dataset folder {photo_folder}", "would be read as input")
    assert "training items" not in result.output  # refused before the dataset loaded
    assert snapshot(tmp_path) == before


def test_run_never_writes_into_its_data_dir(cli, tmp_path):
    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--dataset", "cifar10:subset-6k",
                 "--data-dir", tmp_path / "cifar", "--out", tmp_path / "cifar" / "results")
    refused(result, 2, f"lies inside --data-dir {tmp_path / 'cifar'}")
    assert not (tmp_path / "cifar").exists()


@pytest.mark.parametrize("where", ["checkpoints", "samples"])
def test_run_names_a_file_where_its_subfolders_go_before_training(cli, tmp_path, where):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / where).write_text("the user's")
    before = snapshot(tmp_path)
    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path / "results")
    refused(result, 2, f"{tmp_path / 'results' / where} is a file where a folder will be written")
    assert "training items" not in result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["colorize", "run", "new-plugin"])
def test_a_broken_link_as_the_output_folder_is_named_as_one(cli, photos, tmp_path, command):
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    args = {
        "colorize": ["colorize", "--plugin", "gray", photos, "--out", tmp_path / "gone"],
        "run": ["run", "--plugin", "gray", "--profile", "smoke", "--out", tmp_path / "gone"],
        "new-plugin": ["new-plugin", "mine", "--into", tmp_path / "gone"],
    }[command]
    before = snapshot(tmp_path)
    refused(cli(*args), 2, f"{tmp_path / 'gone'} is a broken link, not a folder")
    assert snapshot(tmp_path) == before


# score --out: --overwrite replaces an earlier score, never an input


@pytest.mark.parametrize("out", ["gt/a.png", "pred/score.json", "pred/../gt/new.json", "gt-link/x.json"])
def test_score_out_never_replaces_or_joins_an_input(cli, tmp_path, out):
    gt, pred = tiny_image(tmp_path / "gt" / "a.png").parent, tiny_image(tmp_path / "pred" / "a.png", 1).parent
    (tmp_path / "gt-link").symlink_to(gt, target_is_directory=True)
    before = snapshot(tmp_path)
    refused(cli("score", gt, pred, "--out", tmp_path / out, "--overwrite"), 2, f"--out {tmp_path / out}", "the input", "so no input is overwritten")
    assert snapshot(tmp_path) == before


def test_score_out_that_is_a_link_to_an_input_replaces_the_link_only(cli, tmp_path):
    gt, pred = tiny_image(tmp_path / "gt" / "a.png").parent, tiny_image(tmp_path / "pred" / "a.png", 1).parent
    truth = (gt / "a.png").read_bytes()
    (tmp_path / "score.json").symlink_to(gt / "a.png")
    result = cli("score", gt, pred, "--out", tmp_path / "score.json", "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "score.json").is_symlink() and json.loads((tmp_path / "score.json").read_text())["kind"] == "score"
    assert (gt / "a.png").read_bytes() == truth


# names the file system cannot hold are refused before any work, never found one image at a time


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(240, 255), min_size=1, max_size=3), wide=st.booleans(), twin=st.booleans())
def test_names_near_the_limit_are_all_written_or_refused_up_front(cli, lengths, wide, twin):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, length in enumerate(lengths):
            free = length - len(f"{i}.png")  # bytes left for the stem: a two-byte "é" or a one-byte "x" at a time
            stem = f"{i}" + ("é" * (free // 2) + "x" * (free % 2) if wide else "x" * free)
            tiny_image(root / "in" / f"{stem}.png", i)
            if twin:
                tiny_image(root / "in" / f"{stem}.jpg", i)  # its output adds .png to its whole name: 4 bytes more
        before = snapshot(root)

        result = cli("colorize", "--plugin", "gray", root / "in", "--out", root / "out", "--json")

        if twin and max(lengths) > 251:
            refused(result, 2, "bytes, more than the 255 a file name may have here")
            assert snapshot(root) == before
        else:
            assert result.exit_code == 0, result.output
            assert len(one_json(result)["written"]) == len(lengths) * (1 + twin)
            assert not [p for p in (root / "out").iterdir() if p.name.startswith(".")]  # no temporary file left


def test_new_plugin_with_a_name_too_long_for_a_folder_writes_nothing(cli, tmp_path):
    refused(cli("new-plugin", "a" * 250, "--into", tmp_path / "pkgs"), 2, "more than the 255 a file name may have here")
    assert not (tmp_path / "pkgs").exists()


# weights fetch: the archive and the cache are checked before any download


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "cache"


@pytest.mark.parametrize("archive", ["missing.tar.gz", "a-folder"])
def test_weights_fetch_names_an_archive_it_cannot_read(cli, empty_caches, tmp_path, archive):
    (tmp_path / "a-folder").mkdir()
    refused(cli("weights", "fetch", "--archive", tmp_path / archive, "--json"), 2, f"--archive {tmp_path / archive}")


@pytest.mark.parametrize("blocker", ["colorbench", "colorbench/weights/vgg16_features.safetensors/"])
def test_weights_fetch_names_a_cache_it_cannot_write(cli, empty_caches, tmp_path, blocker):
    if blocker.endswith("/"):
        (empty_caches / blocker).mkdir(parents=True)
    else:
        empty_caches.mkdir()
        (empty_caches / blocker).write_text("the user's")
    (tmp_path / "carrier.tar.gz").write_bytes(b"not read: the cache is refused first")
    before = snapshot(tmp_path)
    result = cli("weights", "fetch", "--archive", tmp_path / "carrier.tar.gz")
    refused(result, result.exit_code, str(empty_caches / blocker.rstrip("/")))
    assert result.exit_code in (1, 2) and snapshot(tmp_path) == before


def test_run_never_follows_a_link_in_its_out_folder_into_its_dataset(cli, photo_folder, tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "samples").symlink_to(photo_folder, target_is_directory=True)
    before = snapshot(tmp_path)
    result = cli("run", "--plugin", "gray", "--profile", "smoke", "--dataset", f"folder:{photo_folder}", "--out", tmp_path / "results")
    refused(result, 2, f"{tmp_path / 'results' / 'samples'} is the dataset folder")
    assert snapshot(tmp_path) == before
