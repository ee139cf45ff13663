"""Real-world data and pipeline versions are records: kept exact everywhere,
never put into a label. The model version stays a label value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT
from consumers.test_consumers import validate_crds

from mlspec import compile_spec
from mlspec.cli.main import main
from mlspec.files.errors import SpecError
from mlspec.pipeline import verify

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

VERSIONS = {
    "delta-timestamp": "2026-11-20T00:00:00Z",
    "lakefs-commit": "c3a1f0e9" * 8,  # 64 hex: one more than a label value allows
    "s3-version-id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
    "semver-build": "3.2.0+build.7",
    "spaces-inside": "snapshot 2026-11-20 00:00",
}


def spec_with(version: str) -> str:
    quoted = json.dumps(version)
    text = MINIMAL.replace('data: {uri: gs://data/churn, version: "2026-11-01"}',
                           f"data: {{uri: gs://data/churn, version: {quoted}}}")
    text = text.replace('dataset: {uri: gs://data/churn-holdout, version: "2026-11-01"}',
                        f"dataset: {{uri: gs://data/churn-holdout, version: {quoted}}}")
    text = text.replace("  serving:\n", f"  features: {{pipelineVersion: {quoted}}}\n  serving:\n")
    text = text.replace("      - {metric: f1, min: 0.8}\n", "      - {metric: f1, min: 0.8, maxDrop: 0.01}\n")
    assert text.count(quoted) == 3
    return text + ("  rollback:\n    previous:\n      version: \"0.9.0\"\n"
                   "      artifact: {uri: pvc://models/churn/0.9.0/model.joblib, digest: 'sha256:" + "e" * 64 + "'}\n"
                   f"      dataVersion: {quoted}\n      featurePipelineVersion: {quoted}\n")


def _objects(version: str) -> dict[str, dict]:
    files = compile_spec(spec_with(version), source="churn.mlspec.yaml")
    return {rel: yaml.safe_load(text) for rel, text in files.items() if not rel.endswith("kustomization.yaml")}


def _labels(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("labels", "matchLabels") and isinstance(value, dict):
                found.extend(value.values())
            else:
                _labels(value, found)
    elif isinstance(node, list):
        for item in node:
            _labels(item, found)
    return found


@pytest.mark.parametrize("version", VERSIONS.values(), ids=VERSIONS.keys())
def test_records_are_kept_exact_and_out_of_labels(version):
    objects = _objects(version)
    for rel, obj in objects.items():
        annotations = obj["metadata"]["annotations"]
        assert annotations["mlspec.dev/data-version"] == version, rel
        assert annotations["mlspec.dev/feature-pipeline-version"] == version, rel
        for value in _labels(obj, []):
            assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (rel, value)
        assert version not in _labels(obj, []), rel
    lineage = json.loads(next(o for r, o in objects.items() if r.endswith("configmap-lineage.yaml"))["data"]["lineage.json"])
    spec = lineage["spec"]
    assert spec["training"]["data"]["version"] == version
    assert spec["evaluation"]["dataset"]["version"] == version
    assert spec["features"]["pipelineVersion"] == version
    assert spec["rollback"]["previous"]["dataVersion"] == version
    assert spec["rollback"]["previous"]["featurePipelineVersion"] == version
    job = next(o for o in objects.values() if o["kind"] == "Job")
    env = {e["name"]: e.get("value") for c in job["spec"]["template"]["spec"]["initContainers"] for e in c.get("env", [])}
    assert env["MLSPEC_DATASET_VERSION"] == version
    assert env["MLSPEC_FEATURE_PIPELINE_VERSION"] == version


def test_records_pass_the_kubernetes_and_argo_schemas():
    objects = {f"{name}:{rel}": obj for name, version in VERSIONS.items() for rel, obj in _objects(version).items()}
    assert verify.full_check(objects) == []
    argo = [o for o in objects.values() if o["kind"] in ("Rollout", "AnalysisTemplate")]
    assert len(argo) == 2 * len(VERSIONS)  # Rollout + offline template (no online metrics)
    assert [r for r in validate_crds(argo) if r["errors"]] == []


@pytest.mark.parametrize("version", VERSIONS.values(), ids=VERSIONS.keys())
def test_records_are_exact_in_ledger_and_history(tmp_path: Path, version):
    spec = tmp_path / "churn.mlspec.yaml"
    spec.write_text(spec_with(version))
    out = tmp_path / "deploy"
    runner = CliRunner()
    built = runner.invoke(main, ["build", str(spec), "-o", str(out)])
    assert built.exit_code == 0, built.output
    ledger = yaml.safe_load((out / "_ledger" / "churn.yaml").read_text())
    [release] = ledger["releases"]
    pins = release["pins"]
    assert pins["data"]["version"] == version and pins["features"]["pipelineVersion"] == version
    history = runner.invoke(main, ["history", "churn", "-o", str(out), "--format", "json"])
    assert history.exit_code == 0, history.output
    [row] = json.loads(history.output)
    assert row["dataVersion"] == version and row["featurePipelineVersion"] == version
    text = runner.invoke(main, ["history", "churn", "-o", str(out)])
    assert version in text.output


def test_model_version_stays_a_label_value():
    text = spec_with("v42").replace('version: "1.0.0"', 'version: "2026-11-20T00:00:00Z"', 1)
    with pytest.raises(SpecError) as info:
        compile_spec(text, source="s.yaml")
    [diag] = info.value.diagnostics
    assert (diag.line, "spec.model.version") == (9, diag.message.split("`")[1])
