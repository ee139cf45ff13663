"""Release workflows over the ledger: what `build`, `gate --record`, `history` and
`rollback` write. Pure: ledgers and compiled specs in, files out; the CLI does I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from mlspec.files import layout
from mlspec.files.errors import Diagnostic, LedgerError
from mlspec.files.loader import Document
from mlspec.pipeline.core import CompiledSpec, built, compile_document, to_files
from mlspec.pipeline.resolve import Context, Release
from mlspec.pod import gate
from mlspec.records import ledger, reconcile
from mlspec.records.ledger import Ledger
from mlspec.spec.model import ModelDeployment


def context_from(ledgers: dict[str, Ledger]) -> Context:
    """Recorded metrics of every model, so gates can compare against a baseline."""
    recorded = {name: lg.metrics() for name, lg in ledgers.items()}
    return Context(recorded_metrics={name: metrics for name, metrics in recorded.items() if metrics})


class RecordedMetrics(Mapping[str, dict[str, dict[str, float]]]):
    """`{model: {version: metrics}}` read from a ledger directory on demand: a batch
    build reads only the ledgers of the models it compiles, each in the worker that
    compiles it. A damaged ledger is an error of the spec that needs it."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._ledgers: dict[str, Ledger] = {}

    def ledger(self, name: str) -> Ledger:
        """The ledger of `name`, refused when an entry was edited after mlspec wrote it."""
        if name not in self._ledgers:
            self._ledgers[name] = (ledger.verified(ledger.load(self.directory, name), str(self.directory / ledger.relpath(name)))
                                   if self.directory is not None else Ledger(name))
        return self._ledgers[name]

    def before_resolve(self, doc: Document, context: Context) -> Ledger | None:
        """The core's `Reconciler`: fill in `rollback.previous` from the model's ledger."""
        past = reconcile.ledger_of(doc, context)
        if past is not None:
            reconcile.fill(doc, past)
        return past

    def after_resolve(self, state: Ledger | None, doc: Document, base: ModelDeployment, releases: list[Release]) -> None:
        """The core's `Reconciler`: every disagreement with the ledger, as one `LedgerError`."""
        if state is not None:
            reconcile.check(doc, base, releases, state)

    def __getitem__(self, name: str) -> dict[str, dict[str, float]]:
        metrics = self.ledger(name).metrics()
        if not metrics:
            raise KeyError(name)
        return metrics

    def __iter__(self) -> Iterator[str]:
        names = ledger.names(self.directory) if self.directory is not None else []
        return (name for name in names if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def history(lg: Ledger, recorded_by: Mapping[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """One row per release (schemas/output/history.schema.json). `recorded_by`: per version,
    the Git commit that added its entry to the ledger (`date`, `author`, `commit`), read by
    the CLI; a release without one (no Git, not committed yet) has them null."""
    rows = []
    for r in lg.releases:
        pins = r["pins"]
        by = (recorded_by or {}).get(r["version"], {})
        rows.append({
            "version": r["version"],
            "current": r["version"] == lg.current,
            "date": by.get("date"),
            "author": by.get("author"),
            "commit": by.get("commit"),
            "artifactDigest": pins.get("artifact", {}).get("digest"),
            "dataVersion": pins["data"]["version"],
            "seed": pins["seed"],
            "featurePipelineVersion": pins.get("features", {}).get("pipelineVersion"),
            "specDigest": r["specDigest"],
            "gate": r.get("gate"),
            "metrics": r.get("metrics", {}),
        })
    return rows


def history_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table, as `helm history` prints one: when, by whom and in which
    commit each release was recorded (blank outside Git), what it ships and its verdict."""
    header = ("", "version", "date", "author", "commit", "artifact", "data", "seed", "features", "spec digest", "gate",
              "metrics")
    table = [header] + [(
        "*" if r["current"] else "", r["version"], (r["date"] or "")[:10], r["author"] or "", (r["commit"] or "")[:12],
        (r["artifactDigest"] or "-").split(":")[-1][:12], r["dataVersion"], str(r["seed"]),
        r["featurePipelineVersion"] or "-", r["specDigest"][7:19], r["gate"] or "-",
        ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in r["metrics"].items()) or "-",
    ) for r in rows]
    return gate.format_table(table)


def feature_context_mismatch(target: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Why the target's feature context differs from the current release's, if it does."""
    t, c = target["pins"].get("features", {}), current["pins"].get("features", {})
    t_digest, c_digest = t.get("schemaDigest"), c.get("schemaDigest")
    if t_digest == c_digest and (t_digest is not None or t.get("pipelineVersion") == c.get("pipelineVersion")):
        return None
    return (f"{target['version']} was trained for feature pipeline {t.get('pipelineVersion', '-')} "
            f"(schema {t_digest or 'unrecorded'}), but the current release {current['version']} uses "
            f"{c.get('pipelineVersion', '-')} (schema {c_digest or 'unrecorded'}); its data context: training data "
            f"{target['pins']['data']['version']} (current {current['pins']['data']['version']})")


def rollback(lg: Ledger, to: str, env: str | None, accept_feature_mismatch: bool,
             ledgers: dict[str, Ledger], where: str) -> dict[str, str]:
    """The target release's manifests regenerated from the ledger, annotated with the rollback."""
    target = lg.find(to)
    if target is None:
        versions = ", ".join(r["version"] for r in lg.releases) or "none"
        raise LedgerError([Diagnostic(where, 1, 1, f"{lg.model} has no recorded release {to!r}; recorded: {versions}")])
    current = lg.find(lg.current or "")
    if current is None or current is target:
        raise LedgerError([Diagnostic(where, 1, 1, f"{to!r} is already the current release of {lg.model}")])
    mismatch = feature_context_mismatch(target, current)
    if mismatch and not accept_feature_mismatch:
        raise LedgerError([Diagnostic(where, 1, 1, f"refusing to roll back {lg.model}: {mismatch}. Roll back the "
                                      "feature pipeline first, or pass --accept-feature-mismatch (recorded in the lineage)")])
    annotations = {"mlspec.dev/rollback-from": current["version"], "mlspec.dev/rollback-to": to}
    lineage: dict[str, Any] = {}
    if mismatch:
        annotations["mlspec.dev/rollback-accepted-feature-mismatch"] = "true"
        lineage["rollback"] = {"from": current["version"], "to": to, "acceptedFeatureMismatch": True, "reason": mismatch}
    # The layout the ledger was recorded in places the manifests (`mlspec.layout`).
    context = Context(recorded_metrics=context_from(ledgers).recorded_metrics, annotations=annotations, lineage=lineage,
                      layout=layout.of_key(lg.model))
    compiled = compile_document(json.dumps(target["spec"]), target["source"], env, context)
    if compiled.key != lg.model:  # the entry's spec would rewrite another model's manifests
        raise LedgerError([Diagnostic(where, 1, 1, f"the ledger of {lg.model} records release {to!r} with the spec of "
                                      f"model {compiled.key!r}: refusing to write {compiled.key}'s manifests from "
                                      f"{lg.model}'s ledger; restore the ledger from Git")])
    files = to_files(compiled.items, target["source"])
    files[ledger.relpath(lg.model)] = ledger.dump(Ledger(lg.model, to, lg.releases))  # `to` is current now
    return files


def record_gate(lg: Ledger, compiled: CompiledSpec, verdicts: list[gate.Verdict], metrics: dict[str, Any],
                source: str) -> Ledger:
    """The ledger with this candidate's metrics and verdict stored on its release."""
    # Only a release the ledger holds: recording a gate must not add a release nobody
    # built (it silently did). `record` refuses other pins for a recorded version;
    # evaluating is not releasing, so the current release stays as it was.
    build = built(compiled)
    if lg.find(build.version) is None:
        versions = ", ".join(r["version"] for r in lg.releases) or "none"
        raise LedgerError([Diagnostic(build.source, *build.version_mark, (
            f"{lg.model} has no recorded release {build.version!r} to record this gate on (recorded: {versions}); "
            "build it first (`mlspec build SPEC -o OUT`), then run `gate --record` again"), rule="gate-unknown-release")])
    recorded = ledger.record(lg, build)
    recorded.current = lg.current
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return ledger.with_metrics(recorded, compiled.base.spec.model.version, numbers, all(v.passed for v in verdicts))
