"""Each artifact scheme reaches the pod its own way, always followed by the
digest check, and the server and evaluator only ever see read-only, pod-local
copies; the fetch steps' scratch space and cloud identity stay theirs."""

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
    (PVC, {"name": "model", "emptyDir": {}}, False),
])
def test_each_scheme_is_delivered_then_verified(uri, volume, fetch):
    for pod in _pods(uri):
        names = [c["name"] for c in pod["initContainers"]]
        assert ("fetch-model" in names) is fetch
        assert ("copy-model" in names) is (uri == PVC)
        assert names.index("verify") > max(names.index(n) if n in names else -1 for n in ("fetch-model", "copy-model"))
        assert volume in pod["volumes"]
        verify = next(c for c in pod["initContainers"] if c["name"] == "verify")
        assert verify["command"][-3:] == ["model", "sha256:f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21",
                                          "/mnt/models"]
        users = [c for c in pod["initContainers"] + pod["containers"] if c["name"] not in ("fetch-model", "copy-model")]
        for container in users:
            for mount in container.get("volumeMounts", []):
                if mount["name"] == "model":
                    assert mount == {"name": "model", "mountPath": "/mnt/models", "readOnly": True}
                assert mount["name"] != "model-claim", f"{container['name']} must not see the shared claim"
        if fetch:
            [fetcher] = [c for c in pod["initContainers"] if c["name"] == "fetch-model"]
            assert fetcher["args"] == [uri, "/mnt/models"] and fetcher["image"].startswith("init.example/")
        if uri == PVC:
            [copier] = [c for c in pod["initContainers"] if c["name"] == "copy-model"]
            assert copier["command"][3:] == ["--copy", "/mlspec/claim/model/model.joblib", "/mnt/models"]
            assert {"name": "model-claim", "mountPath": "/mlspec/claim/model",
                    "subPath": "churn/1.0.0", "readOnly": True} in copier["volumeMounts"]
            assert {"name": "model-claim", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} \
                in pod["volumes"]


@pytest.mark.parametrize("uri", ["s3://models/churn/model.joblib", PVC])
def test_fetch_steps_have_their_own_scratch_and_the_server_its_own(uri):
    for pod in _pods(uri):
        scratch = {c["name"]: {m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/tmp"}
                   for c in pod["initContainers"] + pod["containers"]}
        users = {"server", "evaluator"} & set(scratch)
        assert len(users) == 1 and all(scratch[u] == {"tmp"} for u in users)
        for name, volumes in scratch.items():
            if name.startswith("fetch-"):
                assert volumes == {"fetch-scratch"}
            elif name not in users:  # copy, verify, gate: no writable scratch at all
                assert volumes == set(), name
        every = [m["name"] for c in pod["initContainers"] + pod["containers"] for m in c["volumeMounts"]]
        assert every.count("tmp") == 1 and every.count("fetch-scratch") == sum(n.startswith("fetch-") for n in scratch)
        for c in pod["initContainers"] + pod["containers"]:
            home = [e["value"] for e in c.get("env", []) if e["name"] == "HOME"]
            assert home in ([], ["/tmp"])  # /tmp: the container's own scratch volume, as checked above


def test_the_storage_identity_reaches_the_fetch_steps_only():
    account = INIT.replace("}\n", ", serviceAccountName: churn-models}\n")
    text = MINIMAL.replace(PVC, "s3://models/churn/model.joblib").replace("  serving:\n", account)
    files = compile_spec(text, source="m.yaml")
    for name in ("rollout.yaml", "job-eval.yaml"):
        template = yaml.safe_load(files[f"default/churn/{name}"])["spec"]["template"]
        pod, annotations = template["spec"], template["metadata"]["annotations"]
        assert pod["serviceAccountName"] == "churn-models" and pod["automountServiceAccountToken"] is False
        containers = [c["name"] for c in pod["initContainers"] + pod["containers"]]
        others = [c for c in containers if not c.startswith("fetch-")]
        assert "fetch-model" in containers and len(others) >= 2
        assert annotations["eks.amazonaws.com/skip-containers"].split(",") == others
        assert annotations["azure.workload.identity/skip-containers"].split(";") == others
    # No storage account: no identity to keep from anyone, no annotations.
    rollout = yaml.safe_load(compile_spec(MINIMAL, source="m.yaml")["default/churn/rollout.yaml"])
    assert not any("skip-containers" in k for k in rollout["spec"]["template"]["metadata"]["annotations"])


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
    assert [c["name"] for c in pod["initContainers"]] == ["copy-model", "copy-baseline", "fetch-dataset", "verify",
                                                         "evaluator"]
    verify = pod["initContainers"][3]["command"]
    assert verify[verify.index("baseline") + 1:verify.index("baseline") + 3] == [baseline, "/mnt/baseline"]
    assert "/mnt/dataset" in verify
    env = {e["name"]: e.get("value") for e in pod["initContainers"][4]["env"]}
    assert env["MLSPEC_MODEL_PATH"] == "/mnt/models" and env["MLSPEC_BASELINE_MODEL_PATH"] == "/mnt/baseline"
    assert env["MLSPEC_DATASET_PATH"] == "/mnt/dataset"
    # The verify step of evaluation pods runs mlspec's digest code from the gate ConfigMap.
    assert verify[:3] == ["python3", "-I", "/mlspec/gate/digest.py"]
    copy_baseline = pod["initContainers"][1]
    assert copy_baseline["command"][3:] == ["--copy", "/mlspec/claim/baseline/model.joblib", "/mnt/baseline"]
    assert {"name": "baseline-claim", "mountPath": "/mlspec/claim/baseline",
            "subPath": "churn/0.9.0", "readOnly": True} in copy_baseline["volumeMounts"]


@pytest.mark.parametrize("uri, sub_path, source", [
    ("pvc://models/model.joblib", None, "/mlspec/claim/model/model.joblib"),
    ("pvc://models/churn/1.0.0/", "churn", "/mlspec/claim/model/1.0.0"),
    ("pvc://models/a/b:c/weights", "a/b:c", "/mlspec/claim/model/weights"),
])
def test_a_claim_path_reaches_the_copy_as_sub_path_and_argument_never_as_mount_path(uri, sub_path, source):
    serving, _ = _pods(uri)
    [copier] = [c for c in serving["initContainers"] if c["name"] == "copy-model"]
    [claim] = [m for m in copier["volumeMounts"] if m["name"] == "model-claim"]
    assert claim["mountPath"] == "/mlspec/claim/model" and claim.get("subPath") == sub_path
    assert copier["command"][-2:] == [source, "/mnt/models"]


def test_runtimes_load_the_verified_copy_and_probe_the_model():
    text = MINIMAL.replace("format: sklearn ", "format: triton  ").replace(
        "  serving:\n", "  serving:\n    runtime: triton\n    modelName: churn-onnx\n")
    rollout = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/rollout.yaml"])
    [server] = rollout["spec"]["template"]["spec"]["containers"]
    assert "--model-repository=/mnt/models" in server["args"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/models/churn-onnx/ready", "port": "http"}
    assert server["startupProbe"]["httpGet"] == server["readinessProbe"]["httpGet"]
    text = MINIMAL.replace("format: sklearn ", "format: pytorch ").replace("  serving:\n", "  serving:\n    runtime: torchserve\n")
    rollout = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/rollout.yaml"])
    [server] = rollout["spec"]["template"]["spec"]["containers"]
    assert server["args"][server["args"].index("--models") + 1] == "churn=churn.mar"
    # The management API takes no token: it listens on the pod's loopback only, and
    # readiness asks it from inside the container (the kubelet could not reach it).
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["TS_MANAGEMENT_ADDRESS"] == "http://127.0.0.1:8081"
    assert env["TS_INFERENCE_ADDRESS"] == "http://0.0.0.0:8080"
    assert [p["name"] for p in server["ports"]] == ["http"]
    for probe in ("startupProbe", "readinessProbe"):
        command = server[probe]["exec"]["command"]
        assert "httpGet" not in server[probe] and command[:3] == ["python3", "-I", "-c"]
        assert command[-1] == "http://127.0.0.1:8081/models/churn"


def test_the_torchserve_readiness_command_passes_only_on_a_2xx_answer():
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Management(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/models/churn" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    text = MINIMAL.replace("format: sklearn ", "format: pytorch ").replace("  serving:\n", "  serving:\n    runtime: torchserve\n")
    rollout = yaml.safe_load(compile_spec(text, source="m.yaml")["default/churn/rollout.yaml"])
    command = rollout["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Management)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    here = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        def probe(url: str) -> int:
            argv = [sys.executable, *command[1:-1], url]
            return subprocess.run(argv, capture_output=True, timeout=30).returncode
        assert probe(command[-1].replace("http://127.0.0.1:8081", here)) == 0
        assert probe(f"{here}/models/other") != 0  # not registered: 404
    finally:
        server.shutdown()
        server.server_close()
    assert probe(command[-1].replace("http://127.0.0.1:8081", here)) != 0  # nothing listening


SIGNED = ("      signature:\n        bundle: SIG\n        method: key\n"
          "        publicKey: {configMap: keys, key: release.pub}\n"
          "        verifierImage: 'v.example/ms@sha256:" + "5" * 64 + "'\n")


def _signed_pods(model_signed: bool, previous_signed: bool) -> tuple[dict, dict, dict]:
    """The model and a previous release (the baseline), each signed or not."""
    digest = "      digest: sha256:f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21\n"
    text = MINIMAL.replace("  serving:\n", INIT)
    if model_signed:
        text = text.replace(digest, digest + SIGNED.replace("SIG", "s3://sig/1.0.0.sig"))
    previous = ("  rollback:\n    previous:\n      version: \"0.9.0\"\n      dataVersion: \"2026-10-01\"\n"
                "      artifact:\n        uri: s3://models/churn/0.9.0/model.joblib\n"
                "        digest: sha256:" + "9" * 64 + "\n")
    if previous_signed:
        previous += "  " + SIGNED.replace("SIG", "s3://sig/0.9.0.sig").replace("\n      ", "\n        ")
    files = compile_spec(text + previous, source="m.yaml")
    load = lambda name: yaml.safe_load(files[f"default/churn/{name}"])  # noqa: E731
    return (load("rollout.yaml")["spec"]["template"]["spec"], load("job-eval.yaml")["spec"]["template"]["spec"],
            {n: load(f"configmap-{n}.yaml")["data"] for n in ("runtime", "gate")})


@pytest.mark.parametrize("model_signed, previous_signed", [(True, False), (False, True), (False, False)])
def test_each_signed_artifact_is_checked_after_the_digest_in_the_pods_that_use_it(model_signed, previous_signed):
    serving, evaluation, programs = _signed_pods(model_signed, previous_signed)
    names = [c["name"] for c in evaluation["initContainers"]]
    assert ("verify-model-signature" in names) is model_signed
    assert ("verify-baseline-signature" in names) is previous_signed
    assert ("verify-model-signature" in [c["name"] for c in serving["initContainers"]]) is model_signed
    for name in ("verify-model-signature", "verify-baseline-signature"):
        if name in names:
            assert names.index("verify") < names.index(name) < names.index("evaluator")
            check = evaluation["initContainers"][names.index(name)]
            role = name.split("-")[1]
            digest = "sha256:" + ("f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21" if role == "model"
                                  else "9" * 64)
            mount = "/mnt/models" if role == "model" else "/mnt/baseline"
            assert check["command"][-4:] == ["--digest", digest, "--model", mount]  # its own pin, its own bytes
            assert {"name": role, "mountPath": check["command"][-1], "readOnly": True} in check["volumeMounts"]
    # the program ships wherever a pod may run it: a previous release's pods restart mid-rollout
    for data in programs.values():
        assert ("signature.py" in data) is (model_signed or previous_signed)
