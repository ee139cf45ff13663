"""What the release ledger trusts: entries sealed with their own digest (a hand edit of
a recorded metric is refused by `build` and `build --check`), `diff` comparing the
ledger with its state at `--base` (an edit that recomputes the digest still shows),
overlays compared per environment by `diff`, and `rollback` refusing an entry whose
spec names another model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_reconcile import FULL, spec_a, tree

from mlspec.cli.main import main
from mlspec.records import ledger, releases

METRICS = {"auc": 0.95, "false_positive_rate": 0.01}


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = root / "models" / "fraud-detector.mlspec.yaml"
        self.out = root / "deploy"
        self.ledger = self.out / ledger.relpath("fraud-detector")
        self.spec.parent.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                       cwd=self.root, check=True, capture_output=True)

    def commit(self) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", "release")

    def release_a(self) -> None:
        self.spec.write_text(spec_a())
        assert run("build", self.spec, "-o", self.out).exit_code == 0
        metrics = self.root / "metrics.json"
        metrics.write_text(json.dumps(METRICS))
        gated = run("gate", self.spec, "--metrics", metrics, "--record", "-o", self.out)
        assert gated.exit_code == 0, gated.output
        self.commit()

    def edit_entry(self, version: str, change, reseal: bool) -> None:
        """Change one entry as a teammate could, re-computing its digest or not."""
        lg = ledger.load(self.out, "fraud-detector")
        entry = lg.find(version)
        assert entry is not None
        change(entry)
        if reseal:
            entry["digest"] = ledger.entry_digest(entry)
        self.ledger.write_text(ledger.dump(lg))


@pytest.fixture()
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path)
    r.release_a()
    return r


def _nudge(entry: dict) -> None:
    entry["metrics"]["auc"] = 0.99  # lets a 0.03 drop pass maxDrop: 0.005


def test_entries_are_sealed_by_build_and_gate_record(repo):
    (entry,) = ledger.load(repo.out, "fraud-detector").releases
    assert entry["metrics"] == METRICS and entry["gate"] == "passed"
    assert entry["digest"] == ledger.entry_digest(entry)
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def test_a_hand_edited_metric_fails_check_and_build(repo):
    repo.edit_entry("2026.10.1", _nudge, reseal=False)
    before = tree(repo.out)
    for args in (["--check"], []):
        result = run("build", repo.spec, "-o", repo.out, *args)
        assert result.exit_code == 1, result.output
        line = repo.ledger.read_text().splitlines().index("- version: '2026.10.1'") + 1
        assert f"{repo.ledger}:{line}:3: error: the entry of release '2026.10.1' does not match its digest" in (
            result.stderr)  # at the entry, not at the top of the file
        assert "Traceback" not in result.output and tree(repo.out) == before
    # The baseline is refused where it would be used: building the next release.
    repo.spec.write_text(FULL)
    result = run("build", repo.spec, "-o", repo.out)
    assert result.exit_code == 1 and "does not match its digest" in result.stderr and tree(repo.out) == before


def test_a_tampered_gate_verdict_or_pin_is_refused_too(repo):
    repo.edit_entry("2026.10.1", lambda e: e.update(gate="failed"), reseal=False)
    assert "does not match its digest" in run("build", repo.spec, "-o", repo.out, "--check").stderr
    repo.git("checkout", "--", ".")
    repo.edit_entry("2026.10.1", lambda e: e["pins"]["data"].update(version="v99"), reseal=False)
    before = tree(repo.out)
    for args in (["build", repo.spec, "-o", repo.out, "--check"], ["rollback", "fraud-detector", "--to", "2026.10.1",
                                                                   "-o", repo.out]):
        result = run(*args)
        assert result.exit_code == 1 and "does not match its digest" in result.stderr, result.output
    assert tree(repo.out) == before


def test_diff_reports_a_resealed_metric_edit_as_a_loosening(repo):
    repo.edit_entry("2026.10.1", _nudge, reseal=True)  # the digest alone cannot see this one
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0
    for extra in ([], ["--ledger", repo.out]):  # deploy/ at the repository root, or named
        result = run("diff", repo.spec, "--fail-on-loosened", *extra)
        assert result.exit_code == 1, result.output
        assert "WARNING: recorded metric `auc` of release 2026.10.1 (history rewritten) changed in the ledger: 0.95 -> 0.99" in result.stdout
        assert "1 recorded evaluation(s) changed in the ledger" in result.stderr
    as_json = json.loads(run("diff", repo.spec, "--format", "json").stdout)
    assert {"field": "metric `auc` of release 2026.10.1 (history rewritten)", "old": 0.95, "new": 0.99} in as_json["recorded"]
    markdown = run("diff", repo.spec, "--format", "markdown").stdout  # ledger text only inside code spans
    assert "> Ledger: recorded ``metric `auc` of release 2026.10.1 (history rewritten)`` changed: `0.95` -> `0.99`" in markdown


def test_diff_reports_a_resealed_pin_edit_that_swaps_a_released_artifact(repo):
    # The seal is a content hash a PR author can recompute: rewriting the recorded
    # artifact pin (and resealing) makes `build` accept other bytes under 2026.10.1.
    from test_reconcile import A_DIGEST

    other = "sha256:" + "1" * 64

    def swap(entry: dict) -> None:
        entry["pins"]["artifact"]["digest"] = other
        entry["spec"]["spec"]["model"]["artifact"]["digest"] = other

    repo.edit_entry("2026.10.1", swap, reseal=True)
    repo.spec.write_text(repo.spec.read_text().replace(A_DIGEST, other))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0  # the digest alone cannot see this one
    result = run("diff", repo.spec, "--fail-on-loosened")
    assert result.exit_code == 1, result.output
    assert "WARNING: recorded pin `artifact` of release 2026.10.1 (history rewritten) changed in the ledger" in result.stdout
    assert "(what a released version is immutable on)" in result.stdout
    recorded = json.loads(run("diff", repo.spec, "--format", "json").stdout)["recorded"]
    fields = [c["field"] for c in recorded]
    assert fields[0] == "pin `artifact` of release 2026.10.1 (history rewritten)"  # the recorded spec and its digest too
    assert "recorded spec `spec.model.artifact.digest` of release 2026.10.1 (history rewritten)" in fields
    assert all("of release 2026.10.1 (history rewritten)" in f for f in fields)
    assert recorded[0]["old"]["digest"] == A_DIGEST and recorded[0]["new"]["digest"] == other


def test_diff_ignores_a_first_evaluation_and_sees_a_removed_one(repo):
    assert run("diff", repo.spec, "--fail-on-loosened").exit_code == 0  # nothing changed since HEAD
    repo.spec.write_text(FULL)
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    metrics = repo.root / "b.json"
    metrics.write_text(json.dumps({"auc": 0.949, "false_positive_rate": 0.01}))
    assert run("gate", repo.spec, "--metrics", metrics, "--record", "-o", repo.out).exit_code == 0
    assert run("diff", repo.spec, "--fail-on-loosened").exit_code == 0  # B's first record is no change
    repo.edit_entry("2026.10.1", lambda e: (e.pop("metrics"), e.pop("gate")), reseal=True)
    result = run("diff", repo.spec, "--fail-on-loosened")
    assert result.exit_code == 1
    assert "metric `auc` of release 2026.10.1 (history rewritten) changed in the ledger: 0.95 -> (none)" in result.stdout
    assert "gate verdict of release 2026.10.1 (history rewritten) changed in the ledger: passed -> (none)" in result.stdout


# --- overlays in diff ------------------------------------------------------------------


def test_diff_sees_an_overlay_loosening_a_threshold(repo, tmp_path):
    loosened = FULL.replace("prod: {serving: {replicas: 6}}",
                            "prod: {serving: {replicas: 6}, evaluation: {thresholds: [{metric: auc, min: 0.01}]}}")
    repo.spec.write_text(FULL)
    repo.commit()
    repo.spec.write_text(loosened)
    result = run("diff", repo.spec, "--fail-on-loosened")
    assert result.exit_code == 1, result.output
    assert "WARNING: threshold loosened: auc min (environment prod): >= 0.92 -> >= 0.01" in result.stdout
    assert "WARNING: threshold removed: auc maxDrop (environment prod)" in result.stdout
    assert "staging" not in result.stdout.split("\n\n")[0]  # staging's gate did not change
    markdown = run("diff", repo.spec, "--format", "markdown").stdout
    assert "| threshold `auc` min in prod (loosened ⚠️) | `0.92` | `0.01` |" in markdown
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FULL)
    new.write_text(loosened)
    two = run("diff", old, new, "--fail-on-loosened", "--format", "json")
    assert two.exit_code == 1
    assert {"metric": "auc", "bound": "min", "old": 0.92, "new": 0.01, "change": "loosened", "environment": "prod",
            "warning": True} in json.loads(two.stdout)["thresholds"]


def test_diff_sees_an_overlay_swapping_the_artifact_and_an_added_environment(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FULL)
    new.write_text(FULL.replace("prod: {serving: {replicas: 6}}",
                                "prod: {serving: {replicas: 6}, model: {artifact: {digest: 'sha256:" + "e" * 64 + "'}}}\n"
                                "    canary: {namespace: risk-canary}"))
    text = run("diff", old, new).stdout
    assert "  environments: [\"prod\", \"staging\"] -> [\"canary\", \"prod\", \"staging\"]\n" in text
    assert "  artifact digest (prod): sha256:2256f9ef" in text
    assert "artifact digest (staging)" not in text and "artifact digest (canary)" not in text


# --- rollback and feature contexts -----------------------------------------------------


def test_rollback_refuses_an_entry_whose_spec_names_another_model(repo):
    repo.spec.write_text(FULL)
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    repo.edit_entry("2026.10.1", lambda e: e["spec"]["metadata"].update(name="payments"), reseal=True)
    before = tree(repo.out)
    # Refused when the ledger is read, by every command (the seal does not bind the file
    # an entry is in: a sealed entry moved from another model's ledger is the same attack).
    line = repo.ledger.read_text().splitlines().index("      name: payments") + 1
    for args in (["rollback", "fraud-detector", "--to", "2026.10.1", "-o", repo.out, "--accept-feature-mismatch"],
                 ["build", repo.spec, "-o", repo.out], ["build", repo.spec, "-o", repo.out, "--check"]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert f"{repo.ledger}:{line}:7: error: the ledger is damaged: the entry of release '2026.10.1' records " \
               "model 'payments', not 'fraud-detector'" in result.stderr, result.stderr
        assert "Traceback" not in result.output
    assert tree(repo.out) == before and not (repo.out / "prod" / "payments").exists()


def _release(version: str, pipeline: str | None, schema: str | None) -> dict:
    features = {k: v for k, v in (("pipelineVersion", pipeline), ("schemaDigest", schema)) if v is not None}
    return {"version": version, "pins": {"data": {"version": "d"}, **({"features": features} if features else {})}}


@pytest.mark.parametrize(("target", "current", "refused"), [
    (_release("1", "fp-1", None), _release("2", "fp-2", None), True),   # no digests: the pipelines decide
    (_release("1", "fp-1", None), _release("2", "fp-1", None), False),
    (_release("1", None, None), _release("2", "fp-2", None), True),
    (_release("1", None, None), _release("2", None, None), False),
    (_release("1", "fp-1", "sha256:" + "a" * 64), _release("2", "fp-2", "sha256:" + "a" * 64), False),  # schema decides
    (_release("1", "fp-1", "sha256:" + "a" * 64), _release("2", "fp-1", "sha256:" + "b" * 64), True),
    (_release("1", "fp-1", "sha256:" + "a" * 64), _release("2", "fp-1", None), True),
])
def test_feature_context_mismatch(target, current, refused):
    mismatch = releases.feature_context_mismatch(target, current)
    assert (mismatch is not None) == refused
    if refused:
        assert mismatch.startswith("1 was trained for feature pipeline") and "current release 2" in mismatch


def test_rollback_across_pipelines_without_schema_digests_is_refused(tmp_path):
    out = tmp_path / "deploy"
    spec = tmp_path / "s.yaml"
    no_schema = FULL.replace("    schemaDigest: sha256:7654100411969fa3cd0a93c8d70361ba4ce448324fe3ae0b0b30dccfce4e972b\n", "")
    spec.write_text(spec_a().replace("    schemaDigest: sha256:" + "5" * 64 + "\n", ""))
    assert run("build", spec, "-o", out).exit_code == 0
    spec.write_text(no_schema)
    assert run("build", spec, "-o", out).exit_code == 0
    before = tree(out)
    refused = run("rollback", "fraud-detector", "--to", "2026.10.1", "-o", out)
    assert refused.exit_code == 1 and "fp-16" in refused.stderr and "fp-17" in refused.stderr and tree(out) == before
    rolled = yaml.safe_load((out / "prod/fraud-detector/rollout.yaml").read_text())
    assert rolled["metadata"]["annotations"]["mlspec.dev/model-version"] == "2026.11.3"
