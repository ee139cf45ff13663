"""Each artifact scheme reaches the pod its own way, always followed by the
digest check, and the server and evaluator only ever see read-only copies."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT
from mlspec import compile_spec

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
PVC = "pvc://models/churn/1.0.0/model.joblib"
INIT = "  serving:\n    storageInitializer: {image: 'init.example/si@sha256:" + "1" * 64 + "'}\n"


def _pods(uri: str, extra: str = "") -> tuple[dict, dict]:
    text = MINIMAL.replace(PVC, uri).replace("  serving:\n", INIT) + extra
    files = compile_spec(text, source="m.yaml")
    rollout = yaml.safe_load(files["default/churn/rollout.yaml"])
    job = yaml.safe_load(files["default/churn/job-eval.yaml"])
    return rollout["spec"]["template"]["spec"], job["spec"]["template"]["spec"]


@pytest.mark.parametrize("uri, volume, fetch", [
    ("s3://models/churn/model.joblib", {"name": "model", "emptyDir": {}}, True),
    ("hf://acme/churn", {"name": "model", "emptyDir": {}}, True),
    ("oci://ghcr.io/acme/churn@sha256:" + "2" * 64,
     {"name": "model", "image": {"reference": "ghcr.io/acme/churn@sha256:" + "2" * 64, "pullPolicy": "IfNotPresent"}},
     False),
    (PVC, {"name": "model", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}, False),
])
def test_each_scheme_is_delivered_then_verified(uri, volume, fetch):
    for pod in _pods(uri):
        names = [c["name"] for c in pod["initContainers"]]
        assert ("fetch-model" in names) is fetch
        assert names.index("verify") > (names.index("fetch-model") if fetch else -1)
        assert volume in pod["volumes"]
        verify = next(c for c in pod["initContainers"] if c["name"] == "verify")
        assert verify["command"][-3:] == ["model", "sha256:f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21",
                                          "/mnt/models"]
        users = [c for c in pod["initContainers"] + pod["containers"] if c["name"] not in ("fetch-model", "verify")]
        for container in users:
            for mount in container.get("volumeMounts", []):
                if mount["name"] == "model":
                    assert mount["readOnly"] is True and mount["mountPath"] == "/mnt/models"
                    assert mount.get("subPath") == ("churn/1.0.0/model.joblib" if uri == PVC else None)
        if fetch:
            [fetcher] = [c for c in pod["initContainers"] if c["name"] == "fetch-model"]
            assert fetcher["args"] == [uri, "/mnt/models"] and fetcher["image"].startswith("init.example/")


def test_the_evaluation_pod_also_gets_the_baseline_and_the_pinned_dataset():
    baseline = "sha256:" + "3" * 64
    text = MINIMAL.replace("      - {metric: f1, min: 0.8}\n", "      - {metric: f1, min: 0.8, maxDrop: 0.01}\n").replace(
        'dataset: {uri: gs://data/churn-holdout, version: "2026-11-01"}',
        'dataset: {uri: gs://data/churn-holdout/h.parquet, version: "2026-11-01", digest: "sha256:' + "4" * 64 + '"}')
    text = text.replace(PVC, PVC).replace("  serving:\n", INIT) + (
        "  rollback:\n    previous:\n      version: '0.9.0'\n      dataVersion: v1\n"
        f"      artifact: {{uri: 'pvc://models/churn/0.9.0/model.joblib', digest: '{baseline}'}}\n")
    job = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/job-eval.yaml"])
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["fetch-dataset", "verify", "evaluator"]
    verify = pod["initContainers"][1]["command"]
    assert verify[verify.index("baseline") + 1:verify.index("baseline") + 3] == [baseline, "/mnt/baseline"]
    assert "/mnt/dataset" in verify
    env = {e["name"]: e.get("value") for e in pod["initContainers"][2]["env"]}
    assert env["MLSPEC_MODEL_PATH"] == "/mnt/models" and env["MLSPEC_BASELINE_MODEL_PATH"] == "/mnt/baseline"
    assert env["MLSPEC_DATASET_PATH"] == "/mnt/dataset"
    # The verify step of evaluation pods runs mlspec's digest code from the gate ConfigMap.
    assert verify[:2] == ["python3", "/mlspec/gate/digest.py"]


def test_runtimes_load_the_verified_copy_and_probe_the_model():
    text = MINIMAL.replace("format: sklearn ", "format: triton  ").replace(
        "  serving:\n", "  serving:\n    runtime: triton\n    modelName: churn-onnx\n")
    rollout = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/rollout.yaml"])
    [server] = rollout["spec"]["template"]["spec"]["containers"]
    assert "--model-repository=/mnt/models" in server["args"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/models/churn-onnx/ready", "port": "http"}
    text = MINIMAL.replace("format: sklearn ", "format: pytorch ").replace("  serving:\n", "  serving:\n    runtime: torchserve\n")
    rollout = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/rollout.yaml"])
    [server] = rollout["spec"]["template"]["spec"]["containers"]
    assert server["args"][server["args"].index("--models") + 1] == "churn=churn.mar"
    assert server["readinessProbe"]["httpGet"] == {"path": "/models/churn", "port": "management"}
    assert {"name": "management", "containerPort": 8081, "protocol": "TCP"} in server["ports"]
