"""`colorbench study create`: from folders and from stored results; and a study's rates on the board."""

import json

import numpy as np
from PIL import Image

from colorbench.data.image_reading import load_rgb
from colorbench.reporting import publish
from colorbench.files import sha256
from colorbench.study import storage
from colorbench.study.manifest import open_study
from colorbench.study.plan import make_plan
from tests.helpers import one_json, refused, snapshot
from tests.study.conftest import METHODS, create_study, make_folders


def test_a_study_from_folders_is_seeded_with_opaque_ids(cli, tmp_path):
    first = open_study(create_study(cli, tmp_path / "one", "--seed", "3"))
    again = open_study(create_study(cli, tmp_path / "two", "--seed", "3"))
    other = open_study(create_study(cli, tmp_path / "three", "--seed", "4"))
    assert first.manifest.photos == again.manifest.photos  # the same seed, the same study
    assert [p.source for p in first.manifest.photos] != [p.source for p in other.manifest.photos]
    assert first.methods == list(METHODS) and first.protocol.trials == 28  # 40 photos - 10 practice - 2 vigilance
    assert first.manifest.protocol.presentation == "sequential" and first.protocol.display_ms == 1000
    data = tmp_path / "one" / "data"
    photo = first.manifest.photos[0]
    name = photo.source.removesuffix(".jpg")
    assert (load_rgb(first.image_path(photo.real)) == load_rgb(data / "real" / photo.source)).all()  # decoded, then PNG: lossless
    assert (load_rgb(first.image_path(photo.fakes["beta"])) == load_rgb(data / "beta" / f"{name}.png")).all()
    names = [p.name for p in (first.root / "images").iterdir()]
    assert len(names) == 40 * 4 and not any("p0" in n or "alpha" in n for n in names)  # nothing in a name tells what it is
    vigilance = load_rgb(first.image_path(photo.vigilance)).astype(int)
    assert np.abs(vigilance - load_rgb(first.image_path(photo.real)).astype(int)).mean() > 30  # obviously false colours


def test_side_by_side_is_recorded(cli, tmp_path):
    study = open_study(create_study(cli, tmp_path, "--presentation", "side-by-side", "--display-ms", "2000", "--trials", "5"))
    assert study.protocol.presentation == "side_by_side" and study.protocol.display_ms == 2000 and study.protocol.trials == 5


def test_mistakes_are_one_line_and_write_nothing(cli, tmp_path):
    data = make_folders(tmp_path / "data", photos=14)
    (data / "beta" / "p03.png").unlink()
    before = snapshot(tmp_path)
    base = ["study", "create", "--real", data / "real", "--method", f"alpha={data / 'alpha'}"]
    refused(cli(*base, "--method", f"beta={data / 'beta'}", "--out", tmp_path / "s"), 1, "1 problem", "no beta output")
    refused(cli(*base, "--out", tmp_path / "s", "--trials", "5"), 2, "14 photo(s) cannot hold")  # 10 + 5 + 2 > 14
    refused(cli(*base, "--out", data / "real" / "s"), 2, "lies inside")  # never inside an input
    refused(cli(*base, "--out", data), 2, "already exists")  # never over a folder
    refused(cli(*base, "--method", f"alpha={data / 'beta'}", "--out", tmp_path / "s"), 2, "twice")
    refused(cli(*base, "--results", tmp_path, "--out", tmp_path / "s"), 2, "one of them")
    refused(cli("study", "create", "--real", data / "real", "--method", "Alpha=x", "--out", tmp_path / "s"), 2, "lower-case")
    Image.new("RGB", (64, 48), (9, 9, 9)).save(data / "alpha" / "p04.png")  # a grayscale output is fine; a damaged one is not
    (data / "alpha" / "p05.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    refused(cli(*base, "--out", tmp_path / "s", "--trials", "1"), 1, "p05", "no study made")
    assert snapshot(tmp_path) == before | {"data/alpha/p04.png": snapshot(tmp_path)["data/alpha/p04.png"], "data/alpha/p05.png": b"\x89PNG\r\n\x1a\n broken"}


def test_a_study_from_stored_results_goes_on_the_board(cli, tmp_path):
    results = tmp_path / "results"
    assert cli("run", "--plugin", "gray", "--profile", "smoke", "--metrics", "psnr", "--out", results).exit_code == 0
    run = json.loads(next(results.glob("*.json")).read_text())
    made = cli("study", "create", "--results", results, "--methods", "gray", "--out", tmp_path / "study", "--images", "30", "--json")
    assert made.exit_code == 0, made.output
    study = open_study(tmp_path / "study")
    assert study.manifest.source["dataset"] == "builtin" and study.manifest.methods[0].run_id == run["run_id"]
    assert len(study.manifest.photos) == run["protocol"]["dataset"]["scored"]  # every builtin test crop (fewer than 30)
    photo = study.manifest.photos[0]
    real, fake = load_rgb(study.image_path(photo.real)), load_rgb(study.image_path(photo.fakes["gray"]))
    assert real.shape == fake.shape == (64, 64, 3) and np.ptp(fake.astype(int), axis=2).max() <= 1  # gray's: no chroma

    storage.initialise(study.votes_path, sha256(study.root / "study.json"))
    with storage.connect(study.votes_path) as conn:  # one participant, fooled on every third pair
        plan = make_plan(study, 0, 7)
        pid = storage.add_participant(conn, "t" * 20, 7, lambda index: plan)
        for n, trial in enumerate(plan):
            fooled = trial["phase"] == "test" and n % 3 == 0
            storage.record_vote(conn, pid, n, trial["fake"] if not fooled else ("second" if trial["fake"] == "first" else "first"), 100)
    found = one_json(cli("study", "results", tmp_path / "study", "--attach", results, "--json"))
    (attached,) = found["attached"]
    rate = found["methods"][0]["fooled"]
    board = cli("leaderboard", "--results", results, "--format", "markdown")
    assert board.exit_code == 0, board.output
    assert "fooled %" in board.stdout and f"| {100 * rate:.0f} % (" in board.stdout and "1 person, 12 trials" in board.stdout
    rows = one_json(cli("leaderboard", "--results", results, "--json"))["groups"][0]["rows"]
    assert [r["fooled"] for r in rows] == [rate]
    assert json.loads(open(attached).read())["judged"]["run_id"] == run["run_id"]
    assert "fooled % (people)" in publish.build(tmp_path)  # the published board (tmp_path/results)
