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
from typing import TYPE_CHECKING, Any

from mlspec import emit, loader
from mlspec.errors import Diagnostic, LedgerError
from mlspec.loader import copy_data
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
    from mlspec import ledger_shape  # pydantic models: built only when a ledger is read

    problems = ledger_shape.problems(doc, name)
    if problems:
        raise LedgerError([_damaged(source, *doc.position(path), problem) for path, problem in problems])
    return Ledger(name, doc.data.get("current"), doc.data["releases"])


def _damaged(source: str, line: int, col: int, problem: str) -> Diagnostic:
    return Diagnostic(source, line, col, f"the ledger is damaged: {problem}; restore it from Git")


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
