"""The JSON Schema of the spec, generated from the models (never hand-kept).

Draft-07, the draft yaml-language-server (VS Code, Neovim, ...) and JetBrains
IDEs support fully: pydantic's `$defs` become `definitions`. Overlay sections
under `spec.environments` reference "partial" copies of the section schemas
(same properties, nothing required), so editors complete inside overlays too.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from mlspec.spec.fields import SCHEMA_URL
from mlspec.spec.model import ModelDeployment

SCHEMA_ID = SCHEMA_URL
DRAFT = "http://json-schema.org/draft-07/schema#"
_OVERLAY_SECTIONS = {"model": "ModelSection", "training": "Training", "features": "Features", "serving": "Serving",
                     "evaluation": "Evaluation", "rollout": "RolloutSection", "rollback": "Rollback"}


def json_schema() -> dict[str, Any]:
    schema = ModelDeployment.model_json_schema(by_alias=True, mode="validation", ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs")
    tidy(schema)
    tidy(definitions)
    overlay = definitions["Overlay"]["properties"]
    for key, name in _OVERLAY_SECTIONS.items():
        description = overlay[key].get("description", "")
        overlay[key] = {"$ref": f"#/definitions/{_partial(definitions, name)}", "description": description}
    overlay["labels"] = copy.deepcopy(definitions["Metadata"]["properties"]["labels"])
    overlay["labels"]["description"] = "Extra labels for this environment."
    return {"$schema": DRAFT, "$id": SCHEMA_ID, **schema, "definitions": dict(sorted(definitions.items()))}


def tidy(node: dict[str, Any]) -> None:
    """What every generated schema gets (the record's too): no titles, no nulls, key patterns."""
    for fix in (_strip_titles, _strip_null, _key_patterns):
        _each_mapping(node, fix)


def _each_mapping(node: Any, fix: Callable[[dict[str, Any]], None]) -> None:
    """Apply `fix` to every JSON object in the tree, a parent before its children."""
    if isinstance(node, dict):
        fix(node)
        for value in node.values():
            _each_mapping(value, fix)
    elif isinstance(node, list):
        for value in node:
            _each_mapping(value, fix)


def _strip_titles(node: dict[str, Any]) -> None:
    """pydantic's generated titles repeat the key names and crowd editor hovers."""
    for key in ("properties", "definitions"):
        for child in node.get(key, {}).values():
            if isinstance(child, dict):
                child.pop("title", None)
    if "properties" in node:
        node.pop("title", None)


def _key_patterns(node: dict[str, Any]) -> None:
    """pydantic writes a constrained dict key as `patternProperties`, which still lets
    other keys through; `propertyNames` constrains every key, as the models do."""
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
        [(pattern, values)] = patterns.items()
        del node["patternProperties"]
        node["propertyNames"] = {"pattern": pattern}
        node["additionalProperties"] = values


def _strip_null(node: dict[str, Any]) -> None:
    """Explicit nulls are refused by the models (see `Strict`), so the schema offers none."""
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        options = [o for o in options if o != {"type": "null"}]
        del node["anyOf"]
        if len(options) == 1:
            node.update(options[0])
        else:
            node["anyOf"] = options
        if node.get("default", 0) is None:
            del node["default"]


def _partial(definitions: dict[str, Any], name: str) -> str:
    """A copy of definition `name` (and what it references) with nothing required."""
    partial_name = f"{name}Overlay"
    if partial_name in definitions:
        return partial_name
    partial = copy.deepcopy(definitions[name])
    definitions[partial_name] = partial
    for key in ("required", "anyOf", "oneOf"):
        partial.pop(key, None)

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/definitions/"):
                node["$ref"] = f"#/definitions/{_partial(definitions, ref.rsplit('/', 1)[1])}"
            for key, value in node.items():
                if key != "items":  # an overlay's list replaces the spec's whole: its items stay complete
                    rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(partial.get("properties", {}))
    return partial_name


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
