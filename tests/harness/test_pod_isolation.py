"""Proof, by running the pods (tests/harness/pod.py), that what the server and
the evaluator use cannot change after the verify step: a `pvc://` claim written
after the pod started never reaches a restarted server (it loads the verified
pod-local copy; a re-run of the init containers refuses the new bytes), nothing
a storage initializer leaves in its HOME or /tmp is seen or run by the server or
the evaluator, and tampering any one of several artifacts of an evaluation pod
stops it before the evaluator starts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.pod import Pod
from harness.test_pinned_bytes import (  # noqa: F401 - fixtures, used by name
    BUCKET, INITIALIZER, VENVS, _baked, _build, _cluster, _digest, _transcript, release, s3, trained,
)

CLAIM = "models-claim"
PVC_PATH = "iris/1.0.0/model.joblib"
FLIP = ("import joblib, json, sys; m = joblib.load(sys.argv[1]); m.coef_ = -m.coef_; m.intercept_ = -m.intercept_; "
        "joblib.dump(m, sys.argv[2]); print(json.dumps(m.predict(json.loads(sys.argv[3])).tolist()))")
# A Python with user site-packages enabled (as in the official MLServer and TorchServe
# images; the harness's virtual environments disable them): it runs what it finds there.
SYSTEM_PYTHON = "/usr/bin/python3"
VIEW = ("import json, os, site, sys; print(json.dumps({'user_site': site.ENABLE_USER_SITE, "
        "'home': os.environ['HOME'], 'tmp': sorted(os.listdir('/tmp')), "
        "'ran': os.path.exists('/tmp/planted-code-ran')}))")


def _claim(tmp_path: Path, data: bytes) -> Path:
    """A claim's volume, readable by the pod's user (as a shared filesystem would be)."""
    root = tmp_path / "claim"
    target = root / PVC_PATH
    target.parent.mkdir(parents=True)
    for directory in [root, *target.relative_to(root).parents]:
        (root / directory).chmod(0o755)
    target.write_bytes(data)
    target.chmod(0o644)
    return root


def _infer(port: int, inputs: list[list[float]]) -> list[int]:
    body = {"inputs": [{"name": "input-0", "shape": [len(inputs), len(inputs[0])], "datatype": "FP64",
                        "data": [x for row in inputs for x in row]}]}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/iris/infer", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        [output] = json.loads(response.read())["outputs"]
    return list(output["data"])


@pytest.fixture(scope="module")
def flipped(release, tmp_path_factory) -> dict[str, Any]:
    """Another valid model (every prediction inverted): served, it would show at once."""
    out = tmp_path_factory.mktemp("flipped")
    source, target = out / "model.joblib", out / "flipped.joblib"
    source.write_bytes(release["model"])
    proc = subprocess.run([str(VENVS / "mlserver" / "bin" / "python3"), "-c", FLIP, str(source), str(target),
                           json.dumps(release["expected"]["inputs"])], capture_output=True, text=True, check=True)
    predictions = json.loads(proc.stdout)
    assert predictions != release["expected"]["predictions"]
    return {"bytes": target.read_bytes(), "predictions": predictions}


def test_a_claim_written_after_the_start_never_reaches_a_restarted_server(release, flipped, tmp_path):
    text = release["text"].replace(f"s3://{BUCKET}/iris/1.0.0/model.joblib", f"pvc://{CLAIM}/{PVC_PATH}")
    (tmp_path / "build").mkdir()
    objects = _build(tmp_path / "build", text)
    claim = _claim(tmp_path, release["model"])
    cluster = _cluster(objects)
    cluster.claims[CLAIM] = claim
    pod = Pod(objects["rollout.yaml"]["spec"]["template"], cluster, tmp_path / "pod")
    assert [c["name"] for c in pod.spec["initContainers"]] == ["copy-model", "verify"]
    assert pod.run_init(), _transcript(pod)
    inputs, expected = release["expected"]["inputs"], release["expected"]["predictions"]
    pod.start()
    try:
        status, _ = pod.probe("server", "readinessProbe")
        assert status == 200, pod.stop()
        assert _infer(release["port"], inputs) == expected
        # Another pod writes the claim: a different, valid model under the same path.
        (claim / PVC_PATH).write_bytes(flipped["bytes"])
        pod.restart("server")
        status, waited = pod.probe("server", "readinessProbe")
        assert status == 200, pod.stop()
        after = _infer(release["port"], inputs)
    finally:
        pod.stop()
    assert after == expected != flipped["predictions"]
    assert (tmp_path / "pod" / "volumes" / "model" / "model.joblib").read_bytes() == release["model"]
    print(f"claim rewritten, server restarted: ready after {waited:.1f}s, serves {after} (verified copy); "
          f"the claim's bytes would give {flipped['predictions']}")
    # The pod is recreated (or its sandbox, which runs the init containers again): the
    # copy now holds the claim's new bytes, and verify refuses them.
    assert not pod.run_init()
    copy, verify = pod.log[-2:]
    assert copy.name == "copy-model" and copy.returncode == 0 and verify.name == "verify"
    tampered = "sha256:" + hashlib.sha256(flipped["bytes"]).hexdigest()
    assert verify.returncode == 1 and f"got {tampered}" in verify.stderr
    print(verify.stderr.strip())


@pytest.mark.parametrize("pod_of, user", [("rollout.yaml", "server"), ("job-eval.yaml", "evaluator")])
def test_what_a_storage_initializer_leaves_behind_never_reaches_the_server_or_evaluator(release, tmp_path,
                                                                                        pod_of, user):
    objects = release["objects"]
    cluster = _cluster(objects)
    storage = VENVS / "storage"
    cluster.images[INITIALIZER] = type(cluster.images[INITIALIZER])(
        [str(storage / "bin" / "python3"), str(_baked("hostile_initializer.py"))], cluster.images[INITIALIZER].env)
    template = objects[pod_of]["spec"]["template"]
    pod = Pod(template, cluster, tmp_path)
    assert pod.run_init(), _transcript(pod)
    fetched = [f for f in pod.log if f.name.startswith("fetch-")]
    assert fetched and all("planted in /tmp" in f.stdout for f in fetched)
    # Control: in a fetch step's own view the plant is there, and a Python that
    # starts there runs it.
    control = pod.exec(fetched[0].name, [SYSTEM_PYTHON, "-c", VIEW])
    seen = json.loads(control.stdout)
    assert seen["user_site"] is True and seen["ran"] is True and "initializer-was-here" in seen["tmp"], control.stderr
    # The server's / evaluator's view: its own /tmp and HOME, nothing planted, nothing run.
    view = pod.exec(user, [SYSTEM_PYTHON, "-c", VIEW])
    assert view.returncode == 0, view.stderr
    seen = json.loads(view.stdout)
    assert seen["user_site"] is True and seen["home"] == "/tmp"
    assert seen["ran"] is False and "initializer-was-here" not in seen["tmp"] and ".local" not in seen["tmp"], seen
    own = tmp_path / "volumes" / "tmp"
    assert not (own / "planted-code-ran").exists() and not (own / ".local").exists()
    print(f"{fetched[0].name} view: {control.stdout.strip()}\n{user} view: {view.stdout.strip()}")


@pytest.mark.parametrize("tampered", [None, "model", "baseline", "dataset"])
def test_tampering_any_one_artifact_of_the_evaluation_pod_stops_it(release, flipped, tmp_path, tampered):
    """Model (s3), baseline (pvc) and dataset (s3) in one verify step: each alone,
    changed, stops the pod before the evaluator; untouched, the evaluator runs."""
    baseline = f"pvc://{CLAIM}/{PVC_PATH}"
    text = release["text"] + (
        f"  rollback:\n    previous:\n      version: \"0.9.0\"\n      dataVersion: v0\n"
        f"      artifact: {{uri: \"{baseline}\", digest: \"{_digest_bytes(release['model'], tmp_path)}\"}}\n")
    (tmp_path / "build").mkdir()
    objects = _build(tmp_path / "build", text)
    s3 = release["s3"]
    holdout = release["holdout"]
    cluster = _cluster(objects)
    cluster.claims[CLAIM] = _claim(tmp_path, flipped["bytes"] if tampered == "baseline" else release["model"])
    if tampered == "model":
        s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", flipped["bytes"])
    if tampered == "dataset":
        s3.put(f"{BUCKET}/iris/holdout.npz", holdout + b"\0")
    try:
        pod = Pod(objects["job-eval.yaml"]["spec"]["template"], cluster, tmp_path / "pod")
        assert [c["name"] for c in pod.spec["initContainers"]] == [
            "fetch-model", "copy-baseline", "fetch-dataset", "verify", "evaluator"]
        passed = pod.run_init()
    finally:
        s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", release["model"])
        s3.put(f"{BUCKET}/iris/holdout.npz", holdout)
    verify = next(f for f in pod.log if f.name == "verify")
    if tampered is None:
        assert passed and verify.stdout.count(" ok\n") == 3, _transcript(pod)
        assert pod.log[-1].name == "evaluator" and pod.log[-1].returncode == 0
        return
    assert not passed and verify.returncode == 1 and pod.log[-1] is verify, _transcript(pod)
    [failed] = [line for line in verify.stderr.splitlines() if "digest mismatch" in line]
    assert failed.startswith(f"mlspec verify: {tampered} at /mnt/"), verify.stderr
    assert verify.stdout.count(" ok\n") == 2
    print(failed)


def _digest_bytes(data: bytes, tmp_path: Path) -> str:
    (tmp_path / "pinned").write_bytes(data)
    return _digest(tmp_path / "pinned")
