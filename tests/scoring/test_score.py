"""colorbench score: any folder of colourizations against ground truth, as `run` scores."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import one_json, write_png


def _strict_json(result) -> dict:
    """The one JSON object on stdout; Infinity/NaN (not JSON) would raise here."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout

    def refuse(constant):
        raise AssertionError(f"{constant} in JSON output")

    return json.loads(lines[0], parse_constant=refuse)


def _photo(rng, h=32, w=32) -> np.ndarray:
    """A smooth colour image with some texture."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * x + c) * 0.5 + 0.5 for c in rng.uniform(0, 6, 3)], -1) * 180
    return np.clip(base + rng.normal(0, 20, (h, w, 3)) + 30, 0, 255).astype(np.uint8)


def _zero_chroma(rgb: np.ndarray) -> np.ndarray:
    """What `run`'s gray baseline outputs: the image's L with a = b = 0, as 8-bit RGB."""
    from colorbench.lab import normalized_to_rgb, rgb_to_normalized
    from colorbench.scoring.metrics import to_uint8

    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
    L, ab = rgb_to_normalized(x)
    return to_uint8(normalized_to_rgb(L, torch.zeros_like(ab)))[0].permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """root/train, root/test (two classes, one grayscale image), and zero-chroma predictions."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        write_png(root / "train" / f"t{i}.png", _photo(rng))
    for i in range(6):
        write_png(root / "test" / ("cats" if i % 2 else "dogs") / f"{i}.png", _photo(rng))
    gray = _photo(rng)[..., :1].repeat(3, axis=2)
    write_png(root / "test" / "dogs" / "gray.png", gray)
    pred = root / "pred"
    for path in sorted((root / "test").rglob("*.png")):
        rgb = np.array(Image.open(path).convert("RGB"))
        write_png(pred / path.relative_to(root / "test"), _zero_chroma(rgb))
    return root


def test_zero_chroma_folder_scores_as_runs_gray_baseline(cli, folders, tmp_path):
    run = cli("run", "--plugin", "gray", "--dataset", f"folder:{folders}", "--profile", "smoke",
              "--no-baseline", "--out", tmp_path / "results", "--json")
    assert run.exit_code == 0, run.output
    (gray,) = one_json(run)["results"]
    stored = json.loads(Path(gray["file"]).read_text())
    result = cli("score", folders / "test", folders / "pred", "--json", "--out", tmp_path / "score.json")
    assert result.exit_code == 0, result.output
    scored = _strict_json(result)
    assert scored["protocol"]["dataset"]["scored"] == 6 == stored["protocol"]["dataset"]["scored"]
    assert scored["protocol"]["dataset"]["excluded_ids"] == ["dogs/gray.png"] == stored["protocol"]["dataset"]["excluded_ids"]
    per_image = json.loads((tmp_path / "score.json").read_text())["per_image"]
    assert per_image["id"] == stored["per_image"]["id"]  # the same ids as `run` on folder:PATH
    for name in ("psnr", "ssim", "lpips", "colourfulness", "mean_abs_delta_colourfulness"):
        tol = 1e-6 if name == "lpips" else 1e-9  # LPIPS is float32: batch composition moves the 7th digit
        np.testing.assert_allclose(per_image[name], stored["per_image"][name], rtol=0, atol=tol)
        assert scored["metrics"][name] == pytest.approx(stored["metrics"][name], abs=tol)
        assert scored["ci95"][name] == pytest.approx(stored["ci95"][name], abs=tol)
    assert "per_image" not in scored  # --json prints the summary; --out keeps every value


def test_a_folder_against_itself(cli, folders):
    scored = _strict_json(cli("score", folders / "test", folders / "test", "--json"))
    assert scored["metrics"]["psnr"] is None and scored["ci95"]["psnr"] is None  # +inf is not a number
    assert scored["left_out_of_mean"]["psnr"]["count"] == 6
    assert scored["metrics"]["ssim"] == 1 and scored["metrics"]["lpips"] == 0
    assert scored["metrics"]["delta_colourfulness"] == 0 and scored["metrics"]["mean_abs_delta_colourfulness"] == 0


def test_pairs_by_path_without_suffix_at_every_size(cli, tmp_path):
    rng = np.random.default_rng(1)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    shapes = [(32, 48), (40, 32), (32, 48), (8, 9)]  # the last is too small for LPIPS: none is computed
    for i, (h, w) in enumerate(shapes):
        image = _photo(rng, h, w)
        gt.mkdir(exist_ok=True)
        Image.fromarray(image).save(gt / f"{i}.bmp")
        noisy = np.clip(image.astype(int) + rng.integers(-9, 10, image.shape), 0, 255).astype(np.uint8)
        write_png(pred / f"{i}.png", noisy)
    scored = _strict_json(cli("score", gt, pred, "--json"))
    assert scored["protocol"]["dataset"]["scored"] == 4
    assert scored["protocol"]["dataset"]["sizes"] == ["32x40", "48x32", "9x8"]
    assert scored["metrics"]["lpips"] is None and "31" in scored["not_computed"]["lpips"]
    assert 25 < scored["metrics"]["psnr"] < 40


def _problem_folders(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for i in range(3):
        image = _photo(rng)
        write_png(gt / f"{i}.png", image)
        write_png(pred / f"{i}.png", image)
    if kind in ("missing", "all"):
        (pred / "0.png").unlink()
    if kind in ("extra", "all"):
        write_png(pred / "sub" / "stray.png", _photo(rng))
    if kind in ("size_mismatch", "all"):
        write_png(pred / "1.png", _photo(rng, 32, 33))
    if kind in ("unreadable", "all"):
        (gt / "2.png").write_bytes(b"not a png")
    if kind == "ambiguous":
        write_png(pred / "1.jpg", _photo(rng))
    return gt, pred


@pytest.mark.parametrize("kind", ["missing", "extra", "size_mismatch", "unreadable", "ambiguous"])
def test_each_problem_is_listed_and_nothing_is_scored(cli, tmp_path, kind):
    gt, pred = _problem_folders(tmp_path, kind)
    result = cli("score", gt, pred, "--out", tmp_path / "out.json")
    assert result.exit_code == 1
    assert kind.replace("_", " ") in result.stderr
    assert "nothing scored" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "out.json").exists()
    assert result.stdout == ""


def test_every_problem_at_once_in_one_json_object(cli, tmp_path):
    gt, pred = _problem_folders(tmp_path, "all")
    result = cli("score", gt, pred, "--json", "--out", tmp_path / "out.json")
    assert result.exit_code == 1
    report = _strict_json(result)
    problems = report["problems"]
    assert set(problems) == {"missing", "extra", "size_mismatch", "unreadable"}
    assert "0.png" in problems["missing"][0] and "stray.png" in problems["extra"][0]
    assert problems["size_mismatch"] == [f"1.png: ground truth 32x32, prediction 33x32 ({pred / '1.png'})"]
    assert str(gt / "2.png") in problems["unreadable"][0]
    assert report["exit_code"] == 1 and "4 problem(s)" in report["error"]
    assert not (tmp_path / "out.json").exists()


def test_missing_folder_is_a_usage_error(cli, tmp_path):
    result = cli("score", tmp_path / "nope", tmp_path)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_a_grayscale_ground_truth_is_named_and_strict_refuses_it(cli, folders, tmp_path):
    loose = cli("score", folders / "test", folders / "pred")
    assert loose.exit_code == 0, loose.output
    assert "1 grayscale ground-truth image(s) excluded from scoring: dogs/gray.png" in loose.stdout
    strict = cli("score", folders / "test", folders / "pred", "--strict", "--out", tmp_path / "out.json")
    assert strict.exit_code == 1
    assert "--strict: 1 ground-truth image(s) would not be scored" in strict.stderr and "dogs/gray.png" in strict.stderr
    assert strict.stdout == "" and not (tmp_path / "out.json").exists()


def test_strict_scores_when_every_image_is_scored(cli, tmp_path):
    gt, pred = _problem_folders(tmp_path, "none")
    scored = _strict_json(cli("score", gt, pred, "--strict", "--json"))
    assert scored["protocol"]["dataset"]["scored"] == 3 and scored["protocol"]["dataset"]["excluded"] == 0


# ------------------------------------------------------------------ decoding in worker processes
def _mixed_folders(root: Path) -> tuple[Path, Path]:
    """Pairs of three sizes (several batches of each under a small budget), a grayscale
    truth (left out) and one image large enough to be scored in tiles."""
    rng = np.random.default_rng(3)
    gt, pred = root / "gt", root / "pred"
    shapes = [(32, 40)] * 7 + [(48, 36)] * 5 + [(64, 64)] * 2 + [(200, 300)]
    for i, (h, w) in enumerate(shapes):
        image = _photo(rng, h, w)
        if i == 3:
            image = image[..., :1].repeat(3, axis=2)
        write_png(gt / f"{i:02d}.png", image)
        write_png(pred / f"{i:02d}.png", np.clip(image.astype(int) + rng.integers(-30, 31, image.shape), 0, 255).astype(np.uint8))
    return gt, pred


def test_workers_give_the_same_result_to_the_last_digit(tmp_path):
    from colorbench.scoring import folder_scoring

    gt, pred = _mixed_folders(tmp_path)
    # batches of at most 4 images of 32 x 40, the 200 x 300 image in tiles
    runs = [
        folder_scoring.score_folders(gt, pred, device=torch.device("cpu"), batch_pixels=4 * 32 * 40, max_pixels=250 * 250, workers=workers)
        for workers in (0, 2)
    ]
    for scored in runs:
        del scored["seconds"]
    assert runs[0] == runs[1]
    assert runs[0]["scored"] == 14 and runs[0]["excluded"]["ids"] == ["03.png"] and runs[0]["per_image"]["id"][-1] == "14.png"


def test_workers_on_the_command_line(cli, tmp_path):
    gt, pred = _mixed_folders(tmp_path)
    stored = []
    for workers in (0, 2):
        result = cli("score", gt, pred, "--workers", workers, "--json", "--out", tmp_path / f"{workers}.json")
        assert result.exit_code == 0, result.output
        stored.append(json.loads((tmp_path / f"{workers}.json").read_text()))
    assert stored[0]["per_image"] == stored[1]["per_image"] and stored[0]["metrics"] == stored[1]["metrics"]
    refused = cli("score", gt, pred, "--workers", -1)
    assert refused.exit_code == 2 and "--workers" in refused.stderr and "Traceback" not in refused.output


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_changed_after_checking_is_one_line_with_workers(cli, tmp_path, monkeypatch, workers):
    from colorbench.scoring import folder_scoring

    gt, pred = _mixed_folders(tmp_path)
    check = folder_scoring.load

    def check_then_truncate(*args, **kwargs):
        loaded = check(*args, **kwargs)
        (pred / "09.png").write_bytes((pred / "09.png").read_bytes()[:120])  # after checking, before scoring
        return loaded

    monkeypatch.setattr(folder_scoring, "load", check_then_truncate)
    result = cli("score", gt, pred, "--workers", workers, "--out", tmp_path / "out.json")
    assert result.exit_code == 1 and result.stdout == "" and not (tmp_path / "out.json").exists()
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"Error: {pred / '09.png'}: damaged image") and "changed while being scored?" in result.stderr


def test_every_problem_is_listed_before_scoring_with_workers(tmp_path):
    from colorbench.scoring import folder_scoring

    gt, pred = _problem_folders(tmp_path, "all")
    for workers in (0, 2):
        with pytest.raises(folder_scoring.ScoreProblems) as refused:
            folder_scoring.score_folders(gt, pred, device=torch.device("cpu"), workers=workers)
        assert refused.value.problems.as_dict().keys() == {"missing", "extra", "size_mismatch", "unreadable"}


def test_runs_evaluation_reads_the_test_set_in_workers_to_the_same_numbers(tmp_path):
    from colorbench import plugins
    from colorbench.data import datasets
    from colorbench.errors import UserError
    from colorbench.scoring.evaluate import evaluate

    rng = np.random.default_rng(4)
    for i in range(5):
        write_png(tmp_path / "train" / f"t{i}.png", _photo(rng, 40, 40))
    for i in range(9):
        write_png(tmp_path / "test" / f"{i}.png", _photo(rng, 40, 48))
    data = datasets.load(f"folder:{tmp_path}", size=32)
    colorizer = plugins.get_colorizer("gray")(size=32)
    runs = [evaluate(colorizer, data.test, batch_size=4, n_samples=1, workers=workers) for workers in (0, 2)]
    for scored in runs:
        del scored["seconds"]
    assert runs[0] == runs[1] and runs[0]["scored"] == 9
    (tmp_path / "test" / "6.png").write_bytes(b"")
    with pytest.raises(UserError) as changed:
        evaluate(colorizer, data.test, batch_size=4, n_samples=1, workers=2)
    assert str(changed.value) == f"{tmp_path / 'test' / '6.png'}: empty file (0 bytes) (it was readable when the dataset was loaded: changed during the run?)"
