"""Proof that the emitted pods serve and evaluate exactly the pinned bytes, by
running them: the rendered pod templates' containers run as local processes
(tests/harness/pod.py) with real programs — KServe's storage initializer code
(PyPI kserve-storage), MLServer + mlserver-sklearn, a moto S3 server on
127.0.0.1 — each from its own virtual environment, built by `scripts/test`
from requirements/harness-*.txt. A missing component fails; nothing is skipped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.pod import Cluster, Pod, free_port, v2_infer, venv_image

HERE = Path(__file__).resolve().parent
VENVS = Path(os.environ.get("MLSPEC_HARNESS_VENVS", "/var/tmp/mlspec-harness"))
BUCKET = "models"


def _pin(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


INITIALIZER = "registry.example.com/kserve/storage-initializer@" + _pin("init")
SERVER = "registry.example.com/seldonio/mlserver@" + _pin("mlserver")
EVALUATOR = "registry.example.com/acme/iris-eval@" + _pin("eval")


class S3:
    """A moto S3 server on 127.0.0.1; uploads go through boto3, as a training pipeline's would."""

    UPLOAD = ("import sys, boto3; s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1'); "
              "key = sys.argv[2].split('/', 1); data = sys.stdin.buffer.read(); "
              "s3.put_object(Bucket=key[0], Key=key[1], Body=data) if len(key) > 1 else s3.create_bucket(Bucket=key[0])")

    def __init__(self, port: int) -> None:
        self.endpoint = f"http://127.0.0.1:{port}"

    def put(self, key: str, data: bytes) -> None:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        subprocess.run([str(VENVS / "s3" / "bin" / "python3"), "-c", self.UPLOAD, self.endpoint, key],
                       input=data, env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def s3():
    server = VENVS / "s3" / "bin" / "moto_server"
    assert server.exists(), f"{server} is missing: run `scripts/test` (builds requirements/harness-s3.txt)"
    port = free_port()
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = S3(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            store.put(BUCKET, b"")
            break
        except subprocess.CalledProcessError:
            assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
            time.sleep(0.5)
    yield store
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The training job, in the model server's environment (same scikit-learn)."""
    out = tmp_path_factory.mktemp("trained")
    python = VENVS / "mlserver" / "bin" / "python3"
    assert python.exists(), f"{python} is missing: run `scripts/test` (builds requirements/harness-mlserver.txt)"
    subprocess.run([str(python), str(HERE / "trainer.py"), str(out)], check=True)
    return out


def _digest(path: Path) -> str:
    """What a training pipeline runs to fill the spec: `mlspec digest PATH`."""
    proc = subprocess.run(["mlspec", "digest", str(path)], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _spec(s3: S3, model_digest: str, dataset_digest: str, min_accuracy: float, port: int, version: str) -> str:
    grpc, metrics = free_port(), free_port()
    return f"""apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: iris
spec:
  model:
    version: "{version}"
    format: sklearn
    artifact:
      uri: s3://{BUCKET}/iris/{version}/model.joblib
      digest: {model_digest}
  training:
    code: {{repo: https://git.example.com/acme/iris, commit: '{"1" * 40}'}}
    data: {{uri: s3://data/iris, version: "2026-11-20T00:00:00Z"}}
    seed: 1234
    environment:
      image: registry.example.com/acme/iris-train@{_pin("train")}
  serving:
    runtime: mlserver
    image: {SERVER}
    port: {port}
    storageInitializer:
      image: {INITIALIZER}
      env:
        - {{name: AWS_ENDPOINT_URL, value: "{s3.endpoint}"}}
        - {{name: AWS_DEFAULT_REGION, value: us-east-1}}
      envFromSecret: s3-credentials
    env:
      - {{name: MLSERVER_GRPC_PORT, value: "{grpc}"}}
      - {{name: MLSERVER_METRICS_PORT, value: "{metrics}"}}
    autoscaling: {{minReplicas: 2, maxReplicas: 4, metrics: [{{cpu: 70}}]}}
    topologySpread: [{{by: zone}}]
  evaluation:
    image: {EVALUATOR}
    command: [python3, -m, harness_evaluator]
    dataset:
      uri: s3://{BUCKET}/iris/holdout.npz
      version: "holdout-2026-11-20"
      digest: {dataset_digest}
    thresholds:
      - {{metric: accuracy, min: {min_accuracy}}}
"""


def _build(tmp: Path, text: str) -> dict[str, Any]:
    spec = tmp / "iris.mlspec.yaml"
    spec.write_text(text)
    out = tmp / "deploy"
    proc = subprocess.run(["mlspec", "build", str(spec), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return {f.name: yaml.safe_load(f.read_text()) for f in (out / "default" / "iris").glob("*.yaml")}


def _baked(name: str) -> Path:
    """A file an image would carry, copied beside its environment: the pods run as a
    non-root user, who may not enter the checkout's directories."""
    target = VENVS / "files" / name
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    shutil.copy(HERE / name, target)
    target.chmod(0o644)
    return target


def _cluster(objects: dict[str, Any]) -> Cluster:
    storage = VENVS / "storage"
    entrypoint = _baked("initializer_entrypoint.py")
    evaluator = _baked("evaluator/harness_evaluator.py").parent
    return Cluster(
        images={
            INITIALIZER: venv_image(storage, [str(storage / "bin" / "python3"), str(entrypoint)]),
            SERVER: venv_image(VENVS / "mlserver"),
            EVALUATOR: venv_image(VENVS / "mlserver", PYTHONPATH=str(evaluator)),
        },
        configmaps={o["metadata"]["name"]: o["data"] for o in objects.values() if o["kind"] == "ConfigMap"},
        secrets={"s3-credentials": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}},
    )


@pytest.fixture(scope="module")
def release(s3, trained, tmp_path_factory):
    """Release 1.0.0 uploaded, pinned with `mlspec digest` and built."""
    model, holdout = (trained / "model.joblib").read_bytes(), (trained / "holdout.npz").read_bytes()
    s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", model)
    s3.put(f"{BUCKET}/iris/holdout.npz", holdout)
    expected = json.loads((trained / "expected.json").read_text())
    tmp = tmp_path_factory.mktemp("release")
    port = free_port()
    text = _spec(s3, _digest(trained / "model.joblib"), _digest(trained / "holdout.npz"),
                 expected["accuracy"], port, "1.0.0")
    return {"objects": _build(tmp, text), "text": text, "expected": expected, "port": port, "model": model,
            "holdout": holdout,
            "tmp": tmp, "s3": s3}


def _transcript(pod: Pod) -> str:
    return "\n".join(f"[{f.name}] exit {f.returncode} in {f.seconds:.2f}s\n{f.stdout}{f.stderr}" for f in pod.log)


def test_serving_pod_fetches_verifies_and_serves_the_pinned_model(release, tmp_path):
    rollout = release["objects"]["rollout.yaml"]
    # autoscaled and spread: the HPA owns the count, the pod template carries the spread
    assert "replicas" not in rollout["spec"]
    assert release["objects"]["horizontalpodautoscaler.yaml"]["spec"]["scaleTargetRef"]["name"] == "iris"
    [spread] = rollout["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == rollout["spec"]["selector"]["matchLabels"]
    pod = Pod(rollout["spec"]["template"], _cluster(release["objects"]), tmp_path)
    assert [c["name"] for c in pod.spec["initContainers"]] == ["fetch-model", "verify"]
    assert pod.run_init(), _transcript(pod)
    fetch, verify = pod.log
    assert f"{rollout['metadata']['annotations']['mlspec.dev/artifact-digest']} ok" in verify.stdout
    pod.start()
    try:
        status, waited = pod.probe("server", "readinessProbe")
        assert status == 200, (waited, pod.stop())
        server = pod.spec["containers"][0]
        assert server["readinessProbe"]["httpGet"]["path"] == "/v2/models/iris/ready"
        answer = v2_infer(release["port"], "iris", release["expected"]["inputs"])
        [output] = answer["outputs"]
        assert output["data"] == release["expected"]["predictions"]
        print(f"fetch {fetch.seconds:.2f}s; {verify.stdout.strip()}; ready after {waited:.1f}s; "
              f"inference {answer['model_name']} -> {output['data']}")
    finally:
        pod.stop()
    assert (tmp_path / "volumes" / "model" / "model.joblib").read_bytes() == release["model"]


def test_one_changed_byte_stops_the_pod_before_the_server_starts(release, tmp_path):
    s3 = release["s3"]
    tampered = bytearray(release["model"])
    tampered[len(tampered) // 2] ^= 0x01
    s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", bytes(tampered))
    try:
        pod = Pod(release["objects"]["rollout.yaml"]["spec"]["template"], _cluster(release["objects"]), tmp_path)
        assert not pod.run_init()
        fetch, verify = pod.log
        assert fetch.returncode == 0 and verify.returncode != 0
        pinned = release["objects"]["rollout.yaml"]["metadata"]["annotations"]["mlspec.dev/artifact-digest"]
        actual = "sha256:" + hashlib.sha256(bytes(tampered)).hexdigest()
        assert f"expected {pinned}, got {actual}" in verify.stderr
        assert pod.main == {}, "the server must never start"
        print(verify.stderr.strip())
    finally:
        s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", release["model"])


@pytest.mark.parametrize("margin, passes", [(0.0, True), (0.01, False)])
def test_evaluation_pod_gates_on_the_verified_model(release, tmp_path, margin, passes):
    accuracy = release["expected"]["accuracy"]
    text = release["text"].replace(f"min: {accuracy}}}", f"min: {accuracy + margin}}}")
    objects = _build(tmp_path, text) if margin else release["objects"]
    job = objects["job-eval.yaml"]
    template = objects["analysistemplate-offline-eval.yaml"]["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]
    # The Rollout's offline step does not evaluate again: it waits for this Job's verdict.
    assert template["spec"]["containers"][0]["command"][3] == job["metadata"]["name"]
    pod = Pod(job["spec"]["template"], _cluster(objects), tmp_path / "pod")
    assert [c["name"] for c in pod.spec["initContainers"]] == ["fetch-model", "fetch-dataset", "verify", "evaluator"]
    assert pod.run_init(), _transcript(pod)
    assert f"accuracy={accuracy}" in pod.log[-1].stdout
    [gate] = pod.run_to_completion()
    assert (gate.returncode == 0) is passes, _transcript(pod)
    print(gate.stdout)


def test_a_model_that_fails_to_load_never_makes_the_pod_ready(release, tmp_path):
    """Bytes that are pinned and verified but are no model: the readiness probe
    asks the model, so the pod never turns Ready (MLServer 1.7.1 even exits,
    which Kubernetes turns into a CrashLoopBackOff) and takes no traffic."""
    s3 = release["s3"]
    broken = b"these bytes are pinned, verified, and not a model"
    s3.put(f"{BUCKET}/iris/1.0.1/model.joblib", broken)
    (tmp_path / "broken").write_bytes(broken)
    pinned = release["objects"]["rollout.yaml"]["metadata"]["annotations"]["mlspec.dev/artifact-digest"]
    text = release["text"].replace('version: "1.0.0"', 'version: "1.0.1"').replace(
        "iris/1.0.0/model.joblib", "iris/1.0.1/model.joblib").replace(pinned, _digest(tmp_path / "broken"))
    (tmp_path / "release").mkdir()
    objects = _build(tmp_path / "release", text)
    pod = Pod(objects["rollout.yaml"]["spec"]["template"], _cluster(objects), tmp_path / "pod")
    assert pod.run_init(), _transcript(pod)
    pod.start()
    try:
        status, _ = pod.probe("server", "readinessProbe", timeout=30)
    finally:
        pod.stop()
    assert status != 200
