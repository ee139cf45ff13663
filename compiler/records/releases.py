"""Release workflows over the ledger: what `build`, `gate --record` and `history`
write, and what a build reads of a rollback (`rollback_lineage`; `rollback` itself is
`mlspec.records.rollback`). Pure: ledgers and compiled specs in, files out; the CLI does I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from mlspec.files.errors import Diagnostic, LedgerError
from mlspec.files.loader import Document
from mlspec.pipeline.core import CompiledSpec, built
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
            self._ledgers[name] = ledger.load(self.directory, name) if self.directory is not None else Ledger(name)
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
            rollback_lineage(state, base.spec.model.version, releases)

    def seed(self, lg: Ledger) -> None:
        """Read `lg` as its model's ledger (`rollback`: the ledger with the rollback recorded, not yet written)."""
        self._ledgers[lg.model] = lg

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


def rollback_lineage(past: Ledger, version: str, releases: list[Release]) -> None:
    """Record in each release's lineage that it is a rollback, when the ledger says so and
    the spec names the release the rollback left as its `previous` (as `mlspec rollback` writes it)."""
    restored = ledger.restored(past, version)
    if restored is None:
        return
    for release in releases:
        rollback = release.spec.spec.rollback
        if rollback is not None and rollback.previous is not None and rollback.previous.version == restored["from"]:
            release.lineage["rollback"] = {k: v for k, v in restored.items() if k != "digest"}


def history(lg: Ledger, recorded_by: Mapping[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """One row per release, in order, then one per rollback (`"rollback": true`, in sequence
    order; schemas/output/history.schema.json). `recorded_by`: per version, the Git commit
    that added its entry to the ledger (`date`, `author`, `commit`), read by the CLI; a
    release without one (no Git, not committed yet) has them null."""
    rows: list[dict[str, Any]] = []
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
    for r in lg.rollbacks:
        rows.append({"rollback": True, "sequence": r["sequence"], "from": r["from"], "version": r["to"],
                     "current": False, "acceptedFeatureMismatch": bool(r.get("acceptedFeatureMismatch"))})
    return rows


def history_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table, as `helm history` prints one: when, by whom and in which
    commit each release was recorded (blank outside Git), what it ships and its verdict."""
    header = ("", "version", "date", "author", "commit", "artifact", "data", "seed", "features", "spec digest", "gate",
              "metrics")
    rollbacks = [r for r in rows if r.get("rollback")]
    rows = [r for r in rows if not r.get("rollback")]
    table = [header] + [(
        "*" if r["current"] else "", r["version"], (r["date"] or "")[:10], r["author"] or "", (r["commit"] or "")[:12],
        (r["artifactDigest"] or "-").split(":")[-1][:12], r["dataVersion"], str(r["seed"]),
        r["featurePipelineVersion"] or "-", r["specDigest"][7:19], r["gate"] or "-",
        ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in r["metrics"].items()) or "-",
    ) for r in rows]
    lines = [f"rollback #{r['sequence']}: {r['from']} -> {r['version']}"
             + (" (accepted feature mismatch)" if r["acceptedFeatureMismatch"] else "") for r in rollbacks]
    return gate.format_table(table) + "".join(f"\n{line}" for line in lines)


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
