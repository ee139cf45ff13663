"""The training record: what a training run says it produced, as a JSON document.

`mlspec release --from-record FILE` reads it; `--from-mlflow REF` builds the same
document from an MLflow run (`mlflow_source.fetch_record`). Its keys mirror the
spec's pins (`PINS` below is the mapping, and the README's table). Every pin is
optional in the document: flags complete or override it, and `release` lists what
neither gave. Strict like the spec: unknown keys and wrong types are refused, with
`record.json:line:col` positions. Its JSON Schema is `schemas/record.schema.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field

from mlspec.files import loader, safepath
from mlspec.files.errors import Diagnostic, MlspecError, PathError, SpecError
from mlspec.files.loader import Document
from mlspec.spec import check
from mlspec.spec.fields import API_VERSION, COMMIT_RE, Digest, PinnedImage, Record, Strict, Uri, Version, _matching

KIND = "TrainingRecord"
__all__ = ["API_VERSION", "KIND", "PINS", "PIN_BY_KEY", "Pin", "TrainingRecord", "flatten", "load", "schema", "validate"]
SCHEMA_URL = "https://mlspec.dev/schemas/v1alpha1/record.schema.json"
MAX_BYTES = 256 * 1024
# A record is read within a spec's limits (nesting, nodes, one number's digits, one
# value's length): it is input like a spec, often written by a job the reviewer never saw.
BUDGET = loader.Budget("record", "a TrainingRecord", SpecError, bytes=MAX_BYTES, aliases=False)
ANY_URI_RE = r"^[a-z][a-z0-9+.-]*:\S+$"

Commit = Annotated[
    str,
    _matching(COMMIT_RE, "a full commit id", " (40 or 64 lowercase hex digits; a branch or tag moves)"),
    Field(json_schema_extra={"pattern": COMMIT_RE}),
]


class RecordArtifact(Strict):
    uri: Annotated[str, _matching(ANY_URI_RE, "a URI"), Field(json_schema_extra={"pattern": ANY_URI_RE})] | None = Field(
        default=None, description="Where the pods fetch the artifact (`spec.model.artifact.uri`): a scheme they can "
        "fetch (`s3://`, `gs://`, `https://`, `hf://`, `oci://…@sha256:`, `pvc://`).")
    path: str | None = Field(
        default=None, min_length=1, description="A local copy of the same bytes (file or directory), relative to the "
        "record file and inside its directory (no absolute path, `..` or symbolic link): `release` computes "
        "`spec.model.artifact.digest` from it.")
    signature_bundle: Annotated[str, _matching(ANY_URI_RE, "a URI"), Field(json_schema_extra={"pattern": ANY_URI_RE})] | None = Field(
        default=None, description="Where the pods fetch the model's OpenSSF Model Signing bundle "
        "(`spec.model.artifact.signature.bundle`; the spec's `signature` block says how to verify it).")


class RecordCode(Strict):
    repo: str | None = Field(default=None, min_length=1, description="`spec.training.code.repo` (absent: unchanged).")
    commit: Commit | None = Field(default=None, description="`spec.training.code.commit`: the full commit id.")


class RecordData(Strict):
    uri: Uri | None = Field(default=None, description="`spec.training.data.uri` (absent: unchanged).")
    version: Record | None = Field(default=None, description="`spec.training.data.version`, exactly as the data system names it.")
    digest: Digest | None = Field(default=None, description="`spec.training.data.digest`.")


class RecordEnvironment(Strict):
    image: PinnedImage | None = Field(default=None, description="`spec.training.environment.image` (absent: unchanged).")
    lockfile_digest: Digest | None = Field(default=None, description="`spec.training.environment.lockfileDigest`.")


class RecordFeatures(Strict):
    pipeline_version: Record | None = Field(default=None, description="`spec.features.pipelineVersion`.")
    schema_digest: Digest | None = Field(default=None, description="`spec.features.schemaDigest`.")


class TrainingRecord(Strict):
    """What one training run produced: the pins of the next release of a model."""

    api_version: Literal["mlspec.dev/v1alpha1"] = Field(description="Always `mlspec.dev/v1alpha1`.")
    kind: Literal["TrainingRecord"] = Field(description="Always `TrainingRecord`.")
    version: Version | None = Field(default=None, description="`spec.model.version` of the new release.")
    artifact: RecordArtifact | None = Field(default=None, description="The trained artifact.")
    format: Literal["sklearn", "xgboost", "lightgbm", "mlflow", "huggingface", "onnx", "pytorch", "tensorflow",
                    "triton", "custom"] | None = Field(default=None, description="`spec.model.format` (absent: unchanged).")
    run_id: str | None = Field(default=None, min_length=1, description="`spec.training.runId`, e.g. `mlflow:<run id>`.")
    code: RecordCode | None = Field(default=None, description="The training code.")
    data: RecordData | None = Field(default=None, description="The training data.")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="`spec.training.seed`.")
    environment: RecordEnvironment | None = Field(default=None, description="The training environment.")
    features: RecordFeatures | None = Field(default=None, description="The feature pipeline the model expects.")


@dataclass(frozen=True)
class Pin:
    """One pin `release` writes: its record key, its spec path, the flag that gives it."""

    key: str                      # dotted record key (camelCase)
    spec_path: tuple[str, ...]    # where it lands in the spec
    flag: str | None              # the `mlspec release` option, None when only a record gives it


PINS: tuple[Pin, ...] = (
    Pin("version", ("spec", "model", "version"), "--version"),
    Pin("artifact.uri", ("spec", "model", "artifact", "uri"), "--artifact"),
    Pin("artifact.path", ("spec", "model", "artifact", "digest"), "--digest-of"),
    Pin("artifact.signatureBundle", ("spec", "model", "artifact", "signature", "bundle"), "--signature-bundle"),
    Pin("format", ("spec", "model", "format"), "--format"),
    Pin("runId", ("spec", "training", "runId"), "--run-id"),
    Pin("code.repo", ("spec", "training", "code", "repo"), None),
    Pin("code.commit", ("spec", "training", "code", "commit"), "--commit"),
    Pin("data.uri", ("spec", "training", "data", "uri"), None),
    Pin("data.version", ("spec", "training", "data", "version"), "--data-version"),
    Pin("data.digest", ("spec", "training", "data", "digest"), "--data-digest"),
    Pin("seed", ("spec", "training", "seed"), "--seed"),
    Pin("environment.image", ("spec", "training", "environment", "image"), "--training-image"),
    Pin("environment.lockfileDigest", ("spec", "training", "environment", "lockfileDigest"), "--lockfile-digest"),
    Pin("features.pipelineVersion", ("spec", "features", "pipelineVersion"), "--feature-pipeline-version"),
    Pin("features.schemaDigest", ("spec", "features", "schemaDigest"), "--feature-schema-digest"),
)
PIN_BY_KEY = {p.key: p for p in PINS}


def flatten(record: TrainingRecord) -> dict[str, Any]:
    """`{dotted record key: value}` of every pin the record gives (apiVersion and kind left out)."""
    data = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("apiVersion", "kind"):
            continue
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def validate(data: Any, source: str, doc: Document | None = None) -> TrainingRecord:
    """A record from plain data (e.g. built from an MLflow run); `doc` positions the errors."""
    doc = doc or Document(source, data if isinstance(data, dict) else {})
    if not isinstance(data, dict):
        raise SpecError.at(source, 1, 1, f"a {KIND} is a JSON object, not {type(data).__name__}")
    try:
        return TrainingRecord.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SpecError(check.pydantic_problems(doc, exc, root=TrainingRecord)) from None


def load(text: bytes, source: str) -> TrainingRecord:
    """Parse and validate a record file; every problem is positioned in it."""
    if len(text) > MAX_BYTES:
        raise SpecError.at(source, 1, 1, f"file is {len(text)} bytes; a record may be at most {MAX_BYTES} bytes")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError.at(source, 1, 1, f"file is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(decoded, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                          parse_int=_bounded(int), parse_float=_bounded(float))
        _within_budget(data)
    except (_OverBudget, RecursionError):
        loader.load(decoded, source, BUDGET)  # the spec's reader refuses it too, where it crosses the limit
        raise SpecError.at(source, 1, 1, f"over a record's budget: nesting deeper than {BUDGET.depth} levels, more "
                           f"than {BUDGET.nodes} values or a number of more than {BUDGET.number} characters",
                           rule="yaml-structure") from None
    except json.JSONDecodeError as exc:
        raise SpecError.at(source, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}") from None
    except _Duplicate as dup:
        loader.load(decoded, source)  # the YAML reader refuses it too, at the duplicate's position
        raise SpecError.at(source, 1, 1, f"duplicate key `{dup.key}`") from None
    except _Constant as constant:  # YAML reads the bare word as a string: find where it stands
        doc = _positions(decoded, source)
        where = min((mark for path, mark in doc.marks.items() if _at(doc.data, path) == constant.name), default=(1, 1))
        raise SpecError.at(source, *where, f"invalid JSON: {constant.name} is not a JSON number") from None
    return validate(data, source, _with_data(_positions(decoded, source), data))


class _OverBudget(Exception):
    pass


def _bounded(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > BUDGET.number:  # before conversion: Python refuses ints of 4,300 digits
            raise _OverBudget
        return kind(text)
    return parse


def _within_budget(data: Any) -> None:
    """Nesting and size as the YAML reader counts them (a collection nested 65 deep, or
    100,001 values, is refused), without recursion."""
    nodes, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > BUDGET.nodes or depth > BUDGET.depth:
            raise _OverBudget
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
            nodes += len(value)  # the keys
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]


def artifact_path(loaded: TrainingRecord, text: bytes, source: str) -> str | None:
    """The record's `artifact.path` as a path from the current directory, after checking
    that it stays inside the record's own directory: relative, no `..`, no symbolic link
    on the way. A record is written by a training job next to what it trained (whoever
    can edit it must not get `/proc/self/environ` or `~/.ssh` hashed into a spec)."""
    local = loaded.artifact.path if loaded.artifact else None
    if local is None:
        return None
    directory = os.path.dirname(source) or "."
    try:
        return safepath.confine(local, directory)
    except PathError as exc:
        where = _positions(text.decode("utf-8"), source).position(("artifact", "path"), key=False)
        raise PathError([Diagnostic(source, *where, f"`artifact.path` {local!r}{'' if d.source == local else ': ' + d.source} "
                                    f"{d.message} (the record's directory, {directory})") for d in exc.diagnostics]) from None


class _Constant(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Constant(name)  # json accepts NaN and Infinity; JSON does not


def _at(data: Any, path: loader.Path) -> Any:
    for seg in path:
        data = data[seg]
    return data


def _positions(text: str, source: str) -> Document:
    """Where each value stands. JSON is YAML's flow style, so the spec's position-tracking
    reader maps it; json decides the values (JSON numbers, not YAML 1.1 guesses)."""
    try:
        return loader.load(text, source, BUDGET)
    except MlspecError:
        return Document(source, {})  # valid JSON the YAML reader refuses: positions fall back to 1:1


def _with_data(doc: Document, data: dict[str, Any]) -> Document:
    return Document(doc.source, data, doc.marks, doc.key_marks)


def schema() -> dict[str, Any]:
    """The record's JSON Schema (draft-07, like the spec's)."""
    from mlspec.spec.schema import DRAFT, tidy

    generated = TrainingRecord.model_json_schema(by_alias=True, mode="validation", ref_template="#/definitions/{model}")
    definitions = generated.pop("$defs", {})
    tidy(generated)
    tidy(definitions)
    return {"$schema": DRAFT, "$id": SCHEMA_URL, **generated, "definitions": dict(sorted(definitions.items()))}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
