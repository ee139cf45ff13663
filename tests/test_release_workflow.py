"""End to end in a temporary GitOps repo: release A gated and recorded, release B
gated against A, a regression beyond `maxDrop` caught, a missing metric caught, a
tampered rebuild refused, rollback to A refused on a feature mismatch and then
accepted: the spec back at A's pins, `build --check` green."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
DIGEST_X = "sha256:" + "a" * 64
DIGEST_Y = "sha256:" + "b" * 64
ARTIFACT_A = "sha256:" + "1" * 64
ARTIFACT_B = "sha256:" + "2" * 64


def spec_a() -> str:
    text = MINIMAL.replace("name: churn", "name: scorer")
    text = text.replace('    thresholds:\n      - {metric: f1, min: 0.8}\n',
                        '    thresholds:\n      - {metric: auc, min: 0.8}\n')
    text = text.replace("  serving:\n", f"  features: {{pipelineVersion: fp-1, schemaDigest: '{DIGEST_X}'}}\n  serving:\n")
    digest = next(l for l in text.splitlines() if "digest:" in l).split("digest: ")[1]
    return text.replace(digest, ARTIFACT_A, 1)


def spec_b(features_digest: str = DIGEST_Y) -> str:
    text = spec_a().replace('version: "1.0.0"', 'version: "1.1.0"').replace(ARTIFACT_A, ARTIFACT_B)
    text = text.replace(f"features: {{pipelineVersion: fp-1, schemaDigest: '{DIGEST_X}'}}",
                        f"features: {{pipelineVersion: fp-2, schemaDigest: '{features_digest}'}}")
    text = text.replace("      - {metric: auc, min: 0.8}\n", "      - {metric: auc, min: 0.8, maxDrop: 0.01}\n")
    return text + (f"  rollback:\n    previous:\n      version: \"1.0.0\"\n"
                   f"      artifact: {{uri: pvc://models/churn/1.0.0/model.joblib, digest: '{ARTIFACT_A}'}}\n"
                   f"      dataVersion: \"2026-11-01\"\n      featurePipelineVersion: fp-1\n"
                   f"      featureSchemaDigest: '{DIGEST_X}'\n")


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.spec = path / "models" / "scorer.mlspec.yaml"
        self.out = path / "deploy"
        self.spec.parent.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                       cwd=self.path, check=True, capture_output=True)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def mlspec(self, *args: object):
        return CliRunner().invoke(main, [str(a) for a in args])

    def metrics(self, name: str, values: dict) -> Path:
        path = self.path / f"{name}.json"
        path.write_text(json.dumps(values))
        return path

    def manifests(self) -> dict[str, str]:
        directory = self.out / "default" / "scorer"
        return {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.suffix == ".yaml"}


@pytest.fixture()
def repo(tmp_path):
    return Repo(tmp_path)


def test_release_gate_and_rollback_scenario(repo):
    # Release A: built, gated, metrics recorded in the ledger.
    repo.spec.write_text(spec_a())
    assert repo.mlspec("build", repo.spec, "-o", repo.out).exit_code == 0
    gated = repo.mlspec("gate", repo.spec, "--metrics", repo.metrics("a", {"auc": 0.90}), "--record", "-o", repo.out)
    assert gated.exit_code == 0, gated.output
    repo.commit("release A")
    manifests_a = repo.manifests()

    # Release B: its in-cluster gate carries A's recorded metrics as the baseline.
    repo.spec.write_text(spec_b())
    built = repo.mlspec("build", repo.spec, "-o", repo.out)
    assert built.exit_code == 0, built.output
    gate_cm = yaml.safe_load((repo.out / "default/scorer/configmap-gate.yaml").read_text())
    gate_json = json.loads(gate_cm["data"]["gate.json"])
    assert gate_json["baseline"] == {"version": "1.0.0", "metrics": {"auc": 0.9}}

    # The gate program exactly as shipped in the ConfigMap, run as the Job runs it.
    workdir = repo.path / "cluster"
    workdir.mkdir()
    (workdir / "gate.py").write_text(gate_cm["data"]["gate.py"])
    (workdir / "gate.json").write_text(gate_cm["data"]["gate.json"])
    for auc, expected in ((0.895, 0), (0.85, 1)):
        (workdir / "metrics.json").write_text(json.dumps({"auc": auc}))
        proc = subprocess.run([sys.executable, "gate.py", "--config", "gate.json", "--metrics", "metrics.json",
                               "--baseline-metrics", "absent.json"], cwd=workdir, capture_output=True, text=True)
        assert proc.returncode == expected, proc.stdout + proc.stderr

    # B gated against A from the ledger: within maxDrop passes and is recorded...
    ok = repo.mlspec("gate", repo.spec, "--metrics", repo.metrics("b", {"auc": 0.895}), "--record", "-o", repo.out)
    assert ok.exit_code == 0, ok.output
    # ...a regression beyond maxDrop is caught...
    regression = repo.mlspec("gate", repo.spec, "--metrics", repo.metrics("b2", {"auc": 0.85}), "-o", repo.out)
    assert regression.exit_code == 1
    assert "FAIL: dropped 0.05 > 0.01" in regression.stdout
    # ...and so is a missing metric.
    missing = repo.mlspec("gate", repo.spec, "--metrics", repo.metrics("b3", {"f1": 0.9}), "-o", repo.out)
    assert missing.exit_code == 1 and "FAIL: candidate metric missing" in missing.stdout
    repo.commit("release B")

    # A tampered rebuild (same version, other artifact) is refused and writes nothing.
    before = repo.manifests()
    repo.spec.write_text(spec_b().replace(ARTIFACT_B, "sha256:" + "3" * 64))
    tampered = repo.mlspec("build", repo.spec, "-o", repo.out)
    assert tampered.exit_code == 1
    assert "version '1.1.0' is already released with other pins" in tampered.stderr
    assert "artifact.digest" in tampered.stderr
    assert repo.manifests() == before
    repo.spec.write_text(spec_b())

    # History lists both releases with their data context and metrics.
    history = repo.mlspec("history", "scorer", "-o", repo.out, "--format", "json")
    rows = json.loads(history.stdout)
    assert [(r["version"], r["featurePipelineVersion"], r["metrics"], r["current"]) for r in rows] == [
        ("1.0.0", "fp-1", {"auc": 0.9}, False), ("1.1.0", "fp-2", {"auc": 0.895}, True)]

    # Rollback to A (the procedure of docs/rollback.md): refused while the feature schema differs...
    spec_b_text = repo.spec.read_text()
    refused = repo.mlspec("rollback", "scorer", "--to", "1.0.0", "-o", repo.out)
    assert refused.exit_code == 1
    assert "fp-1" in refused.stderr and "fp-2" in refused.stderr and "--accept-feature-mismatch" in refused.stderr
    assert repo.manifests() == before and repo.spec.read_text() == spec_b_text
    # ...then accepted explicitly: the spec carries A's pins again, the output is what `build` writes for it,
    # and the ledger and the lineage record the rollback and the accepted mismatch.
    accepted = repo.mlspec("rollback", "scorer", "--to", "1.0.0", "-o", repo.out, "--accept-feature-mismatch")
    assert accepted.exit_code == 0, accepted.output
    spec = yaml.safe_load(repo.spec.read_text())["spec"]
    assert spec["model"]["artifact"]["digest"] == ARTIFACT_A and spec["features"]["pipelineVersion"] == "fp-1"
    assert spec["rollback"]["previous"]["version"] == "1.1.0"
    rolled = repo.manifests()
    assert rolled.keys() == manifests_a.keys()
    rollout = yaml.safe_load(rolled["rollout.yaml"])
    assert rollout["metadata"]["labels"]["app.kubernetes.io/version"] == "1.0.0"
    lineage = json.loads(yaml.safe_load(rolled["configmap-lineage.yaml"])["data"]["lineage.json"])
    assert lineage["rollback"]["acceptedFeatureMismatch"] is True and lineage["rollback"]["from"] == "1.1.0"
    rows = json.loads(repo.mlspec("history", "scorer", "-o", repo.out, "--format", "json").stdout)
    assert [r["version"] for r in rows if r["current"]] == ["1.0.0"]
    assert repo.mlspec("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def test_rollback_with_the_same_feature_context_needs_no_flag_and_keeps_check_green(repo):
    repo.spec.write_text(spec_a())
    assert repo.mlspec("build", repo.spec, "-o", repo.out).exit_code == 0
    repo.spec.write_text(spec_b(features_digest=DIGEST_X).replace("pipelineVersion: fp-2", "pipelineVersion: fp-1"))
    assert repo.mlspec("build", repo.spec, "-o", repo.out).exit_code == 0
    result = repo.mlspec("rollback", "scorer", "--to", "1.0.0", "-o", repo.out)
    assert result.exit_code == 0, result.output
    lineage = json.loads(yaml.safe_load(repo.manifests()["configmap-lineage.yaml"])["data"]["lineage.json"])
    assert lineage["rollback"] == {"sequence": 3, "to": "1.0.0", "from": "1.1.0"}  # no mismatch to record
    assert repo.mlspec("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def test_gate_without_any_baseline_fails_a_relative_threshold(repo):
    repo.spec.write_text(spec_b())
    result = repo.mlspec("gate", repo.spec, "--metrics", repo.metrics("m", {"auc": 0.95}))
    assert result.exit_code == 1
    assert "FAIL: no metrics of baseline 1.0.0: give them with --baseline-metrics FILE, or record them in the " \
        "ledger with `mlspec gate --record` on the spec of release 1.0.0" in result.stdout
    assert "no baseline metrics" not in result.stdout


def test_rollback_to_an_unknown_version_lists_the_recorded_ones(repo):
    repo.spec.write_text(spec_a())
    assert repo.mlspec("build", repo.spec, "-o", repo.out).exit_code == 0
    result = repo.mlspec("rollback", "scorer", "--to", "0.9.0", "-o", repo.out)
    assert result.exit_code == 1 and "recorded: 1.0.0" in result.stderr
