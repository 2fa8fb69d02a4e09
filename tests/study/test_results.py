"""`colorbench study results` on votes whose fooling rates are known by hand."""

import csv

import pytest

from colorbench.files import sha256
from colorbench.study import analysis, storage
from colorbench.study.manifest import open_study
from tests.helpers import one_json, refused


def _pair(study, photo, method, fake):
    """A pair of the study's images with the fake ``fake`` ('first' or 'second')."""
    p = study.photos[photo]
    fake_image = p.vigilance if method is None else p.fakes[method]
    first, second = (fake_image, p.real) if fake == "first" else (p.real, fake_image)
    return {"phase": "vigilance" if method is None else "test", "photo": photo, "method": method, "first": first, "second": second, "fake": fake}


def _take_part(study, token, plan, answers):
    """A participant with this plan, answering ``answers`` (None: never answered)."""
    with storage.connect(study.votes_path) as conn:
        pid = storage.add_participant(conn, token, 0, lambda index: plan)
        for n, answer in enumerate(answers):
            if answer is not None:
                storage.record_vote(conn, pid, n, answer, 100)


@pytest.fixture
def known(study):
    """Four participants, each: alpha twice, beta twice, one vigilance pair (fake shown first).
    Fooled means naming the real one: answering 'second' when the fake came first."""
    opened = open_study(study)
    storage.initialise(opened.votes_path, sha256(study / "study.json"))
    photos = sorted(opened.photos)
    for k, (token, answers) in enumerate({
        "a" * 20: ["second", "first", "first", "first", "first"],   # alpha 1 of 2 fooled, beta 0 of 2; vigilance right
        "b" * 20: ["second", "second", "first", "second", "first"],  # alpha 2 of 2, beta 1 of 2; vigilance right
        "c" * 20: ["second", "second", "second", "second", "second"],  # vigilance missed: excluded
        "d" * 20: ["second", "second", "second", "second", None],  # did not finish: incomplete
    }.items()):
        mine = photos[5 * k : 5 * k + 5]
        plan = [_pair(opened, mine[0], "alpha", "first"), _pair(opened, mine[1], "alpha", "first"),
                _pair(opened, mine[2], "beta", "first"), _pair(opened, mine[3], "beta", "first"), _pair(opened, mine[4], None, "first")]
        _take_part(opened, token, plan, answers)
    return study


def test_the_fooling_rate_is_the_one_counted_by_hand(cli, known):
    found = one_json(cli("study", "results", known, "--json"))
    rates = {row["method"]: row for row in found["methods"]}
    assert rates["alpha"]["fooled"] == 3 / 4 and rates["alpha"]["trials"] == 4 and rates["alpha"]["participants"] == 2
    assert rates["beta"]["fooled"] == 1 / 4 and rates["beta"]["trials"] == 4
    assert found["participants"] == {"started": 4, "counted": 2, "excluded": 1, "incomplete": 1}
    assert found["trials"] == {"counted": 8, "votes": 19, "practice": 0, "vigilance": 3, "vigilance_missed": 1}
    for row in rates.values():
        low, high = row["ci95"]
        assert 0 <= low <= row["fooled"] <= high <= 1
    assert found["ci95"]["resamples"] == 2000 and "participants and photos" in found["ci95"]["method"]
    shown = cli("study", "results", known)
    assert shown.exit_code == 0 and "75.0 %" in shown.stdout and "25.0 %" in shown.stdout
    assert "2 counted, 1 excluded (vigilance), 1 incomplete" in shown.stdout


def test_the_export_holds_every_vote(cli, known, tmp_path):
    out = tmp_path / "votes.csv"
    assert cli("study", "results", known, "--export", out).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 19 and set(rows[0]) == set(analysis.EXPORT_COLUMNS)
    assert {r["status"] for r in rows} == {"counted", "excluded", "incomplete"}
    counted_alpha = [r for r in rows if r["status"] == "counted" and r["method"] == "alpha"]
    assert sum(int(r["fooled"]) for r in counted_alpha) == 3
    refused(cli("study", "results", known, "--export", out), 1, "already exists")  # never overwritten unasked
    refused(cli("study", "results", known, "--export", known / "votes.csv"), 2, "inside")  # nor written into the study


def test_the_bootstrap_resamples_participants_and_photos():
    def votes(fooled_by_person):
        return [{"participant": p, "photo": f"{p}-{i}", "method": "m", "answer": "second" if hit else "first", "fake": "first"}
                for p, hits in enumerate(fooled_by_person) for i, hit in enumerate(hits)]

    (ci, kept), = analysis.bootstrap(votes([[1, 1, 1]] * 5), ["m"]).values()
    assert ci == [1.0, 1.0] and kept == 2000  # no spread, no interval width
    # people who disagree entirely: resampling participants makes the interval wide
    split = analysis.bootstrap(votes([[1] * 20, [0] * 20, [1] * 20, [0] * 20]), ["m"])["m"][0]
    # the same votes, each person agreeing with the others: much narrower
    mixed = analysis.bootstrap(votes([[1, 0] * 10] * 4), ["m"])["m"][0]
    assert split[1] - split[0] > 2 * (mixed[1] - mixed[0])
    assert analysis.bootstrap(votes([[1, 0] * 10] * 4), ["m"]) == analysis.bootstrap(votes([[1, 0] * 10] * 4), ["m"])  # seeded


def test_no_votes_yet(cli, study):
    found = one_json(cli("study", "results", study, "--json"))
    assert [row["fooled"] for row in found["methods"]] == [None, None]
    assert found["participants"]["started"] == 0


def test_votes_of_an_edited_study_are_refused(cli, known):
    manifest = known / "study.json"
    manifest.write_text(manifest.read_text().replace('"title": "', '"title": "edited '))
    refused(cli("study", "results", known), 1, "another version")
    refused(cli("study", "serve", known), 1, "another version")
