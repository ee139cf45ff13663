"""`mlspec rollback`: return a model to a recorded release and leave the repository
consistent (DESIGN.md, *Reviewable output*, last bullet; *Trust*, first bullet).

A rollback to V, leaving the current release X, is a release of V again:

- the spec's pins go back to V's, with the round-trip editor `mlspec release` uses
  (`yamledit`; X's pins move into `spec.rollback.previous` exactly as a release moves
  them), and `evaluation.baseline` goes back to what V was judged against;
- the ledger records the rollback (`ledger.with_rollback`: sealed, ordered by its
  sequence, no clock) and V becomes current; a rebuild of V then keeps X as its
  `previous` (`reconcile`), and the lineage carries the rollback (`lineage`);
- the output is what `build` writes for the edited spec (`specfiles.build_one`), so
  `build --check` is green right after, and after the next `build`.

Without the spec file (another checkout, `--no-spec`), the same edit is made to the
spec the ledger recorded for X, and its diff is what the user commits.

Both recorded specs (V's and X's) must agree with their own entries (spec digest,
pins in every environment) and pass today's rules and platform policy: a hand-edited
entry with a recomputed seal must not roll back to another artifact.

Pure: ledgers and text in, a `Plan` out; the CLI writes.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.files import emit, layout, loader
from mlspec.files.errors import Diagnostic, LedgerError, MlspecError, SpecError
from mlspec.files.loader import Mark
from mlspec.pipeline.core import compile_document
from mlspec.pipeline.resolve import Context
from mlspec.records import ledger, reconcile, releases
from mlspec.records.ledger import Ledger
from mlspec.spec.pins import pins

_BASELINE = ("spec", "evaluation", "baseline")
# Spec fields that are not ledger pins but belong to the model all the same: how the
# artifact is loaded, and the training run that produced it.
_MODEL_FIELDS = (("spec", "model", "format"), ("spec", "training", "runId"))


@dataclass
class Plan:
    """What a rollback writes: the spec's new text and the ledger that records it."""

    model: str
    to: str
    leaving: str
    source: str          # the spec file, or (emergency) the file name the ledger recorded
    old_text: str
    new_text: str
    ledger: Ledger       # the rollback recorded, `to` current
    recorded: bool       # False: the ledger already recorded this rollback (finishing an emergency one)

    def diff(self, label: str | None = None) -> str:
        name = (label or self.source).replace("\\", "/")
        return "".join(difflib.unified_diff(self.old_text.splitlines(True), self.new_text.splitlines(True),
                                            f"a/{name}", f"b/{name}"))


def plan(lg: Ledger, to: str, where: str, context: Context, accept_feature_mismatch: bool = False,
         spec_text: str | None = None, spec_source: str | None = None) -> Plan:
    """The rollback of `lg`'s model to `to`: with `spec_text` (the spec file), its edit;
    without, the edit of the spec the ledger recorded for the current release. Raises
    `MlspecError` (positioned) on every refusal."""
    target = lg.find(to)
    if target is None:
        versions = ", ".join(r["version"] for r in lg.releases) or "none"
        raise LedgerError([Diagnostic(where, 1, 1, f"{lg.model} has no recorded release {to!r}; recorded: {versions}")])
    done = ledger.restored(lg, to)
    finishing = (lg.current == to and done is not None and spec_text is not None
                 and _version(spec_text, spec_source or "") == done["from"])  # an emergency rollback's spec edit
    leaving_version = done["from"] if finishing and done is not None else lg.current
    leaving = lg.find(leaving_version or "")
    if leaving is None or leaving is target:
        raise LedgerError([Diagnostic(where, 1, 1, f"{to!r} is already the current release of {lg.model}")])
    # The release left is the output's basis only without a spec file (a platform that now
    # forbids its images must not stop a rollback away from it).
    checked = (target,) if spec_text is not None else (target, leaving)
    problems = [d for entry in checked for d in check_entry(lg, entry, where, context)]
    if problems:
        raise LedgerError(problems)
    mismatch = releases.feature_context_mismatch(target, leaving)
    accepted = accept_feature_mismatch or (finishing and done is not None and done.get("acceptedFeatureMismatch"))
    if mismatch and not accepted:
        raise LedgerError([Diagnostic(where, 1, 1, f"refusing to roll back {lg.model}: {mismatch}. Roll back the "
                                      "feature pipeline first, or pass --accept-feature-mismatch (recorded in the "
                                      "ledger and the lineage)")])
    if spec_text is None:  # emergency: the spec the ledger recorded for the release being left
        source, text = leaving["source"], emit.dump(leaving["spec"])
    else:
        source, text = spec_source or "<spec>", spec_text
        _at_release(text, source, leaving["version"], lg.model)
        problems = overridden(text, source, target)
        if problems:
            raise SpecError(problems)
    new_text = edit(text, source, target, leaving)
    record: dict[str, Any] = {"to": to, "from": leaving["version"]}
    if mismatch:
        record.update(acceptedFeatureMismatch=True, reason=mismatch)
    return Plan(lg.model, to, leaving["version"], source, text, new_text,
                lg if finishing else ledger.with_rollback(lg, record), not finishing)


def _version(text: str, source: str) -> Any:
    return reconcile._dig(loader.load(text, source).data, "spec", "model", "version")


def _at_release(text: str, source: str, version: str, model: str) -> None:
    """The spec file must describe the release being left, or its edit would undo something else."""
    doc = loader.load(text, source)
    found = _version(text, source)
    if found != version:
        line, col = doc.position(("spec", "model", "version"), key=False)
        raise SpecError([Diagnostic(source, line, col, f"this spec is at version {found!r}, but the current release of "
                                    f"{model} is {version!r}: build (or revert) it before rolling back, so the rollback "
                                    "edits the release that is deployed")])


def _entry_mark(lg: Ledger, entry: dict[str, Any]) -> Mark:
    index = next(i for i, r in enumerate(lg.releases) if r is entry)
    return lg.marks[index] if index < len(lg.marks) else (1, 1)


def check_entry(lg: Ledger, entry: dict[str, Any], where: str, context: Context) -> list[Diagnostic]:
    """Why the spec `entry` recorded cannot be trusted or used today: it disagrees with
    the entry's own spec digest or pins, names another model, or fails today's rules and
    the platform's policy (what `build` would refuse). Errors stand at the entry."""
    line, col = _entry_mark(lg, entry)
    version = entry["version"]

    def at(message: str) -> Diagnostic:
        return Diagnostic(where, line, col, f"the entry of release {version!r}: {message}")

    if ledger.digest(entry["spec"]) != entry["specDigest"]:
        return [at("its recorded spec does not match its `specDigest` (the spec was edited after mlspec recorded it); "
                   "refusing to roll back to it: restore the ledger from Git")]
    try:
        compiled = compile_document(json.dumps(entry["spec"]), entry["source"], None,
                                    Context(platform=context.platform, layout=layout.of_key(lg.model)))
    except MlspecError as exc:
        return [at(f"its recorded spec is refused today ({d.source}:{d.line}:{d.col}: {d.message})")
                for d in exc.diagnostics]
    if compiled.key != lg.model:  # the entry's spec would rewrite another model's manifests
        return [at(f"it records the spec of model {compiled.key!r}: refusing to write {compiled.key}'s manifests from "
                   f"{lg.model}'s ledger; restore the ledger from Git")]
    problems = []
    stated = [(None, pins(compiled.base))] + [(i.release.env, pins(i.release.spec)) for i in compiled.items]
    for env, given in stated:
        recorded = ledger.flat(ledger.recorded_pins(entry, env))
        for key in sorted(recorded.keys() | ledger.flat(given).keys()):
            value = ledger.flat(given).get(key)
            if recorded.get(key) != value:
                problems.append(at(f"its recorded spec pins {key} {value!r}{f' in environment `{env}`' if env else ''}, "
                                   f"but the entry records {recorded.get(key)!r}: one of them was edited by hand; "
                                   "refusing to roll back to it: restore the ledger from Git"))
    return sorted(set(problems), key=lambda d: d.message)


def edit(text: str, source: str, target: dict[str, Any], leaving: dict[str, Any]) -> str:
    """`text` (a spec at release `leaving`) with release `target`'s pins, `leaving` as its
    `rollback.previous`, and the baseline `target` was judged against. Layout, comments,
    quoting and key order are kept: the diff shows only values that changed."""
    from mlspec.records import release, yamledit

    doc = loader.load(text, source)
    editor = yamledit.Editor(text, source)
    release._move_to_previous(editor, doc.data, release._spec_pins(doc.data))
    editor.set(("spec", "model", "version"), target["version"])
    new, old = ledger.flat(ledger.recorded_pins(target, None)), ledger.flat(ledger.recorded_pins(leaving, None))
    for key, value in new.items():
        editor.set(_spec_path(key), value)
    for key in sorted(old.keys() - new.keys()):  # a pin the target did not have (a data digest, features)
        _delete(editor, _spec_path(key))
    recorded = target["spec"]
    for path in _MODEL_FIELDS:
        value = reconcile._dig(recorded, *path)
        if value is None:
            _delete(editor, path)
        else:
            editor.set(path, value)
    judged = reconcile._dig(recorded, *_BASELINE) or reconcile._dig(recorded, "spec", "rollback", "previous", "version")
    if judged is None:
        _delete(editor, _BASELINE)  # a first release: the baseline is the new `previous`
    elif editor.has(_BASELINE) or judged != leaving["version"]:
        editor.set(_BASELINE, judged)
    return editor.text()


def _spec_path(key: str) -> tuple[str, ...]:
    section, *rest = key.split(".")
    return ("spec",) + tuple(str(k) for k in reconcile.PIN_SECTIONS.get(section, (section,))) + tuple(rest)


def _delete(editor: Any, path: tuple[str, ...]) -> None:
    """Remove `path`, and the mappings it leaves empty."""
    while len(path) > 1 and editor.has(path):
        editor.delete(path)
        path = path[:-1]
        if editor.get(path):
            return


def overridden(text: str, source: str, target: dict[str, Any]) -> list[Diagnostic]:
    """An environment overlay that sets a pin would keep its value there: the rolled-back
    spec would not be the target release in that environment."""
    doc = loader.load(text, source)
    environments = (doc.data.get("spec") or {}).get("environments") or {}
    written = [_spec_path(k) for k in ledger.flat(ledger.recorded_pins(target, None))] + [("spec", "rollback", "previous")]
    return [loader.diagnostic(doc, ("spec", "environments", env, *path[1:]), f"environment `{env}` overrides "
                              f"`{'.'.join(path)}`, which a rollback sets: the rolled-back release would not reach "
                              f"`{env}`; remove the override (pins belong to the model, not to an environment)",
                              rule="environment-overrides-pin")
            for env, overlay in sorted(environments.items()) for path in written
            if reconcile._dig(overlay, *path[1:]) is not None]




def find_spec(root: Path, model_key: str) -> list[str]:
    """The spec files of model `model_key` among those `build` finds under `root` (the
    repository): discovery as `build` does it, then each spec's `metadata` read. A
    spec that does not load is another model's problem, not this rollback's."""
    from mlspec.records import specfiles

    namespace, name = layout.split(model_key)
    found = []
    try:
        paths = specfiles.find_specs([str(root)])
    except MlspecError as exc:
        if all(d.message == "no ModelDeployment spec found here" for d in exc.diagnostics):
            return []  # no spec at all in the repository
        raise  # a link where discovery looks: refused as `build` refuses it
    for path in paths:
        try:
            data = loader.load(specfiles.read_spec(path), path).data
        except MlspecError:
            continue
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if (isinstance(metadata, dict) and metadata.get("name") == name
                and (namespace is None or metadata.get("namespace") == namespace)):
            found.append(path)
    return found
