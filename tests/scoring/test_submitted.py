"""Outside systems on the board: `colorbench export` hands out a dataset's test
images, and `colorbench score GT PRED --dataset D --name N --paper P` turns
another system's outputs into a row of D's table, after checking them against
D's test set."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from colorbench.data import datasets
from colorbench.scoring.metrics import to_uint8
from tests.helpers import one_json

PAPER = 'Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual Decoders", ICCV 2023'


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from typer.testing import CliRunner

    from colorbench.cli import app

    root = tmp_path_factory.mktemp("export") / "builtin"
    result = CliRunner().invoke(app, ["export", "builtin", "--size", "32", "--out", str(root)])
    assert result.exit_code == 0, result.output
    return root


def _outputs(exported, tmp_path, change=lambda rgb: rgb):
    """A system's outputs: the ground truth, made a little warmer (or as ``change`` says)."""
    out = tmp_path / "outputs"
    for path in (exported / "ground_truth").rglob("*.png"):
        target = out / path.relative_to(exported / "ground_truth")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(change(np.array(Image.open(path)))).save(target)
    return out


def warmer(rgb):
    return np.clip(rgb.astype(int) + [12, 0, -12], 0, 255).astype(np.uint8)


def _score(cli, exported, outputs, out, *extra):
    return cli("score", exported / "ground_truth", outputs, "--dataset", "builtin", "--size", "32", "--name", "warm_system",
               "--paper", PAPER, "--out", out, "--metrics", "psnr,ssim,colourfulness_gt", *extra)


def test_export_writes_the_ground_truth_and_the_gray_inputs(exported):
    data = datasets.load("builtin", size=32)
    for rgb, image_id in data.test:
        truth = np.array(Image.open(exported / "ground_truth" / f"{image_id}.png"))
        assert np.array_equal(truth, to_uint8(rgb).permute(1, 2, 0).numpy())
        gray = Image.open(exported / "gray" / f"{image_id}.png")
        assert gray.mode == "L" and gray.size == (32, 32)
    assert len(list((exported / "gray").rglob("*.png"))) == len(data.test)


def test_export_never_writes_into_an_existing_folder(cli, exported):
    r = cli("export", "builtin", "--size", "32", "--out", exported)
    assert r.exit_code == 1 and "already exists" in r.output


def test_a_systems_outputs_become_a_row_of_the_datasets_table(cli, exported, tmp_path):
    board = tmp_path / "board"
    out = one_json(_score(cli, exported, _outputs(exported, tmp_path, warmer), board / "results", "--json"))
    assert out["kind"] == "submitted" and out["plugin"] == {"name": "warm_system", "paper": PAPER}
    assert out["protocol"]["dataset"]["name"] == "builtin" and out["protocol"]["dataset"]["scored"] == 24
    assert 20 < out["metrics"]["psnr"] < 60
    # its ab joined with the truth's L: the warm tint's lightness change is not scored; the outputs as sent are
    assert out["native_output"]["metrics"]["lightness_error"] > 0.5

    ran = cli("run", "--plugin", "gray", "--profile", "smoke", "--size", "32", "--out", board / "results", "--metrics", "psnr,ssim,colourfulness_gt")
    assert ran.exit_code == 0, ran.output
    assert cli("leaderboard", "--write", "--board", board).exit_code == 0
    text = (board / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| warm\\_system"))
    assert "submitted outputs" in row and "Kang et al." in row
    tables = [line for line in text.splitlines() if line.startswith("### builtin")]
    assert len(tables) == 1  # one table: the system and colorbench's methods side by side
    assert "colorbench score GT PRED --dataset builtin --size 32 --name warm_system" in text
    assert cli("leaderboard", "--check", "--board", board).exit_code == 0

    again = _score(cli, exported, _outputs(exported, tmp_path / "second", lambda rgb: rgb), board / "results")
    assert again.exit_code == 0, again.output  # another submission: the board is stale until rewritten
    assert cli("leaderboard", "--check", "--board", board).exit_code == 1


def test_ground_truth_that_is_not_the_datasets_is_refused(cli, exported, tmp_path):
    gt = tmp_path / "gt"
    shutil.copytree(exported / "ground_truth", gt)
    image = gt / "chelsea" / "r0c0.png"
    rgb = np.array(Image.open(image))
    rgb[0, 0] ^= 1
    Image.fromarray(rgb).save(image)
    (gt / "chelsea" / "r0c1.png").unlink()
    Image.fromarray(rgb).save(gt / "extra.png")
    outputs = _outputs(exported, tmp_path)
    r = cli("score", gt, outputs, "--dataset", "builtin", "--size", "32", "--name", "x_system", "--paper", PAPER, "--out", tmp_path / "res", "--json")
    problems = json.loads(r.stdout)["problems"]
    assert r.exit_code == 1
    assert [p.split(":")[0] for p in problems["not_the_protocols"]] == [str(image)]
    assert [p.split(":")[0] for p in problems["not_in_ground_truth"]] == ["chelsea/r0c1"]
    assert any("extra.png" in p for p in problems["extra"])
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").glob("*.json"))  # nothing written


def test_a_missing_output_is_named(cli, exported, tmp_path):
    outputs = _outputs(exported, tmp_path)
    (outputs / "stereo_motorcycle" / "r1c1.png").unlink()
    r = _score(cli, exported, outputs, tmp_path / "res")
    assert r.exit_code == 1 and "1 missing" in r.stderr and "stereo_motorcycle/r1c1" in r.stderr


@pytest.mark.parametrize("args, says", [
    (["--name", "Warm System", "--paper", PAPER], "lower-case letters"),
    (["--name", "unet_cgan", "--paper", PAPER], "is a colorbench method"),
    (["--name", "warm", "--paper", "TODO"], "does not cite a paper"),
    (["--name", "warm"], "--paper"),
])
def test_a_system_needs_a_good_name_and_a_paper(cli, exported, tmp_path, args, says):
    r = cli("score", exported / "ground_truth", exported / "ground_truth", "--dataset", "builtin", "--size", "32", *args, "--out", tmp_path)
    assert r.exit_code == 2 and says in r.output


def test_name_and_paper_without_a_dataset_are_a_usage_error(cli, exported):
    r = cli("score", exported / "ground_truth", exported / "ground_truth", "--name", "warm")
    assert r.exit_code == 2 and "pass --dataset too" in r.output


@settings(max_examples=8, deadline=None)
@given(image=st.integers(0, 23), y=st.integers(0, 31), x=st.integers(0, 31), channel=st.integers(0, 2), step=st.sampled_from([-1, 1]))
def test_any_one_value_changed_in_the_ground_truth_is_refused(exported, tmp_path_factory, image, y, x, channel, step):
    """Not one case: a ground truth off by one level in any value of any image is named."""
    from typer.testing import CliRunner

    from colorbench.cli import app

    tmp = tmp_path_factory.mktemp("changed")
    gt = tmp / "gt"
    shutil.copytree(exported / "ground_truth", gt)
    path = sorted(gt.rglob("*.png"))[image]
    rgb = np.array(Image.open(path)).astype(int)
    rgb[y, x, channel] = rgb[y, x, channel] + step if 0 <= rgb[y, x, channel] + step <= 255 else rgb[y, x, channel] - step
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    r = CliRunner().invoke(app, ["score", str(gt), str(exported / "ground_truth"), "--dataset", "builtin", "--size", "32", "--name", "x_system",
                                 "--paper", PAPER, "--out", str(tmp / "res"), "--metrics", "psnr", "--json"])
    assert r.exit_code == 1
    assert [p.split(":")[0] for p in json.loads(r.stdout)["problems"]["not_the_protocols"]] == [str(path)]
