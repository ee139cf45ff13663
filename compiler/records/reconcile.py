"""The ledger is the authority for the past: a spec reconciled with its model's ledger.

Whenever a build can read the model's ledger (`build -o DIR`, `--ledger DIR`, the
plugin with `MLSPEC_LEDGER`, `gate -o DIR`, `release`), `core.compile_document` runs
these rules between loading and rendering:

- `spec.rollback.previous` names a recorded release, and every field it gives equals
  that record (artifact uri and digest, data version, feature pipeline version and
  schema digest); feature fields it omits are taken from the record (`fill`);
- a new version's `previous` is the ledger's current release (skipping the deployed
  model would make the baseline and the rollback target a model nobody runs);
- a rebuild of a recorded version keeps the `previous` it was recorded with (once
  `mlspec rollback` restored it: the release that rollback left), and every pin it was
  recorded with, in every environment (an overlay is checked like the base).

Each disagreement is an error at the spec's field (the overlay's, when an overlay set
it) quoting the recorded value. A ledger without releases has nothing to reconcile:
the output is then the same bytes as a build whose ledger agrees.
"""

from __future__ import annotations

from typing import Any, Iterator

from mlspec.files import layout
from mlspec.files.errors import Diagnostic, LedgerError
from mlspec.files.loader import Document, Mark, Path
from mlspec.pipeline.resolve import Context, Release
from mlspec.records import ledger
from mlspec.records.ledger import Ledger
from mlspec.spec.model import ModelDeployment

PREVIOUS: Path = ("spec", "rollback", "previous")
# A field of `rollback.previous` -> the pin of the named release it must equal.
PREVIOUS_FIELDS = [
    ("artifact.uri", "artifact.uri"),
    ("artifact.digest", "artifact.digest"),
    ("dataVersion", "data.version"),
    ("featurePipelineVersion", "features.pipelineVersion"),
    ("featureSchemaDigest", "features.schemaDigest"),
]
FILLED = {"featurePipelineVersion": "pipelineVersion", "featureSchemaDigest": "schemaDigest"}
# Where a pin (`ledger.pins`, flattened) stands in `spec`.
PIN_SECTIONS: dict[str, Path] = {
    "artifact": ("model", "artifact"), "code": ("training", "code"), "data": ("training", "data"),
    "seed": ("training", "seed"), "environment": ("training", "environment"), "features": ("features",),
    "evaluation": ("evaluation",),
}


def ledger_of(doc: Document, context: Context) -> Ledger | None:
    """The ledger of the spec's model when the context can read one and it records a
    release; None when there is nothing to reconcile against."""
    reader = context.recorded_metrics
    if not isinstance(reader, ledger.Reader) or reader.directory is None:
        return None
    metadata = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not layout.is_label(name):
        return None  # validation reports the name; no file is named after it
    if context.layout == layout.NAMESPACED:
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        if not isinstance(namespace, str) or not layout.is_label(namespace):
            return None  # `resolve` reports it
        name = layout.key(name, namespace)
    past = reader.ledger(name)
    return past if past.releases else None


def fill(doc: Document, past: Ledger) -> None:
    """Feature fields `rollback.previous` omits, taken from the release it names."""
    spec = doc.data.get("spec")
    rollback = spec.get("rollback") if isinstance(spec, dict) else None
    previous = rollback.get("previous") if isinstance(rollback, dict) else None
    if not isinstance(previous, dict) or not isinstance(previous.get("version"), str):
        return
    features = _dig(past.find(previous["version"]), "pins", "features")
    if not isinstance(features, dict):
        return
    fills = {k: features[pin] for k, pin in FILLED.items() if k not in previous and pin in features}
    if fills and isinstance(rollback, dict):
        rollback["previous"] = {**previous, **fills}


def check(doc: Document, base: ModelDeployment, releases: list[Release], past: Ledger) -> None:
    """Raise `LedgerError` with every disagreement between the spec and its ledger."""
    declared = bool(base.spec.environments)
    entry = past.find(base.spec.model.version)
    problems: set[Diagnostic] = set()
    for release in releases:
        if entry is not None:
            problems.update(_pins(doc, base, release, entry, declared))
        problems.update(_previous(doc, base, release, past, entry, declared))
    if problems:
        raise LedgerError(sorted(problems))


def _at(doc: Document, env: str, declared: bool, path: Path, message: str, name_env: bool = False) -> Diagnostic:
    """`message` at `path` of `spec`, or at the overlay's field when the environment's
    overlay set it (the message then names the environment, as with `name_env`)."""
    overlay = ("spec", "environments", env) + path[1:]
    if declared and overlay in doc.marks:
        line, col = doc.marks[overlay]
        name_env = True
    else:
        line, col = doc.position(path, key=False)
    return Diagnostic(doc.source, line, col, f"in environment `{env}`: {message}" if declared and name_env else message)


def _version_mark(doc: Document) -> Mark:
    return doc.position(("spec", "model", "version"), key=False)


def _pins(doc: Document, base: ModelDeployment, release: Release, entry: dict[str, Any],
          declared: bool) -> Iterator[Diagnostic]:
    version = base.spec.model.version
    old, new = ledger.flat(ledger.recorded_pins(entry, release.env)), ledger.flat(ledger.pins(release.spec))
    recorded_base = ledger.flat(ledger.recorded_pins(entry, None))
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        section, *rest = key.split(".")
        path = ("spec",) + PIN_SECTIONS.get(section, (section,)) + tuple(rest)
        # An environment recorded with its own value is named: the base's record differs.
        yield _at(doc, release.env, declared, path, name_env=old.get(key) != recorded_base.get(key), message=
                  f"version {version!r} is already released with other pins ({key}: recorded {old.get(key)!r}, "
                  f"this spec {new.get(key)!r}); a released version is immutable: give this model a new "
                  "`spec.model.version`")


def _recorded_previous(entry: dict[str, Any], env: str) -> str | None:
    """The `rollback.previous.version` a recorded release was built with in `env`."""
    spec = _dig(entry, "spec", "spec")
    version = _dig(spec, "rollback", "previous", "version")
    overlay = _dig(spec, "environments", env, "rollback", "previous")
    given = overlay.get("version", version) if isinstance(overlay, dict) else version
    return given if isinstance(given, str) else None


def _dig(value: Any, *keys: str) -> Any:
    """`value[k1][k2]…`, None where a level is missing or not a mapping (a recorded spec)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _previous(doc: Document, base: ModelDeployment, release: Release, past: Ledger, entry: dict[str, Any] | None,
              declared: bool) -> Iterator[Diagnostic]:
    env, version, name = release.env, base.spec.model.version, base.metadata.name
    rollback = release.spec.spec.rollback
    previous = rollback.previous if rollback else None
    where = PREVIOUS + ("version",)
    if entry is not None:  # a rebuild: the previous it was recorded with (or restored by a rollback from)
        restored = ledger.restored(past, version)
        recorded = restored["from"] if restored else _recorded_previous(entry, env)
        given = previous.version if previous else None
        if given != recorded:
            was = (f"restored by rollback #{restored['sequence']} from {recorded!r}, its `rollback.previous`"
                   if restored else f"recorded with `rollback.previous` {recorded!r}" if recorded
                   else "recorded as a first release (no `rollback.previous`)")
            message = (f"version {version!r} was {was}; a rebuild of a recorded release keeps the `previous` "
                       "it was recorded with: give this model a new `spec.model.version`")
            if previous is None:
                line, col = _version_mark(doc)
                yield Diagnostic(doc.source, line, col, message)
            else:
                yield _at(doc, env, declared, where, message)
            return
    elif previous is None:
        if past.current is not None:
            line, col = _version_mark(doc)
            yield Diagnostic(doc.source, line, col, f"{name} has a deployed release, {past.current!r} (the ledger's "
                             f"current release): a new version must name it in `spec.rollback.previous`")
        return
    if previous is None:
        return
    target = past.find(previous.version)
    if target is None:
        if entry is None:  # a rebuild keeps a previous from before the ledger began
            versions = ", ".join(repr(r["version"]) for r in past.releases)
            yield _at(doc, env, declared, where, f"`rollback.previous` names version {previous.version!r}, which "
                      f"{name}'s ledger does not record: recorded releases are {versions}")
        return
    if entry is None and past.current is not None and previous.version != past.current:
        yield _at(doc, env, declared, where, f"`rollback.previous` is {previous.version!r}, but the ledger's current "
                  f"release of {name} is {past.current!r}: a new version replaces the deployed release (skipping it "
                  "would make the baseline and the rollback target a model nobody runs)")
        return
    fields = ledger.flat(previous.model_dump(by_alias=True, exclude_none=True))
    record = ledger.flat(ledger.recorded_pins(target, env))
    recorded_base = ledger.flat(ledger.recorded_pins(target, None))
    for field, pin in PREVIOUS_FIELDS:
        if field in fields and fields[field] != record.get(pin):
            recorded_value = repr(record[pin]) if record.get(pin) is not None else "none"
            # An environment whose overlay recorded its own value is named (as in `_pins`).
            yield _at(doc, env, declared, PREVIOUS + tuple(field.split(".")),
                      name_env=record.get(pin) != recorded_base.get(pin), message=
                      f"`rollback.previous.{field}` is {fields[field]!r}, but release {previous.version!r} was "
                      f"recorded with {recorded_value}")
