"""Release workflows as data: recorded metrics read on demand, history rows and table,
rollback plans and refusals, and what `gate --record` stores (the current release stays)."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from mlspec.files.errors import LedgerError
from mlspec.pipeline.core import Context, build, compile_document
from mlspec.pod import gate
from mlspec.records import ledger, releases, rollback
from mlspec.records.ledger import Ledger
from mlspec.records.releases import RecordedMetrics

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
V2 = MINIMAL.replace('version: "1.0.0"', 'version: "1.1.0"').replace("seed: 7", "seed: 8")


def recorded(*texts: str) -> Ledger:
    lg = Ledger("churn")
    for text in texts:
        lg = ledger.record(lg, build(text.encode(), "churn.yaml", None, Context()))
    return lg


def test_recorded_metrics_are_read_on_demand_and_only_where_there_are_some(tmp_path):
    with_metrics = ledger.with_metrics(recorded(MINIMAL), "1.0.0", {"f1": 0.9}, True)
    (tmp_path / "_ledger").mkdir()
    (tmp_path / "_ledger" / "churn.yaml").write_text(ledger.dump(with_metrics))
    (tmp_path / "_ledger" / "bare.yaml").write_text(ledger.dump(Ledger("bare")))
    metrics = RecordedMetrics(tmp_path)
    assert metrics["churn"] == {"1.0.0": {"f1": 0.9}}
    assert "bare" not in metrics and "missing" not in metrics
    with pytest.raises(KeyError):
        metrics["bare"]
    assert list(metrics) == ["churn"] and len(metrics) == 1
    assert metrics.ledger("churn") is metrics.ledger("churn")  # read once
    assert list(RecordedMetrics(tmp_path / "nowhere")) == []
    nothing = RecordedMetrics(None)
    assert (list(nothing), len(nothing), nothing.ledger("churn")) == ([], 0, Ledger("churn"))
    context = releases.context_from({"churn": with_metrics, "bare": Ledger("bare")})
    assert context.recorded_metrics == {"churn": {"1.0.0": {"f1": 0.9}}}


def test_history_rows_and_table():
    lg = ledger.with_metrics(recorded(MINIMAL, V2), "1.0.0", {"f1": 0.9, "note": "x"}, True)
    rows = releases.history(lg)
    assert [(r["version"], r["current"], r["seed"], r["gate"], r["featurePipelineVersion"]) for r in rows] == [
        ("1.0.0", False, 7, "passed", None), ("1.1.0", True, 8, None, None)]
    assert rows[0]["dataVersion"] == "2026-11-01" and rows[1]["metrics"] == {}
    lines = releases.history_table(rows).splitlines()
    assert lines[0].split() == ["version", "date", "author", "commit", "artifact", "data", "seed", "features", "spec",
                                "digest", "gate", "metrics"]
    artifact = rows[0]["artifactDigest"].split(":")[1][:12]  # outside Git: date, author and commit are blank
    first, second = (line.split() for line in lines[1:])
    assert first == ["1.0.0", artifact, "2026-11-01", "7", "-", rows[0]["specDigest"][7:19], "passed", "f1=0.9,", "note=x"]
    assert second == ["*", "1.1.0", artifact, "2026-11-01", "8", "-", rows[1]["specDigest"][7:19], "-", "-"]
    assert len(rows[1]["specDigest"][7:19]) == 12
    # with the Git commit that recorded each entry: the first release's row only
    by = {"1.0.0": {"date": "2026-12-01T09:30:00+00:00", "author": "ada", "commit": "c" * 40}}
    dated = releases.history_table(releases.history(lg, by)).splitlines()
    assert dated[1].split()[:4] == ["1.0.0", "2026-12-01", "ada", "c" * 12]
    assert dated[2].split()[:3] == ["*", "1.1.0", artifact]


def test_rollback_refuses_unknown_and_current_versions():
    lg = recorded(MINIMAL, V2)
    with pytest.raises(LedgerError) as info:
        rollback.plan(lg, "0.1.0", "deploy/_ledger/churn.yaml", Context())
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.col) == ("deploy/_ledger/churn.yaml", 1, 1)
    assert diag.message == "churn has no recorded release '0.1.0'; recorded: 1.0.0, 1.1.0"
    with pytest.raises(LedgerError, match="recorded: none"):
        rollback.plan(Ledger("churn"), "1.0.0", "l.yaml", Context())
    with pytest.raises(LedgerError, match="'1.1.0' is already the current release of churn"):
        rollback.plan(lg, "1.1.0", "l.yaml", Context())
    no_current = Ledger("churn", None, lg.releases)
    with pytest.raises(LedgerError, match="'1.0.0' is already the current release"):
        rollback.plan(no_current, "1.0.0", "l.yaml", Context())


def test_rollback_edits_the_recorded_spec_back_and_records_the_rollback():
    lg = recorded(MINIMAL, V2)
    plan = rollback.plan(lg, "1.0.0", "l.yaml", Context())  # no spec file: the spec recorded for 1.1.0
    assert (plan.leaving, plan.source, plan.ledger.current, plan.recorded) == ("1.1.0", "churn.yaml", "1.0.0", True)
    [record] = plan.ledger.rollbacks
    assert {k: v for k, v in record.items() if k != "digest"} == {"sequence": 3, "to": "1.0.0", "from": "1.1.0"}
    assert record["digest"] == ledger.entry_digest(record)  # sealed like an entry
    spec = yaml.safe_load(plan.new_text)["spec"]
    assert (spec["model"]["version"], spec["training"]["seed"]) == ("1.0.0", 7)
    assert spec["rollback"]["previous"]["version"] == "1.1.0"
    assert lg.current == "1.1.0" and not lg.rollbacks  # the ledger read is left as it was


def test_rollback_refuses_an_entry_whose_spec_names_another_model_at_the_ledger():
    lg = recorded(MINIMAL, V2)
    entry = lg.releases[0]
    entry["spec"]["metadata"]["name"] = "payments"  # the entry would rewrite payments' manifests
    with pytest.raises(LedgerError, match="does not match its `specDigest`"):
        rollback.plan(lg, "1.0.0", "deploy/_ledger/churn.yaml", Context())
    entry["specDigest"] = ledger.digest(entry["spec"])  # and with the digest recomputed
    with pytest.raises(LedgerError) as info:
        rollback.plan(lg, "1.0.0", "deploy/_ledger/churn.yaml", Context())
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.col) == ("deploy/_ledger/churn.yaml", 1, 1)
    assert diag.message == ("the entry of release '1.0.0': it records the spec of model 'payments': refusing to "
                            "write payments's manifests from churn's ledger; restore the ledger from Git")


def test_record_gate_stores_numbers_and_the_verdict_but_keeps_the_current_release():
    lg = recorded(MINIMAL, V2)
    compiled = compile_document(MINIMAL, "churn.yaml")
    passing = gate.evaluate([{"metric": "f1", "min": 0.8}], {"f1": 0.9})
    stored = releases.record_gate(lg, compiled, passing, {"f1": 0.9, "n": 3, "ok": True, "name": "x"}, "churn.yaml")
    assert stored.current == "1.1.0"
    entry = stored.find("1.0.0")
    assert (entry["metrics"], entry["gate"]) == ({"f1": 0.9, "n": 3}, "passed")
    failing = gate.evaluate([{"metric": "f1", "min": 0.95}], {"f1": 0.9})
    assert releases.record_gate(lg, compiled, passing + failing, {"f1": 0.9}, "c.yaml").find("1.0.0")["gate"] == "failed"
    # a version the ledger does not hold is refused (it was silently added), at the spec's version
    with pytest.raises(LedgerError) as info:
        releases.record_gate(Ledger("churn"), compiled, passing, {"f1": 0.9}, "c.yaml")  # gated before any build
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.rule) == ("churn.yaml", 9, "gate-unknown-release")
    assert "churn has no recorded release '1.0.0' to record this gate on (recorded: none); build it first" in diag.message
    only_next = recorded(V2)  # the neighbour: a ledger holding 1.1.0 only still refuses 1.0.0
    with pytest.raises(LedgerError, match=r"recorded: 1\.1\.0\)"):
        releases.record_gate(only_next, compiled, passing, {"f1": 0.9}, "c.yaml")


def test_history_names_the_feature_pipeline_when_recorded():
    full = (ROOT / "examples" / "fraud-detector.yaml").read_text()
    lg = ledger.record(Ledger("fraud-detector"), build(full.encode(), "f.yaml", None, Context()))
    [row] = releases.history(lg)
    assert (row["featurePipelineVersion"], row["current"]) == ("fp-17", True)
    assert releases.history_table([row]).splitlines()[1].split()[:6] == [
        "*", "2026.11.3", row["artifactDigest"].split(":")[1][:12], "v42", "1234", "fp-17"]


def _release(version: str, features: dict | None, data: str = "d1") -> dict:
    pins: dict = {"data": {"version": data}}
    if features is not None:
        pins["features"] = features
    return {"version": version, "pins": pins}


def test_a_feature_mismatch_names_both_pipelines_and_what_was_not_recorded():
    target = _release("1.0.0", {"pipelineVersion": "fp-1"}, "d1")
    current = _release("1.1.0", {"pipelineVersion": "fp-2", "schemaDigest": "sha256:" + "b" * 64}, "d2")
    assert releases.feature_context_mismatch(target, current) == (
        "1.0.0 was trained for feature pipeline fp-1 (schema unrecorded), but the current release 1.1.0 uses "
        f"fp-2 (schema sha256:{'b' * 64}); its data context: training data d1 (current d2)")
    assert releases.feature_context_mismatch(_release("1", None), _release("2", None)) is None


def test_every_rollback_refusal_is_positioned_at_the_ledger():
    with_features = MINIMAL.replace("  serving:\n", f"  features: {{pipelineVersion: fp-1, schemaDigest: "
                                    f"'sha256:{'a' * 64}'}}\n  serving:\n")
    lg = recorded(with_features, V2)
    for to in ("1.1.0", "1.0.0"):  # already current; a feature mismatch
        with pytest.raises(LedgerError) as info:
            rollback.plan(lg, to, "deploy/_ledger/churn.yaml", Context())
        [diag] = info.value.diagnostics
        assert (diag.source, diag.line, diag.col) == ("deploy/_ledger/churn.yaml", 1, 1)
    assert diag.message.startswith("refusing to roll back churn: 1.0.0 was trained for feature pipeline fp-1")
    assert diag.message.endswith("Roll back the feature pipeline first, or pass --accept-feature-mismatch "
                                 "(recorded in the ledger and the lineage)")
