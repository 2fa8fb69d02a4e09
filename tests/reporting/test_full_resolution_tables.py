"""Tables of a published protocol (test images at 256 px, methods at their own
working size): one table for every method and every submitted system scored on
those images, each method's working size named in its row."""

import json

from colorbench.reporting import results, tables
from tests.conftest import ROOT


def _run(name: str, size: int, test_size: int | None) -> object:
    stored = json.loads(next((ROOT / "leaderboard" / "results").glob("*-gray-builtin-*.json")).read_text())
    stored["plugin"]["name"] = name
    stored["protocol"]["dataset"] |= {"name": "imagenet:val5k", "size": size} | ({"test_size": test_size} if test_size else {})
    stored["created"] = f"2026-12-02T00:00:{size % 60:02d}+00:00"
    return results.parse(json.dumps(stored).encode())


def test_methods_of_any_working_size_share_the_table_of_the_test_images():
    key64, key32 = (tables.protocol_key(_run("m", s, 256)) for s in (64, 32))
    assert key64 == key32 and "256x256 px, full resolution" in key64
    frame = tables.frame([_run("a", 64, 256), _run("b", 32, 256)])
    assert sorted(frame["method"]) == ["a (64 px)", "b (32 px)"]


def test_test_images_at_the_working_size_keep_their_table():
    assert "64x64 px ·" in tables.protocol_key(_run("m", 64, 64))
    assert tables.protocol_key(_run("m", 64, 64)) == tables.protocol_key(_run("m", 64, None))  # results from before test_size
    assert tables.protocol_key(_run("m", 64, 256)) != tables.protocol_key(_run("m", 64, 64))
