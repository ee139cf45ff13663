from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mlspec.files.errors import SpecError
from mlspec.records import record

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "record.schema.json"
HEX = "ab" * 20
FULL = {
    "apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "2026.12.1",
    "artifact": {"uri": "s3://models/fraud/2026.12.1/model.joblib", "path": "out/model.joblib",
                 "signatureBundle": "s3://models/fraud/2026.12.1/model.sig"},
    "format": "sklearn", "runId": "kubeflow:run-7",
    "code": {"repo": "https://git.example/risk/fraud", "commit": HEX},
    "data": {"uri": "s3://data/tx", "version": "2026-11-30T00:00:00Z", "digest": "sha256:" + "1" * 64},
    "seed": 42,
    "environment": {"image": "registry.example/trainer@sha256:" + "2" * 64, "lockfileDigest": "sha256:" + "3" * 64},
    "features": {"pipelineVersion": "fp-18", "schemaDigest": "sha256:" + "4" * 64},
}


def _errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        record.load(text.encode(), "record.json")
    return [str(d) for d in info.value.diagnostics]


def test_committed_schema_matches_the_model():
    assert COMMITTED.read_text() == record.schema_text(), \
        "schemas/record.schema.json drifted: run `mlspec schema --record -o schemas/record.schema.json`"


def test_schema_is_draft_07_strict_and_accepts_a_full_record():
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert list(validator.iter_errors(FULL)) == []
    assert [e.message for e in validator.iter_errors({**FULL, "sed": 1})] == \
        ["Additional properties are not allowed ('sed' was unexpected)"]
    assert all(d.get("additionalProperties") is False for d in schema["definitions"].values())
    assert schema["required"] == ["apiVersion", "kind"]  # pins may come from flags instead


def test_full_record_flattens_to_every_pin():
    loaded = record.flatten(record.load(json.dumps(FULL).encode(), "record.json"))
    assert set(loaded) == set(record.PIN_BY_KEY)
    assert loaded["features.schemaDigest"] == "sha256:" + "4" * 64 and loaded["seed"] == 42


def test_every_pin_names_a_spec_field_and_a_record_key_the_schema_has():
    schema = record.schema()
    for pin in record.PINS:
        head, _, tail = pin.key.partition(".")
        node = schema["properties"][head]
        if tail:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]["properties"][tail]
        assert node["description"], pin.key


def test_errors_are_positioned_in_the_record_file():
    text = ('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord",\n'
            ' "seed": "42",\n'
            ' "code": {"commit": "main", "branch": "x"}}\n')
    assert _errors(text) == [
        "record.json:2:10: error: `seed`: expected an integer, got string '42'",
        "record.json:3:21: error: `code.commit`: 'main' is not a full commit id "
        "(40 or 64 lowercase hex digits; a branch or tag moves)",
        "record.json:3:29: error: unknown field `branch` in `code`; allowed here: commit, repo",
    ]


def test_json_syntax_duplicates_and_constants_are_refused_with_positions():
    assert _errors('{"apiVersion": "mlspec.dev/v1alpha1",\n  "kind": }') == \
        ["record.json:2:11: error: invalid JSON: Expecting value"]
    assert _errors('{"kind": "TrainingRecord",\n "kind": "TrainingRecord"}') == \
        ["record.json:2:2: error: duplicate key `kind` (first defined at line 1)"]
    assert _errors('{"kind": "TrainingRecord",\n "seed": -Infinity}') == \
        ["record.json:2:10: error: invalid JSON: -Infinity is not a JSON number"]
    assert _errors("[1, 2]") == ["record.json:1:1: error: a TrainingRecord is a JSON object, not list"]


def test_json_numbers_are_json_numbers_not_yaml_guesses():
    # YAML 1.1 reads 1e3 as a string; JSON says it is a number (a float, so not a seed)
    assert _errors('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "seed": 1e3}') == \
        ["record.json:1:73: error: `seed`: expected an integer, got number 1000.0"]


def test_wrong_kind_names_the_expected_one():
    assert _errors('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "ModelDeployment"}') == [
        "record.json:1:47: error: `kind`: string 'ModelDeployment' is not one of 'TrainingRecord'"]
