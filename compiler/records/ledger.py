"""The release ledger: one YAML file per model inside the GitOps repo.

`OUT/_ledger/<name>.yaml` (`OUT/_ledger/<namespace>/<name>.yaml` in the namespaced
layout, see `mlspec.layout`) records every version `mlspec build -o OUT` has built:
the spec with every pin (per environment, where an overlay changes one), its
digest, and the evaluation metrics `mlspec gate --record` stored. It is what makes a
rollback restore a model *with* its data context, and where the gate finds the
baseline's metrics. (`_ledger` cannot collide with an environment directory:
environment names are DNS labels.)

Every entry carries `digest`, the sha256 of its own content as mlspec wrote it:
a hand edit (a recorded metric nudged to let a regression pass) no longer matches,
and every build that reads the ledger refuses it. An entry without `digest` is
refused too: it may be one an earlier mlspec wrote, or a hand edit that removed the
seal, and nothing tells them apart. Only `mlspec ledger migrate` seals such entries,
a deliberate step whose diff a reviewer reads (see docs/release-loop.md, "Ledger integrity").

Functions here are pure (data in, data out) except `load`, which reads a file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mlspec.files import emit, layout, loader, safepath
from mlspec.files.errors import Diagnostic, LedgerError
from mlspec.files.loader import Mark, copy_data
from mlspec.spec.pins import pins as pins  # re-exported: what the ledger records of a spec
from mlspec.spec.pins import spec_record as spec_record

if TYPE_CHECKING:
    from mlspec.pipeline.core import Built

LEDGER_DIR = emit.LEDGER_DIR
KIND = "ReleaseLedger"


@dataclass
class Ledger:
    model: str  # the model's key: NAME, or NAMESPACE/NAME (`mlspec.layout`)
    current: str | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)
    # Where each release entry starts in the file it was read from (errors point there).
    marks: list[Mark] = field(default_factory=list, compare=False, repr=False)
    # Rollbacks `mlspec rollback` recorded, oldest first (`with_rollback`); sealed like entries.
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    rollback_marks: list[Mark] = field(default_factory=list, compare=False, repr=False)
    # The ledger-level seal as read (None: a ledger an earlier mlspec wrote, or in memory),
    # and where it is: it binds `current` to the entries (`ledger_seal`).
    seal: str | None = field(default=None, compare=False, repr=False)
    seal_mark: Mark = field(default=(1, 1), compare=False, repr=False)

    def find(self, version: str) -> dict[str, Any] | None:
        return next((r for r in self.releases if r["version"] == version), None)

    def metrics(self) -> dict[str, dict[str, float]]:
        """`{version: metrics}` for every release with recorded metrics."""
        return {r["version"]: r["metrics"] for r in self.releases if r.get("metrics")}


@runtime_checkable
class Reader(Protocol):
    """Ledgers read on demand by model name (`releases.RecordedMetrics`): a build whose
    context carries one reconciles the spec with its model's ledger."""

    directory: Path | None

    def ledger(self, name: str) -> Ledger: ...


def relpath(model_key: str) -> str:
    return f"{LEDGER_DIR}/{model_key}.yaml"


def load(out: Path, model_key: str, unsealed_ok: bool = False) -> Ledger:
    """The ledger of the model `model_key` under `out` (empty when there is none yet),
    every entry's seal and the ledger's own checked (`verified`) on every read."""
    path = out / relpath(model_key)
    try:
        data = safepath.read(out, relpath(model_key), loader.LEDGER.bytes)  # never through a link, bounded
    except (FileNotFoundError, NotADirectoryError):  # nothing recorded there (yet)
        _other_layout(out, model_key)
        return Ledger(model_key)
    except OSError as exc:
        raise LedgerError([Diagnostic(str(path), 1, 1, f"cannot read the ledger: {exc.strerror}")]) from None
    return verified(parse(data, str(path), model_key), str(path), unsealed_ok)


def _other_layout(out: Path, model_key: str) -> None:
    """Refuse to start an empty history for a model whose ledger the other layout holds:
    read as "no releases", the switch would drop every recorded release (and the
    reconciliation of `rollback.previous` with them)."""
    if not (out / LEDGER_DIR).is_dir():
        return  # no ledger at all (or no directory to hold one: writing reports that)
    namespace, name = layout.split(model_key)
    recorded = names(out)
    if namespace is not None:  # namespaced: only the flat ledger of this name can be this model's past
        found = [name] if name in recorded else []
    else:  # the flat ledger itself is missing (we are here), so every match is a namespaced one
        found = [k for k in recorded if layout.split(k)[1] == name]
    if not found:
        return
    wanted = relpath(model_key)
    if namespace is not None:
        message = (f"no ledger of {model_key} at {wanted}, but {relpath(name)} holds releases of a model {name} "
                   "recorded in the flat layout: the platform file's `layout` changed to `namespaced`; move that "
                   "ledger with `git mv` to the namespace of its model and remove its old output directories "
                   "(docs/platform.md: Monorepo layout)")
    else:
        message = (f"no ledger of {model_key} at {wanted}; in the namespaced layout a model is named NAMESPACE/NAME, "
                   f"and models named {name} are recorded as {', '.join(found)} (if the platform file's `layout` "
                   "changed back to `flat`, move the ledger with `git mv`; docs/platform.md: Monorepo layout)")
    raise LedgerError([Diagnostic(str(out / relpath(found[0])), 1, 1, message)])


def parse(data: bytes | str, source: str, name: str) -> Ledger:
    """The ledger of the model `name` (its key) in `data` (the text of `source`), its shape
    checked once here, so every consumer can index it. Raises `LedgerError` at the damaged place."""
    try:
        doc = loader.load(data, source, loader.LEDGER)
    except LedgerError as exc:
        raise LedgerError([_damaged(d.source, d.line, d.col, d.message) for d in exc.diagnostics]) from None
    from mlspec.records import ledger_shape  # pydantic models: built only when a ledger is read

    problems = ledger_shape.problems(doc, name)
    if problems:
        raise LedgerError([_damaged(source, *doc.position(path), problem) for path, problem in problems])
    marks = [doc.position(("releases", i), key=False) for i in range(len(doc.data["releases"]))]
    rollbacks = doc.data.get("rollbacks") or []
    rollback_marks = [doc.position(("rollbacks", i), key=False) for i in range(len(rollbacks))]
    seal_mark = doc.position(("seal",) if "seal" in doc.data else ("current",) if "current" in doc.data else (),
                             key=False)
    return Ledger(name, doc.data.get("current"), doc.data["releases"], marks, rollbacks=rollbacks,
                  rollback_marks=rollback_marks, seal=doc.data.get("seal"), seal_mark=seal_mark)


def _damaged(source: str, line: int, col: int, problem: str) -> Diagnostic:
    return Diagnostic(source, line, col, f"the ledger is damaged: {problem}; restore it from Git")


def names(out: Path) -> list[str]:
    """The keys of the models with a ledger under `out`, in order: `NAME` for
    `_ledger/NAME.yaml`, `NAMESPACE/NAME` for `_ledger/NAMESPACE/NAME.yaml`. A file or
    a link where the ledger directory should be is refused, as `load` refuses it: read
    as "no history", it would let `rollback` and the baselines forget every recorded
    release; so is a link where a namespace's directory would be."""
    found: list[str] = []
    try:
        with safepath.open_dir(out, LEDGER_DIR) as directory:
            for entry, kind in directory.entries():
                if entry.startswith("."):
                    continue
                if kind == "link" and not entry.endswith(".yaml"):
                    raise safepath.refusal(directory.show(entry), safepath.LINK)
                if kind == "dir" and layout.is_label(entry):
                    with directory.sub(entry) as inner:
                        found.extend(f"{entry}/{n[:-5]}" for n, _ in inner.entries() if _ledger_name(n))
                elif _ledger_name(entry):
                    found.append(entry[:-5])
    except FileNotFoundError:  # nothing recorded there (yet)
        return []
    except OSError as exc:
        raise LedgerError([Diagnostic(str(out / LEDGER_DIR), 1, 1, f"cannot read the ledgers: {exc.strerror}")]) from None
    return sorted(found)


def _ledger_name(entry: str) -> bool:
    return entry.endswith(".yaml") and not entry.startswith(".")


def load_all(out: Path) -> dict[str, Ledger]:
    """Every ledger under `out`, each verified (`verified`)."""
    return {name: load(out, name) for name in names(out)}


def entry_digest(entry: dict[str, Any]) -> str:
    """The digest of an entry's content: everything in it but the digest itself."""
    return digest({k: v for k, v in entry.items() if k != "digest"})


def _sealed(entry: dict[str, Any]) -> dict[str, Any]:
    entry.pop("digest", None)
    entry["digest"] = entry_digest(entry)
    return entry


def unsealed(ledger: Ledger) -> bool:
    """Whether an entry predates entry digests (a ledger an earlier mlspec wrote)."""
    return any("digest" not in r for r in ledger.releases)


def verified(ledger: Ledger, where: str, unsealed_ok: bool = False) -> Ledger:
    """`ledger`, if every entry carries the digest mlspec sealed it with; else
    `LedgerError` at each entry that does not. `unsealed_ok` lets entries without a
    digest through (`migrate`, which seals them)."""
    problems = []
    for i, r in enumerate(ledger.releases):
        line, col = ledger.marks[i] if i < len(ledger.marks) else (1, 1)
        if "digest" not in r:
            if not unsealed_ok:
                problems.append(Diagnostic(where, line, col, UNSEALED.format(version=r["version"])))
        elif r["digest"] != entry_digest(r):
            problems.append(Diagnostic(where, line, col, f"the entry of release {r['version']!r} does not match its "
                                       "digest: it was changed after mlspec wrote it (recorded metrics, the gate verdict "
                                       "or pins edited by hand?); restore it from Git, then record again with "
                                       "`mlspec gate --record`"))
    for i, r in enumerate(ledger.rollbacks):
        line, col = ledger.rollback_marks[i] if i < len(ledger.rollback_marks) else (1, 1)
        if r.get("digest") != entry_digest(r):
            problems.append(Diagnostic(where, line, col, f"the rollback record #{r.get('sequence')} does not match its "
                                       "digest: it was changed after mlspec wrote it; restore it from Git"))
    if ledger.releases and not problems:
        line, col = ledger.seal_mark
        if ledger.seal is None and not unsealed_ok:
            problems.append(Diagnostic(where, line, col, UNSEALED_LEDGER))
        elif ledger.seal is not None and ledger.seal != ledger_seal(ledger) and not (
                unsealed_ok and unsealed(ledger)):  # an entry's removed seal changes the ledger's: `migrate` lists both
            problems.append(Diagnostic(where, line, col, f"the ledger's `seal` does not match its current release "
                                       f"({ledger.current!r}) and its entries: which release is current, or the list "
                                       "of releases, was changed after mlspec wrote it (a local edit of `current` would "
                                       "give a new release an older baseline); restore the ledger from Git"))
    if problems:
        raise LedgerError(problems)
    return ledger


def with_rollback(ledger: Ledger, record: dict[str, Any]) -> Ledger:
    """The ledger with a rollback to `record["to"]` recorded (sealed) and that release current.
    `sequence` orders it among the ledger's records (releases and rollbacks): the ledger
    keeps no clock, so the output stays byte-identical wherever it is written."""
    sequence = len(ledger.releases) + len(ledger.rollbacks) + 1
    entry = _sealed({"sequence": sequence, **record})
    return Ledger(ledger.model, record["to"], copy_data(ledger.releases), ledger.marks,
                  rollbacks=copy_data(ledger.rollbacks) + [entry], rollback_marks=ledger.rollback_marks)


def restored(ledger: Ledger, version: str) -> dict[str, Any] | None:
    """The latest rollback that restored `version`, if any: a rebuild of that version keeps
    the `rollback.previous` it names (the release it replaced)."""
    return next((r for r in reversed(ledger.rollbacks) if r.get("to") == version), None)


def ledger_seal(ledger: Ledger) -> str:
    """The ledger-level seal: which release is current, bound to every entry's seal in
    order (not to the model's key: `git mv` between layouts keeps a ledger valid; the
    shape check binds a ledger to its file). Like an entry's seal, a check against
    accidents (anyone can recompute it); `diff --base` and signed attestations are the
    checks against people."""
    bound: dict[str, Any] = {"current": ledger.current,
                             "releases": [[r.get("version"), r.get("digest")] for r in ledger.releases]}
    if ledger.rollbacks:  # a rollback sets `current` too: its records are bound with the entries
        bound["rollbacks"] = [[r.get("sequence"), r.get("digest")] for r in ledger.rollbacks]
    return digest(bound)


UNSEALED_LEDGER = ("the ledger has no `seal` binding its current release to its entries (a ledger an earlier mlspec "
                   "wrote, or one whose seal was removed by hand); check `current` against the ledger's Git history, "
                   "then seal it with `mlspec ledger migrate` (README: Ledger integrity)")


UNSEALED = ("the entry of release {version!r} has no `digest`, so nothing shows whether its metrics and pins are what "
            "mlspec recorded (an entry an earlier mlspec wrote, or one whose seal was removed by hand); check it "
            "against the ledger's Git history, then seal it with `mlspec ledger migrate` (docs/release-loop.md: Ledger integrity)")


def migrate(ledger: Ledger) -> tuple[Ledger, list[dict[str, Any]]]:
    """The ledger with every entry an earlier mlspec wrote sealed, and those entries.
    Such entries recorded only the base's pins: the per-environment pins are read from
    the spec they recorded, so that sealing changes nothing a rebuild compares."""
    result = Ledger(ledger.model, ledger.current, copy_data(ledger.releases), ledger.marks,
                    rollbacks=copy_data(ledger.rollbacks), seal=ledger.seal)
    sealed = []
    for entry in result.releases:
        if "digest" in entry:
            continue
        environments = entry.get("environments")
        if "environmentPins" not in entry and isinstance(environments, dict):
            overrides = {env: p for env in sorted(environments) if (p := recorded_pins(entry, env)) != entry["pins"]}
            if overrides:
                entry["environmentPins"] = overrides
        sealed.append(_sealed(entry))
    result.seal = ledger_seal(result)  # sealing vouches for `current` too (`migrate_command` lists it)
    return result, sealed


def dump(ledger: Ledger) -> str:
    namespace, name = layout.split(ledger.model)
    return emit.dump({
        "apiVersion": "mlspec.dev/v1alpha1",
        "kind": KIND,
        "model": name,
        **({"namespace": namespace} if namespace else {}),
        "current": ledger.current,
        **({"seal": ledger_seal(ledger)} if ledger.releases else {}),
        "releases": ledger.releases,
        **({"rollbacks": ledger.rollbacks} if ledger.rollbacks else {}),
    }, "# mlspec release ledger: written by `mlspec build` and `mlspec gate --record`. Review, do not edit.\n")


def digest(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def recorded_pins(entry: dict[str, Any], env: str | None) -> dict[str, Any]:
    """The pins `entry` recorded for environment `env` (None: the base's): the base's,
    unless an overlay changed one. An environment not recorded yet must keep the base's pins."""
    overrides = entry.get("environmentPins")
    environments = entry.get("environments")
    if (env is not None and overrides is None and "digest" not in entry and isinstance(environments, dict)
            and env in environments):
        return _pins_from_spec(entry, env)  # an earlier mlspec recorded only the base's pins
    own = overrides.get(env) if isinstance(overrides, dict) and env is not None else None
    recorded = dict(own if isinstance(own, dict) else entry["pins"])
    if "evaluation" not in recorded:  # recorded before the evaluation inputs were pins: as its sealed spec had them
        evaluation = _pins_from_spec(entry, env).get("evaluation")
        if evaluation is not None:
            recorded["evaluation"] = evaluation
    return recorded


def _pins_from_spec(entry: dict[str, Any], env: str | None) -> dict[str, Any]:
    """The pins of the spec `entry` recorded, in environment `env` (None: without overlays)."""
    from mlspec.files import loader  # only for entries an earlier mlspec wrote
    from mlspec.files.errors import MlspecError
    from mlspec.pipeline import rules
    from mlspec.spec import overlay

    try:
        doc = loader.load(json.dumps(entry["spec"]), str(entry.get("source", "<ledger>")))
        declared = isinstance(doc.data.get("spec"), dict) and doc.data["spec"].get("environments")
        return pins(rules.validate(overlay.overlay(doc, env) if declared and env is not None else doc, secrets=False))
    except (MlspecError, TypeError, ValueError, AttributeError):  # a spec today's rules refuse: its base pins
        return dict(entry["pins"])


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flat(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: value}


def record(ledger: Ledger, build: Built) -> Ledger:
    """The ledger with this build recorded; refuses a recorded version with other pins
    in any environment (`mlspec.reconcile` refuses it first, at the spec's field, when
    the build read the ledger)."""
    version, new_pins, spec_data, environments = build.version, build.pins, build.spec_record, build.environments
    where = Diagnostic(build.source, *build.version_mark, "")
    entry: dict[str, Any] = {
        "version": version,
        "source": Path(build.source).name,
        "specDigest": digest(spec_data),
        "pins": new_pins,
        "environments": dict(sorted(environments.items())),
        "spec": spec_data,
    }
    overrides = {env: p for env, p in build.environment_pins.items() if p != new_pins}
    result = Ledger(ledger.model, version, copy_data(ledger.releases), rollbacks=copy_data(ledger.rollbacks))
    existing = result.find(version)
    if existing is None:
        if overrides:
            entry["environmentPins"] = dict(sorted(overrides.items()))
        result.releases.append(_sealed(entry))
        return result
    changed = _changes(flat(recorded_pins(existing, None)), flat(new_pins))
    base = {(key, old, new) for _, key, old, new in changed}  # reported once, not once per environment
    for env, p in sorted(build.environment_pins.items()):
        changed += [(env, key, old, new) for _, key, old, new in _changes(flat(recorded_pins(existing, env)), flat(p))
                    if (key, old, new) not in base]
    if changed:
        text = ", ".join(f"{key}{f' in environment `{env}`' if env else ''}: {old!r} -> {new!r}"
                         for env, key, old, new in changed)
        raise LedgerError([Diagnostic(where.source, where.line, where.col,
                                      f"version {version!r} is already released with other pins ({text}); "
                                      "a released version is immutable: give this model a new `spec.model.version`")])
    # Environments this build did not select keep what they were recorded with.
    kept = {env: recorded_pins(existing, env) for env in existing.get("environments", {}) if env not in environments}
    overrides.update({env: p for env, p in kept.items() if p != new_pins})
    if overrides:
        entry["environmentPins"] = dict(sorted(overrides.items()))
    entry["environments"] = dict(sorted({**existing.get("environments", {}), **environments}.items()))
    for key in ("metrics", "gate"):  # deployment settings may change; recorded evaluations stay
        if key in existing:
            entry[key] = existing[key]
    result.releases[result.releases.index(existing)] = _sealed(entry)
    return result


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str | None, str, Any, Any]]:
    return [(None, key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]


def with_metrics(ledger: Ledger, version: str, metrics: dict[str, Any], passed: bool) -> Ledger:
    result = Ledger(ledger.model, ledger.current, copy_data(ledger.releases), rollbacks=copy_data(ledger.rollbacks))
    entry = result.find(version)
    assert entry is not None, "record the release before its metrics"
    entry["metrics"] = dict(sorted(metrics.items()))
    entry["gate"] = "passed" if passed else "failed"
    _sealed(entry)
    return result
