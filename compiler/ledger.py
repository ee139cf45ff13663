"""The release ledger: one YAML file per model inside the GitOps repo.

`OUT/_ledger/<name>.yaml` records every version `mlspec build -o OUT` has built:
the spec with every pin, its digest, and the evaluation metrics `mlspec gate
--record` stored. It is what makes a rollback restore a model *with* its data
context, and where the gate finds the baseline's metrics. (`_ledger` cannot
collide with an environment directory: environment names are DNS labels.)

Functions here are pure (data in, data out) except `load`, which reads a file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from mlspec import emit, loader
from mlspec.errors import Diagnostic, LedgerError
from mlspec.loader import Document, copy_data
from mlspec.model import ModelDeployment

if TYPE_CHECKING:
    from mlspec.core import Built

LEDGER_DIR = emit.LEDGER_DIR
KIND = "ReleaseLedger"


@dataclass
class Ledger:
    model: str
    current: str | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)

    def find(self, version: str) -> dict[str, Any] | None:
        return next((r for r in self.releases if r["version"] == version), None)

    def metrics(self) -> dict[str, dict[str, float]]:
        """`{version: metrics}` for every release with recorded metrics."""
        return {r["version"]: r["metrics"] for r in self.releases if r.get("metrics")}


def relpath(name: str) -> str:
    return f"{LEDGER_DIR}/{name}.yaml"


def load(out: Path, name: str) -> Ledger:
    """The ledger of `name` under `out` (empty when there is none yet)."""
    path = out / relpath(name)
    try:
        with open(path, "rb") as handle:
            data = loader.read_limited(handle, loader.LEDGER.bytes)
    except (FileNotFoundError, NotADirectoryError):  # nothing recorded there (yet)
        return Ledger(name)
    except OSError as exc:
        raise LedgerError([Diagnostic(str(path), 1, 1, f"cannot read the ledger: {exc.strerror}")]) from None
    return parse(data, str(path), name)


def parse(data: bytes | str, source: str, name: str) -> Ledger:
    """The ledger of model `name` in `data` (the text of `source`), its shape checked once
    here, so every consumer can index it. Raises `LedgerError` at the damaged place."""
    try:
        doc = loader.load(data, source, loader.LEDGER)
    except LedgerError as exc:
        raise LedgerError([_damaged(d.source, d.line, d.col, d.message) for d in exc.diagnostics]) from None
    try:
        _LedgerFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise LedgerError(_shape_problems(doc, exc)) from None
    ledger = Ledger(name, doc.data.get("current"), doc.data["releases"])
    problems = []
    if doc.data["model"] != name:
        problems.append(_at(doc, ("model",), f"it is the ledger of model {doc.data['model']!r}, not {name!r}"))
    first: dict[str, int] = {}
    for i, release in enumerate(ledger.releases):
        seen = first.setdefault(release["version"], i)
        if seen != i:
            problems.append(_at(doc, ("releases", i, "version"), f"version {release['version']!r} is recorded twice "
                                f"(first at line {doc.position(('releases', seen, 'version'), key=False)[0]})"))
    if ledger.current is not None and ledger.current not in first:
        problems.append(_at(doc, ("current",), f"the current release {ledger.current!r} is not recorded in `releases`"))
    if problems:
        raise LedgerError(problems)
    return ledger


# --- the shape of a ledger file ---------------------------------------------------
# What `record` and `with_metrics` write and every consumer reads. Keys the shape does
# not name are kept as they are; what it names must have the type written here.


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


class _Release(_Shape):
    version: str
    source: str
    specDigest: str
    pins: _Pins
    environments: dict[str, str] = {}
    spec: dict[str, Any]
    metrics: dict[str, float] = {}
    gate: Literal["passed", "failed"] | None = None


class _LedgerFile(_Shape):
    apiVersion: Literal["mlspec.dev/v1alpha1"]
    kind: Literal["ReleaseLedger"]
    model: str
    current: str | None = None
    releases: list[_Release]


_EXPECTED = {"string_type": "a string", "int_type": "an integer", "float_type": "a number", "dict_type": "a mapping",
             "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
             "finite_number": "a finite number"}


def _shape_problems(doc: Document, exc: pydantic.ValidationError) -> list[Diagnostic]:
    found: dict[loader.Path, str] = {}
    missing: dict[loader.Path, list[str]] = {}
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
    return [_at(doc, where, message) for where, message in found.items()]


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "null"
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value)[:60]}"


def _dotted(path: loader.Path) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "the document"


def _damaged(source: str, line: int, col: int, problem: str) -> Diagnostic:
    return Diagnostic(source, line, col, f"the ledger is damaged: {problem}; restore it from Git")


def _at(doc: Document, path: loader.Path, problem: str) -> Diagnostic:
    return _damaged(doc.source, *doc.position(path), problem)


def load_all(out: Path) -> dict[str, Ledger]:
    directory = out / LEDGER_DIR
    if not directory.is_dir():
        return {}
    return {p.stem: load(out, p.stem) for p in sorted(directory.glob("*.yaml"))}


def dump(ledger: Ledger) -> str:
    return emit.dump({
        "apiVersion": "mlspec.dev/v1alpha1",
        "kind": KIND,
        "model": ledger.model,
        "current": ledger.current,
        "releases": ledger.releases,
    }, "# mlspec release ledger: written by `mlspec build` and `mlspec gate --record`. Review, do not edit.\n")


def spec_record(spec: ModelDeployment) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


def digest(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def pins(spec: ModelDeployment) -> dict[str, Any]:
    """What defines the model itself: a recorded version may never change these."""
    s = spec.spec
    out: dict[str, Any] = {
        "artifact": s.model.artifact.model_dump(by_alias=True),
        "code": s.training.code.model_dump(by_alias=True),
        "data": s.training.data.model_dump(by_alias=True, exclude_none=True),
        "seed": s.training.seed,
        "environment": s.training.environment.model_dump(by_alias=True, exclude_none=True),
    }
    if s.features:
        out["features"] = s.features.model_dump(by_alias=True, exclude_none=True)
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: value}


def record(ledger: Ledger, build: Built) -> Ledger:
    """The ledger with this build recorded; refuses a recorded version with other pins."""
    version, new_pins, spec_data, environments = build.version, build.pins, build.spec_record, build.environments
    where = Diagnostic(build.source, *build.version_mark, "")
    entry = {
        "version": version,
        "source": Path(build.source).name,
        "specDigest": digest(spec_data),
        "pins": new_pins,
        "environments": dict(sorted(environments.items())),
        "spec": spec_data,
    }
    result = Ledger(ledger.model, version, copy_data(ledger.releases))
    existing = result.find(version)
    if existing is None:
        result.releases.append(entry)
        return result
    if existing["pins"] != new_pins:
        old, new = _flat(existing["pins"]), _flat(new_pins)
        changed = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(old.keys() | new.keys())
                            if old.get(k) != new.get(k))
        raise LedgerError([Diagnostic(where.source, where.line, where.col,
                                      f"version {version!r} is already released with other pins ({changed}); "
                                      "a released version is immutable: give this model a new `spec.model.version`")])
    entry["environments"] = dict(sorted({**existing.get("environments", {}), **environments}.items()))
    for key in ("metrics", "gate"):  # deployment settings may change; recorded evaluations stay
        if key in existing:
            entry[key] = existing[key]
    result.releases[result.releases.index(existing)] = entry
    return result


def with_metrics(ledger: Ledger, version: str, metrics: dict[str, Any], passed: bool) -> Ledger:
    result = Ledger(ledger.model, ledger.current, copy_data(ledger.releases))
    entry = result.find(version)
    assert entry is not None, "record the release before its metrics"
    entry["metrics"] = dict(sorted(metrics.items()))
    entry["gate"] = "passed" if passed else "failed"
    return result
