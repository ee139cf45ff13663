from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mlspec.files.errors import PathError, SpecError
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


# Issue 28: a record is read within a spec's limits, each at its boundary (the limit passes,
# one past it is refused with a position), never an internal error.
HEAD = '{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord",\n'


def test_a_number_of_100_characters_is_read_and_101_is_refused_positioned():
    assert _errors(HEAD + ' "seed": ' + "1" * 100 + "}")[0].startswith("record.json:2:10: error: `seed`: input should be")
    assert _errors(HEAD + ' "seed": ' + "1" * 101 + "}") == [
        "record.json:2:10: error: a number of 101 characters; a number may have at most 100 (quote it if it is text)"]
    assert _errors(HEAD + ' "seed": -' + "1" * 99 + "}")[0].startswith("record.json:2:10: error: `seed`: input should be")
    assert _errors(HEAD + ' "seed": 1.' + "0" * 98 + "}")[0].startswith("record.json:2:10: error: `seed`: expected an integer")
    assert _errors(HEAD + ' "seed": 1.' + "0" * 99 + "}")[0].startswith("record.json:2:10: error: a number of 101")
    assert _errors(HEAD + ' "seed": ' + "9" * 5000 + "}")[0].startswith("record.json:2:10: error: a number of 5000")


def _nested(levels: int) -> str:  # the record's mapping is level 1: `data` holds the rest
    return HEAD + ' "data": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def test_nesting_64_levels_is_read_and_65_is_refused_positioned():
    assert _errors(_nested(64)) == ["record.json:2:10: error: `data`: expected a mapping, got a list"]
    assert _errors(_nested(65)) == ["record.json:2:73: error: nesting deeper than 64 levels"]
    assert _errors(HEAD + ' "data": {"version": ' + "[" * 62 + "]" * 62 + "}}")[0].startswith(
        "record.json:2:22: error: `data.version`:")  # through a mapping: the same count
    assert _errors(HEAD + ' "data": {"version": ' + "[" * 63 + "]" * 63 + "}}") == [
        "record.json:2:84: error: nesting deeper than 64 levels"]
    assert _errors(_nested(5000))[0].startswith("record.json:2:")  # past the C parser's own limit: still positioned


def test_100000_values_are_read_and_one_more_is_refused_positioned():
    def values(n: int) -> str:  # the mapping, its 3 keys and 2 values, `data`'s list: 7 values and the list's items
        return HEAD + ' "data": [' + ",".join(["0"] * n) + "]}"  # (the keys count: without them, 3 more would pass)
    assert _errors(values(100_000 - 7))[0] == "record.json:2:10: error: `data`: expected a mapping, got a list"
    assert _errors(values(100_000 - 6))[0].startswith("record.json:2:")
    assert "more than 100000 nodes" in _errors(values(100_000 - 6))[0]


def test_a_record_over_its_bytes_is_refused_before_it_is_parsed():
    body = HEAD + ' "version": "' + "x" * (record.MAX_BYTES - len(HEAD) - 15) + '"}'
    assert len(body.encode()) == record.MAX_BYTES
    assert not _errors(body)[0].startswith("record.json:1:1: error: file is")
    assert _errors(body + " ") == [f"record.json:1:1: error: file is {record.MAX_BYTES + 1} bytes; a record may be at most "
                                   f"{record.MAX_BYTES} bytes"]


def test_artifact_path_is_confined_to_the_records_directory(tmp_path: Path):
    (tmp_path / "model").mkdir()
    source = str(tmp_path / "record.json")
    text = (HEAD + ' "artifact": {"path": "model"}}').encode()
    assert record.artifact_path(record.load(text, source), text, source) == str(tmp_path / "model")
    for bad in ("/etc/passwd", "../x", "model/../model"):
        text = (HEAD + ' "artifact": {"path": "' + bad + '"}}').encode()
        with pytest.raises(PathError) as info:
            record.artifact_path(record.load(text, source), text, source)
        assert str(info.value.diagnostics[0]).startswith(f"{source}:2:23: error: `artifact.path` {bad!r}")
    text = (HEAD + ' "artifact": {"uri": "s3://b/m"}}').encode()
    assert record.artifact_path(record.load(text, source), text, source) is None  # no path: nothing to confine
    assert record.artifact_path(record.load(HEAD.encode()[:-2] + b"}", source), HEAD.encode(), source) is None


def test_a_constant_in_json_the_yaml_reader_cannot_read_is_refused_at_the_start():
    # a lone surrogate escape: JSON decodes it, the YAML reader that finds positions refuses it,
    # so the bare NaN has no position of its own (with one, it is positioned: the test above)
    text = HEAD + ' "runId": "x\\ud800", "seed": NaN}'
    assert _errors(text) == ["record.json:1:1: error: invalid JSON: NaN is not a JSON number"]
    assert _errors(text.replace('"x\\ud800"', '"x"')) == ["record.json:2:24: error: invalid JSON: NaN is not a JSON number"]


def test_a_record_that_is_not_utf8_is_refused_at_the_start():
    with pytest.raises(SpecError) as info:
        record.load(HEAD.encode() + b' "runId": "\xff"}', "record.json")
    assert [str(d) for d in info.value.diagnostics] == ["record.json:1:1: error: file is not valid UTF-8 (byte 75)"]


def test_a_long_json_number_yaml_reads_as_text_is_refused_at_the_start():
    # 1.000…e5: a JSON number, but YAML 1.1 (no sign in the exponent) reads it as text, so the
    # reader that positions budget errors passes it: the record's own check refuses it at 1:1
    assert _errors(HEAD + ' "seed": 1.' + "0" * 97 + "e5}") == [
        "record.json:1:1: error: over a record's budget: nesting deeper than 64 levels, more than 100000 values or "
        "a number of more than 100 characters"]
    assert _errors(HEAD + ' "seed": 1.' + "0" * 96 + "e5}")[0].startswith("record.json:2:10: error: `seed`: expected an integer")


def test_a_record_from_plain_data_names_the_field_at_fault():
    # what --from-mlflow builds: no file, so no position, but the message names the field
    with pytest.raises(SpecError) as info:
        record.validate({"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "seed": -1}, "models:/churn/7")
    assert [str(d) for d in info.value.diagnostics] == [
        "models:/churn/7:1:1: error: `seed`: input should be greater than or equal to 0 (got number -1)"]
    with pytest.raises(SpecError) as info:
        record.validate([1], "models:/churn/7")
    assert [str(d) for d in info.value.diagnostics] == ["models:/churn/7:1:1: error: a TrainingRecord is a JSON object, not list"]


def test_the_pin_table_cannot_be_changed_at_run_time():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        record.PINS[0].key = "version2"  # type: ignore[misc]
