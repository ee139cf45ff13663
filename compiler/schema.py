"""The JSON Schema of the spec, generated from the models (never hand-kept)."""

from __future__ import annotations

import json
from typing import Any

from mlspec.model import ModelDeployment

SCHEMA_ID = "https://mlspec.dev/schemas/v1alpha1/mlspec.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ModelDeployment.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
