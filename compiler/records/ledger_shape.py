"""The shape of a release ledger file: what `ledger.record` and `ledger.with_metrics`
write and every consumer reads. Checked once, when a ledger is read (`ledger.parse`).
Keys the shape does not name are kept as they are; what it names must have this type."""

from __future__ import annotations

import json
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from mlspec.files import layout
from mlspec.files.loader import Document, Path


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, defer_build=True)


class _Data(_Shape):
    uri: str
    version: str
    digest: str | None = None


class _Features(_Shape):
    pipelineVersion: str | None = None
    schemaDigest: str | None = None


class _Pins(_Shape):
    artifact: dict[str, Any]
    code: dict[str, Any]
    data: _Data
    seed: int
    environment: dict[str, Any]
    features: _Features | None = None


class _RecordedMetadata(_Shape):
    name: str | None = None
    namespace: str | None = None


class _RecordedSpec(_Shape):
    # What `problems` reads of the recorded spec (which model it is); the rest is the
    # spec's own business, checked when a rollback compiles it.
    metadata: _RecordedMetadata | None = None


class _Release(_Shape):
    version: str
    source: str
    specDigest: str
    pins: _Pins
    environments: dict[str, str] = {}
    spec: _RecordedSpec
    metrics: dict[str, float] = {}
    gate: Literal["passed", "failed"] | None = None


class _Rollback(_Shape):
    sequence: int
    to: str
    from_: str = Field(alias="from")
    digest: str


class _LedgerFile(_Shape):
    apiVersion: Literal["mlspec.dev/v1alpha1"]
    kind: Literal["ReleaseLedger"]
    model: str
    namespace: str | None = None
    current: str | None = None
    seal: str | None = None
    releases: list[_Release]
    rollbacks: list[_Rollback] = []


_EXPECTED = {"string_type": "a string", "int_type": "an integer", "float_type": "a number", "dict_type": "a mapping",
             "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
             "finite_number": "a finite number"}


def problems(doc: Document, model_key: str) -> list[tuple[Path, str]]:
    """Where `doc` is not the ledger of the model `model_key` (`mlspec.layout`), and what is wrong there."""
    try:
        _LedgerFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        return _problems(doc, exc)
    data = doc.data
    namespace, name = layout.split(model_key)
    found: list[tuple[Path, str]] = []
    if data["model"] != name:
        found.append((("model",), f"it is the ledger of model {data['model']!r}, not {name!r}"))
    if data.get("namespace") != namespace:  # a ledger copied between namespaces (or layouts)
        found.append((("namespace",) if "namespace" in data else ("model",),
                      f"it is the ledger of a model in namespace {data.get('namespace')!r}, not {namespace!r}"))
    first: dict[str, int] = {}
    for i, release in enumerate(data["releases"]):
        seen = first.setdefault(release["version"], i)
        if seen != i:  # `find` would see only the first
            line = doc.position(("releases", seen, "version"), key=False)[0]
            found.append((("releases", i, "version"), f"version {release['version']!r} is recorded twice "
                           f"(first at line {line})"))
        metadata = release["spec"].get("metadata") or {}  # a mapping, or none (the shape above)
        recorded = metadata.get("name")
        if isinstance(recorded, str) and recorded != name:  # the seal does not bind the file it is in
            found.append((("releases", i, "spec", "metadata", "name"), f"the entry of release "
                          f"{release['version']!r} records model {recorded!r}, not {name!r} (moved from its ledger?)"))
        home = metadata.get("namespace")
        if namespace is not None and home != namespace:
            found.append((("releases", i, "spec", "metadata"), f"the entry of release {release['version']!r} records "
                          f"a model in namespace {home!r}, not {namespace!r} (moved from its ledger?)"))
    for i, rollback in enumerate(data.get("rollbacks") or []):
        for key in ("to", "from"):
            if rollback[key] not in first:
                found.append((("rollbacks", i, key), f"rollback #{rollback['sequence']} names release "
                              f"{rollback[key]!r}, which is not recorded in `releases`"))
    if data.get("current") is not None and data["current"] not in first:
        found.append((("current",), f"the current release {data['current']!r} is not recorded in `releases`"))
    return found


def _problems(doc: Document, exc: pydantic.ValidationError) -> list[tuple[Path, str]]:
    found: dict[Path, str] = {}
    missing: dict[Path, list[str]] = {}
    for err in exc.errors(include_url=False):
        path: list[str | int] = []
        node: Any = doc.data
        for seg in err["loc"]:  # the part of `loc` that exists (it also names union members)
            exists = seg in node if isinstance(node, dict) else (
                isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node))
            if not exists:
                break
            path.append(seg)
            node = node[seg]
        where = tuple(path)
        if err["type"] == "missing":
            missing.setdefault(where, []).append(f"`{err['loc'][len(where)]}`")
        elif err["type"] != "none_required":  # the other member of `X | None` says what is wrong
            expected = err["ctx"]["expected"] if err["type"] == "literal_error" else _EXPECTED.get(err["type"], "another type")
            found.setdefault(where, f"`{_dotted(where)}` is {_show(err['input'])}, expected {expected}")
    for where, names in missing.items():
        found.setdefault(where, f"`{_dotted(where)}` has no {', '.join(names)}")
    return list(found.items())


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "null"
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value)[:60]}"


def _dotted(path: Path) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "the document"
