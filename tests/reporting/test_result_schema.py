"""Result files: schema 2, one writer (`results.dumps`) and one reader
(`results.parse`, typed), schema-1 files migrated on read with every value untouched."""

import json
from pathlib import Path

import pytest

from colorbench.reporting import results
from colorbench.reporting.schemas import SchemaError
from colorbench.scoring.builtin_metrics import BY_NAME
from tests.conftest import ROOT

STORED = sorted((ROOT / "leaderboard" / "results").glob("*.json"))
SCHEMA_1 = Path(__file__).with_name("schema1_result.json")  # a board result as schema 1 wrote it (gray, builtin)


@pytest.fixture
def schema_1() -> dict:
    raw = json.loads(SCHEMA_1.read_bytes())
    assert raw["schema_version"] == 1 and "kind" not in raw["protocol"]["metrics"]["psnr"]
    return raw


def test_a_stored_schema_1_result_is_read_as_schema_2_with_its_values_untouched(schema_1):
    result = results.parse(json.dumps(schema_1).encode())
    assert result.schema_version == results.SCHEMA_VERSION == 2
    for name, record in result.protocol.metrics.items():
        assert record.model_dump() == {**BY_NAME[name].record(), **schema_1["protocol"]["metrics"][name]}  # what it said is kept
    assert result.protocol.metrics["delta_colourfulness"].kind == "set"
    assert result.protocol.metrics["colourfulness"].title == "CF"
    assert result.metrics == schema_1["metrics"] and result.ci95 == schema_1["ci95"]
    assert {"id": result.per_image.id, **result.per_image.model_extra} == schema_1["per_image"]
    assert (result.plugin.name, result.plugin.parameters) == (schema_1["plugin"]["name"], schema_1["plugin"]["parameters"])
    assert result.plugin.config == schema_1["plugin"]["config"]  # fields no model names are kept too


def test_what_the_writer_writes_the_reader_reads_back_unchanged(schema_1):
    migrated = results.parse(json.dumps(schema_1).encode())
    assert results.parse(results.dumps(migrated.model_dump(mode="json"))) == migrated


def test_every_stored_result_is_read(tmp_path):
    warnings = []
    found = results.read_all(ROOT / "leaderboard" / "results", warn=warnings.append)
    assert warnings == [] and len(found) == len(STORED)
    assert {r.schema_version for r in found} == {2} and all(r.per_image is not None and r._path for r in found)  # kept: a group's intervals need them


def _refused(result: dict, *words: str) -> None:
    with pytest.raises(SchemaError) as refused:
        results.parse(json.dumps(result).encode())
    assert all(word in str(refused.value) for word in words), str(refused.value)


def test_a_schema_2_metric_record_must_say_what_schema_2_records_say(schema_1):
    result = results.migrate(schema_1)
    del result["protocol"]["metrics"]["psnr"]["kind"]
    _refused(result, "protocol.metrics.psnr.kind", "Field required")


def test_a_schema_it_does_not_know_is_refused(schema_1):
    _refused({**schema_1, "schema_version": 3}, "schema_version")


def test_a_builtin_metrics_range_is_its_declarations_whatever_the_file_says(schema_1):
    result = results.migrate(schema_1)
    result["protocol"]["metrics"]["psnr"]["valid_range"] = [0.0, 1e9]
    result["metrics"]["psnr"] = 1000.0
    _refused(result, "metrics.psnr", "outside")


@pytest.mark.parametrize("value, read", [(0.5, True), (2.5, False), (-1.0, False)])
def test_another_metrics_values_are_checked_against_the_range_it_recorded(schema_1, value, read):
    result = results.migrate(schema_1)
    record = {**BY_NAME["ssim"].record(), "name": "plugin_metric", "title": "plugin", "kind": "set", "valid_range": [0.0, 2.0]}
    result["protocol"]["metrics"]["plugin_metric"] = record
    result["metrics"]["plugin_metric"] = value
    if read:
        assert results.parse(json.dumps(result).encode()).metrics["plugin_metric"] == value
    else:
        _refused(result, "metrics.plugin_metric", "outside what plugin_metric can be (0 to 2)")


def test_json_that_is_no_result_is_said_to_be_none(tmp_path):
    with pytest.raises(results.NotAResult):
        results.parse(b'{"hello": 1}')
    Path(tmp_path / "a.json").write_text("[1, 2]")
    warnings = []
    assert results.read_all(tmp_path, warn=warnings.append) == []
    assert warnings == [f"skipping {tmp_path / 'a.json'}: not a colorbench result file"]
