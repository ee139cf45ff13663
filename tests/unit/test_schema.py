from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from mlspec.spec import schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "mlspec.schema.json"


def test_committed_schema_matches_the_models():
    assert COMMITTED.read_text() == schema.schema_text(), \
        "schemas/mlspec.schema.json drifted: run `mlspec schema -o schemas/mlspec.schema.json`"


def test_schema_is_valid_draft_07_and_forbids_unknown_keys():
    s = schema.json_schema()
    jsonschema.Draft7Validator.check_schema(s)
    assert s["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert s["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in s["definitions"].values() if "properties" in d)


def _properties(node, found):
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            found.append((name, child))
        for value in node.values():
            _properties(value, found)
    elif isinstance(node, list):
        for value in node:
            _properties(value, found)
    return found


def test_every_property_has_a_description():
    props = _properties(schema.json_schema(), [])
    assert len(props) > 150
    assert [name for name, p in props if not p.get("description")] == []


def test_examples_pass_the_schema():
    validator = jsonschema.Draft7Validator(json.loads(COMMITTED.read_text()))
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == [], example.name
