"""A folder that cannot be listed never drops its images silently: `image_files`
reports it, `score` lists it and scores nothing, `run` on folder:PATH skips it
aloud (and refuses it with --strict)."""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

from colorbench.data import datasets
from colorbench.data.datasets import image_files
from tests.helpers import one_json, permissions_enforced, write_png


@contextlib.contextmanager
def unlistable(*folders: Path):
    """Within the block, ``folders`` cannot be listed: mode 000, and permissions
    enforced even for root."""
    for folder in folders:
        folder.chmod(0)
    try:
        with permissions_enforced():
            with contextlib.suppress(PermissionError):
                os.listdir(folders[0])
                pytest.skip("a folder cannot be made unreadable here")
            yield
    finally:
        for folder in folders:
            folder.chmod(0o755)


def _images(root: Path, names: list[str]) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        write_png(root / name, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_image_files_names_what_it_cannot_list(tmp_path):
    _images(tmp_path, ["a.png", "sub/b.png", "sub/deeper/c.png"])
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with unlistable(tmp_path / "sub"):
        unreadable = []
        found = image_files(tmp_path, unreadable=unreadable)
        assert image_files(tmp_path) == found == [tmp_path / "a.png"]  # without a list: as before
    assert unreadable == [f"{tmp_path / 'gone.png'}: not a regular file (a broken link?)",
                          f"{tmp_path / 'sub'}: folder cannot be listed (Permission denied)"]
    assert image_files(tmp_path) == [tmp_path / "a.png", tmp_path / "sub/b.png", tmp_path / "sub/deeper/c.png"]


def test_score_lists_unreadable_folders_on_both_sides_and_scores_nothing(cli, tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for root in (gt, pred):
        _images(root, ["1.png", "sub/2.png"])
    with unlistable(gt / "sub", pred / "sub"):
        result = cli("score", gt, pred)
        as_json = cli("score", gt, pred, "--json")
    assert result.exit_code == 1, result.output
    assert "unreadable (2):" in result.stderr
    assert f"{gt / 'sub'}: folder cannot be listed" in result.stderr and f"{pred / 'sub'}: folder cannot be listed" in result.stderr
    assert "nothing scored" in result.stderr.splitlines()[-1] and result.stdout == ""
    assert as_json.exit_code == 1
    assert one_json(as_json)["problems"] == {"unreadable": [
        f"{gt / 'sub'}: folder cannot be listed (Permission denied)",
        f"{pred / 'sub'}: folder cannot be listed (Permission denied)",
    ]}


def test_score_lists_an_unreadable_ground_truth_folder_rather_than_finding_no_images(cli, tmp_path):
    _images(tmp_path / "pred", ["1.png"])
    (tmp_path / "gt").mkdir()
    with unlistable(tmp_path / "gt"):
        result = cli("score", tmp_path / "gt", tmp_path / "pred")
    assert result.exit_code == 1
    assert f"{tmp_path / 'gt'}: folder cannot be listed" in result.stderr and "no images" not in result.stderr


def test_a_folder_dataset_skips_unreadable_folders_aloud(cli, tmp_path):
    photos = tmp_path / "photos"
    _images(photos, [f"{i}.png" for i in range(6)] + ["locked/x.png"])
    with unlistable(photos / "locked"):
        data = datasets.load(f"folder:{photos}")
        strict = cli("run", "--plugin", "gray", "--dataset", f"folder:{photos}", "--profile", "smoke", "--strict",
                     "--out", tmp_path / "results")
    assert data.card["unreadable_skipped"] == [f"{photos / 'locked'}: folder cannot be listed (Permission denied)"]
    assert data.card["train_count"] + len(data.test) == 6
    assert strict.exit_code == 1
    assert "--strict" in strict.stderr and "locked" in strict.stderr
    assert not (tmp_path / "results").exists()


def test_colorize_names_a_folder_it_cannot_list_and_fails(cli, tmp_path):
    _images(tmp_path / "in", ["a.png", "sub/b.png"])
    with unlistable(tmp_path / "in" / "sub"):
        result = cli("colorize", tmp_path / "in", "--plugin", "gray", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 1, result.output
    report = one_json(result)
    assert [Path(p).name for p in report["written"]] == ["a.png"]
    assert report["failed"][0]["input"] == str(tmp_path / "in" / "sub")
    assert "folder cannot be listed" in result.stderr
