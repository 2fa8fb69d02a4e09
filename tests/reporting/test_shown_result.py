"""A command's result is the one reader's typed result of what it stores
(`results.as_read`), and ``--json`` shows exactly what the file holds
(`Result.shown`): same keys, same values, an integer still an integer."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from colorbench.errors import UserError
from colorbench.reporting import results
from colorbench.reporting.schemas import DivergedRun, ScoredRun
from tests.conftest import ROOT

STORED = sorted((ROOT / "leaderboard" / "results").glob("*.json"))


def _as_json(value) -> str:
    return json.dumps(value, sort_keys=True)  # key order aside, every value and its type


def _stored(result: dict, file: str) -> dict:
    """What ``--json`` printed of a result before it was typed: the dict, per-image values aside, with its file."""
    return {**{k: v for k, v in result.items() if k != "per_image"}, "file": file}


@pytest.mark.parametrize("path", STORED, ids=lambda p: p.stem)
def test_a_stored_result_is_shown_as_its_file_holds_it(path):
    result = results.migrate(json.loads(path.read_bytes()))
    typed = results.as_read(result, path)
    assert isinstance(typed, ScoredRun) and typed._path == str(path)
    assert _as_json(typed.shown()) == _as_json(_stored(result, str(path)))


def _a_result() -> dict:
    return results.migrate(json.loads(STORED[0].read_bytes()))


@pytest.fixture
def stored() -> dict:
    return _a_result()


@settings(max_examples=30, deadline=None)
@given(
    flops=st.integers(0, 2**53) | st.floats(0, 1e15),
    psnr=st.floats(0, 400),
    seconds=st.floats(0, 1e6),  # the writer's seconds are floats; an int there would be read as a float
    valid_range=st.tuples(st.integers(-10, 0), st.integers(1, 10) | st.floats(1, 10)),
    extra=st.dictionaries(st.text(max_size=5), st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.none(), max_size=3),
)
def test_every_number_is_shown_as_stored(flops, psnr, seconds, valid_range, extra):
    result = _a_result()
    result["speed"]["flops_per_image"] = flops
    result["metrics"]["psnr"] = psnr
    result["training"]["seconds"] = seconds
    result["plugin"]["config"] = extra
    result["protocol"]["metrics"]["psnr"]["valid_range"] = list(valid_range)  # a plugin metric's may be ints
    shown = results.as_read(result, "r.json").shown()
    assert _as_json(shown) == _as_json(_stored(result, "r.json"))
    assert type(shown["speed"]["flops_per_image"]) is type(flops)
    assert list(map(type, shown["protocol"]["metrics"]["psnr"]["valid_range"])) == list(map(type, valid_range))


def test_a_diverged_run_is_read_through_attributes(stored):
    del stored["protocol"]["dataset"]["scored"]  # never scored
    stored |= {"status": "diverged", "diverged": {"step": 3, "phase": "G", "reason": "loss is nan"}}
    typed = results.as_read(stored, "d.json")
    assert isinstance(typed, DivergedRun)
    assert (typed.diverged.step, typed.diverged.phase, typed.diverged.reason) == (3, "G", "loss is nan")
    assert typed.shown()["diverged"] == stored["diverged"]


def test_a_result_not_written_shows_no_file(stored):  # `score` without --out
    typed = results.as_read(stored)
    assert typed._path == "" and "file" not in typed.shown()


def test_a_result_the_reader_would_refuse_is_one_line_naming_it(stored):
    stored["metrics"]["ssim"] = 7.0  # outside what SSIM can be
    with pytest.raises(UserError) as refused:
        results.as_read(stored, "x.json")
    message = str(refused.value)
    assert "x.json" in message and "metrics.ssim" in message and "\n" not in message
