"""The release loop with real components: a real MLflow tracking server (the MLflow
image, requirements/harness-mlflow.txt: `mlflow server --workers 1`, sqlite, its
artifact store on the moto S3 server of the pod harness), a training job that logs
and registers a scikit-learn model to it, `mlspec release --from-mlflow`, and the
released spec's serving pod run by the pod harness: KServe's storage initializer
fetches the MLflow-logged artifacts from S3, the verify step checks them, MLServer
with mlserver-mlflow serves them. A missing component fails; nothing is skipped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from harness.pod import Pod, free_port, v2_infer
from harness.test_pinned_bytes import VENVS, _cluster, _spec, _transcript, s3  # noqa: F401 - s3 is a fixture

HERE = Path(__file__).resolve().parent
BUCKET = "mlflow"
REPO_URL = "https://git.example.com/acme/iris.git"
# The moto store's credentials; and MLflow's usage telemetry stays off in every
# process of these tests (only 127.0.0.1 is ever a destination).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# Lists and fetches every object below an S3 prefix with boto3 (the S3 image): the
# bytes as the store holds them, read without MLflow.
FETCH = ("import sys, boto3, pathlib; s3 = boto3.client('s3', endpoint_url=sys.argv[1]); "
         "bucket, prefix = sys.argv[2].split('/', 1); out = pathlib.Path(sys.argv[3]); "
         "keys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix + '/') "
         "for o in p.get('Contents', [])]; "
         "[(out / k[len(prefix) + 1:]).parent.mkdir(parents=True, exist_ok=True) or "
         "s3.download_file(bucket, k, str(out / k[len(prefix) + 1:])) for k in keys]")


@pytest.fixture(scope="module")
def tracking(s3, tmp_path_factory) -> dict[str, str]:
    """`mlflow server` on 127.0.0.1: runs and the registry in sqlite, artifacts in S3
    (`--default-artifact-root`), and proxied `mlflow-artifacts:` ones in S3 too."""
    server = VENVS / "mlflow" / "bin" / "mlflow"
    assert server.exists(), f"{server} is missing: run `scripts/test` (builds requirements/harness-mlflow.txt)"
    s3.put(BUCKET, b"")
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {**os.environ, **CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    proc = subprocess.Popen([str(server), "server", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{home}/mlflow.db",
                             "--default-artifact-root", f"s3://{BUCKET}/artifacts",
                             "--artifacts-destination", f"s3://{BUCKET}/proxied"],
                            cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=open(home / "server.log", "w"),
                            start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        assert time.monotonic() < deadline and proc.poll() is None, (home / "server.log").read_text()[-3000:]
        time.sleep(0.5)
    yield {**CREDENTIALS, "MLFLOW_TRACKING_URI": uri, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    # The server's job runner outlives a SIGTERM for long: end the whole session.
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _git(checkout: Path, *args: str) -> str:
    command = ["git", "-C", str(checkout), "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def _train(tracking: dict[str, str], where: Path, *args: str, checkout: bool) -> subprocess.Popen[str]:
    """The training script in `where`: a Git checkout of it with a remote (MLflow records
    both), or a plain directory."""
    where.mkdir(parents=True)
    shutil.copy(HERE / "mlflow_trainer.py", where / "train.py")
    if checkout:
        _git(where, "init", "-q")
        _git(where, "add", "train.py")
        _git(where, "commit", "-q", "-m", "train iris")
        _git(where, "remote", "add", "origin", REPO_URL)
    return subprocess.Popen([str(VENVS / "mlflow" / "bin" / "python3"), str(where / "train.py"), *args],
                            cwd=where, env={**os.environ, **tracking}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs(tracking, tmp_path_factory) -> dict[str, Any]:
    """Two training runs, side by side: `iris` from a Git checkout, registered with the
    alias `champion`; `iris-nogit` from a plain directory, into an experiment whose
    artifacts the server proxies (`mlflow-artifacts:`), as version 1."""
    tmp = tmp_path_factory.mktemp("training")
    jobs = {"iris": _train(tracking, tmp / "checkout", str(tmp / "iris.json"), "iris", "champion", checkout=True),
            "nogit": _train(tracking, tmp / "plain", str(tmp / "nogit.json"), "iris-nogit", "champion",
                            "proxied", "mlflow-artifacts:/nogit", checkout=False)}
    failed = {}
    for name, job in jobs.items():
        _, err = job.communicate(timeout=600)
        if job.returncode:
            failed[name] = err[-3000:]
    assert not failed, failed
    return {"iris": json.loads((tmp / "iris.json").read_text()), "nogit": json.loads((tmp / "nogit.json").read_text()),
            "commit": _git(tmp / "checkout", "rev-parse", "HEAD")}


def _release(spec: Path, tracking: dict[str, str], *args: str, mlspec: str = "mlspec",
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([mlspec, "release", str(spec), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **tracking})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _digest_in_store(s3_endpoint: str, uri: str, out: Path) -> str:
    """`mlspec digest` of the bytes below an s3:// prefix, fetched with boto3 (not MLflow)."""
    assert uri.startswith("s3://"), uri
    subprocess.run([str(VENVS / "s3" / "bin" / "python3"), "-c", FETCH, s3_endpoint, uri[len("s3://"):], str(out)],
                   env={**os.environ, **CREDENTIALS}, check=True, capture_output=True, timeout=120)
    return subprocess.run(["mlspec", "digest", str(out)], capture_output=True, text=True, check=True).stdout.strip()


def _first_spec(s3, tmp: Path) -> tuple[Path, int]:
    """The spec before the MLflow release: release 0.9.0, pinned by hand."""
    port = free_port()
    spec = tmp / "iris.mlspec.yaml"
    old = "sha256:" + hashlib.sha256(b"release 0.9.0").hexdigest()
    spec.write_text(_spec(s3, old, old, 0.9, port, "0.9.0"))
    return spec, port


@pytest.fixture(scope="module")
def released(runs, tracking, s3, tmp_path_factory) -> dict[str, Any]:
    """`mlspec release SPEC --from-mlflow models:/iris@champion`, then `mlspec build`."""
    tmp = tmp_path_factory.mktemp("released")
    spec, port = _first_spec(s3, tmp)
    before = yaml.safe_load(spec.read_text())
    proc = _release(spec, tracking, "--from-mlflow", "models:/iris@champion")
    assert proc.returncode == 0, proc.stderr
    built = subprocess.run(["mlspec", "build", str(spec), "-o", str(tmp / "deploy")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    objects = {f.name: yaml.safe_load(f.read_text()) for f in (tmp / "deploy" / "default" / "iris").glob("*.yaml")}
    return {"spec": yaml.safe_load(spec.read_text())["spec"], "before": before["spec"], "port": port,
            "objects": objects, "s3": s3, "tmp": tmp}


def _mlflow_client(tracking: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from mlflow import MlflowClient

    for key, value in tracking.items():
        monkeypatch.setenv(key, value)
    return MlflowClient()


def test_release_from_an_mlflow_alias_pins_what_the_run_holds(released, runs, tracking, monkeypatch, tmp_path):
    client = _mlflow_client(tracking, monkeypatch)
    version = client.get_model_version_by_alias("iris", "champion")
    run = client.get_run(version.run_id)
    spec, before = released["spec"], released["before"]
    model, training = spec["model"], spec["training"]
    assert model["version"] == version.version == runs["iris"]["version"]
    store = client.get_model_version_download_uri("iris", version.version)
    assert model["artifact"]["uri"] == store and store.startswith(f"s3://{BUCKET}/artifacts/")
    assert model["artifact"]["digest"] == _digest_in_store(released["s3"].endpoint, store, tmp_path / "store")
    assert (tmp_path / "store" / "MLmodel").is_file() and model["format"] == "mlflow"
    assert training["runId"] == f"mlflow:{run.info.run_id}" == f"mlflow:{runs['iris']['run_id']}"
    assert training["code"] == {"repo": REPO_URL, "commit": runs["commit"]}
    assert run.data.tags["mlflow.source.git.commit"] == runs["commit"]
    assert training["seed"] == int(run.data.params["seed"]) == 1234
    [dataset] = run.inputs.dataset_inputs
    assert training["data"] == {"uri": "s3://data/iris/iris.csv", "version": dataset.dataset.digest}
    assert dataset.dataset.digest == runs["iris"]["dataset_digest"]
    assert training["environment"] == {"image": run.data.tags["mlspec.training.image"]}
    assert spec["rollback"]["previous"] == {"version": "0.9.0", "artifact": before["model"]["artifact"],
                                            "dataVersion": before["training"]["data"]["version"]}
    print(json.dumps({"model": model, "training": training}, indent=2))


def _serving_pod(released: dict[str, Any], workdir: Path) -> Pod:
    rollout = released["objects"]["rollout.yaml"]
    return Pod(rollout["spec"]["template"], _cluster(released["objects"]), workdir)


def test_the_released_model_is_fetched_verified_and_served_with_the_runs_predictions(released, runs, tmp_path):
    pod = _serving_pod(released, tmp_path)
    assert pod.run_init(), _transcript(pod)
    fetch, verify = pod.log
    pinned = released["spec"]["model"]["artifact"]["digest"]
    assert f"{pinned} ok" in verify.stdout
    pod.start()
    try:
        status, waited = pod.probe("server", "readinessProbe")
        assert status == 200, (waited, pod.stop())
        # The model's signature (logged from its input example) asks for one float64 tensor.
        answer = v2_infer(released["port"], "iris", runs["iris"]["inputs"])
    finally:
        logs = pod.stop()
    [output] = answer["outputs"]
    assert output["data"] == runs["iris"]["predictions"], (answer, logs)
    print(f"fetch {fetch.seconds:.2f}s; {verify.stdout.strip()}; ready after {waited:.1f}s; "
          f"inference {answer['model_name']} -> {output['data']}")


def test_one_changed_byte_in_the_mlflow_store_stops_the_pod(released, tmp_path):
    store = released["spec"]["model"]["artifact"]["uri"]
    local = tmp_path / "store"
    _digest_in_store(released["s3"].endpoint, store, local)
    original = (local / "model.skops").read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    (local / "model.skops").write_bytes(bytes(tampered))
    actual = subprocess.run(["mlspec", "digest", str(local)], capture_output=True, text=True, check=True).stdout.strip()
    key = f"{store[len('s3://'):]}/model.skops"
    released["s3"].put(key, bytes(tampered))
    try:
        pod = _serving_pod(released, tmp_path / "pod")
        assert not pod.run_init()
        fetch, verify = pod.log
        assert fetch.returncode == 0 and verify.returncode != 0
        assert f"expected {released['spec']['model']['artifact']['digest']}, got {actual}" in verify.stderr
        assert pod.main == {}, "the server must never start"
        print(verify.stderr.strip())
    finally:
        released["s3"].put(key, original)


def _refused(spec: Path, tracking: dict[str, str], *args: str, **kwargs: Any) -> list[str]:
    """A release that must write nothing: exit 1, the spec byte-identical, only diagnostics."""
    before = spec.read_bytes()
    proc = _release(spec, tracking, *args, **kwargs)
    assert proc.returncode == 1 and proc.stdout == "", proc
    assert spec.read_bytes() == before
    return proc.stderr.strip().splitlines()


@pytest.fixture
def first_spec(s3, tmp_path) -> Path:
    return _first_spec(s3, tmp_path)[0]


@pytest.mark.parametrize("ref, message", [
    ("models:/iris@nope", "registered model `iris` has no alias `nope` (its aliases: `champion`)"),
    ("models:/iris/99", "registered model `iris` has no version 99"),
    ("models:/nobody@champion", "cannot read registered model `nobody`"),
    ("models:/iris", "an MLflow reference is `models:/NAME/VERSION`, `models:/NAME@ALIAS` or `runs:/RUN_ID/PATH`"),
])
def test_a_reference_that_names_nothing_is_refused(runs, tracking, first_spec, ref, message):
    [line] = _refused(first_spec, tracking, "--from-mlflow", ref)
    assert line.startswith(f"{ref}:1:1: error: ") and message in line


def test_an_unreachable_tracking_server_is_an_error_not_a_retry_loop(tracking, first_spec):
    down = {**tracking, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    [line] = _refused(first_spec, down, "--from-mlflow", "models:/iris@champion", timeout=60)
    assert f"the MLflow tracking server {down['MLFLOW_TRACKING_URI']} (MLFLOW_TRACKING_URI) failed" in line


def test_a_tracking_server_that_never_answers_is_an_error_not_a_hang(tracking, first_spec):
    """MLflow's own defaults (120 s a request, 7 retries with backoff) would wait for
    many minutes; the subprocess's bound fails the test if release waits like that."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes each connection; nothing ever answers
        hung = {**tracking, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        [line] = _refused(first_spec, hung, "--from-mlflow", "models:/iris@champion", timeout=60)
    assert f"the MLflow tracking server {hung['MLFLOW_TRACKING_URI']} (MLFLOW_TRACKING_URI) failed" in line


def test_a_run_without_a_git_commit_from_a_proxied_store_lists_every_problem(runs, tracking, first_spec):
    lines = _refused(first_spec, tracking, "--from-mlflow", "models:/iris-nogit/1")
    assert len(lines) == 2, lines
    [commit] = [line for line in lines if "`spec.training.code.commit`" in line]
    assert "missing pin in models:/iris-nogit/1" in commit and "--commit" in commit
    assert "the run's tag `mlflow.source.git.commit`" in commit
    [artifact] = [line for line in lines if "mlflow-artifacts:/nogit/" in line]
    assert "--artifact" in artifact


def test_flags_give_what_the_run_lacks_and_artifact_names_where_proxied_bytes_live(
        runs, tracking, s3, tmp_path, monkeypatch):
    store = _mlflow_client(tracking, monkeypatch).get_model_version_download_uri("iris-nogit", "1")
    assert store.startswith("mlflow-artifacts:/nogit/")
    same = f"s3://{BUCKET}/proxied/{store[len('mlflow-artifacts:/'):]}"  # the server's --artifacts-destination
    spec, _ = _first_spec(s3, tmp_path)
    proc = _release(spec, tracking, "--from-mlflow", "models:/iris-nogit/1", "--commit", "a" * 40, "--artifact", same)
    assert proc.returncode == 0, proc.stderr
    released = yaml.safe_load(spec.read_text())["spec"]
    assert released["model"]["artifact"] == {"uri": same, "digest": _digest_in_store(s3.endpoint, same, tmp_path / "s")}
    assert released["training"]["code"]["commit"] == "a" * 40
    assert released["training"]["runId"] == f"mlflow:{runs['nogit']['run_id']}"


def test_a_run_reference_pins_the_model_the_run_logged(released, runs, tracking, s3, tmp_path):
    spec, _ = _first_spec(s3, tmp_path)
    ref = f"runs:/{runs['iris']['run_id']}/model"
    # No registered version, and no param of that name: both missing pins, in one answer.
    lines = _refused(spec, tracking, "--from-mlflow", ref, "--seed-param", "epochs")
    assert len(lines) == 2 and all(f"missing pin in {ref}" in line for line in lines), lines
    assert any("`spec.model.version`" in line and "--version" in line for line in lines)
    assert any("`spec.training.seed`" in line and "`epochs`" not in line and "--seed" in line for line in lines)
    proc = _release(spec, tracking, "--from-mlflow", ref, "--version", "2.0.0")
    assert proc.returncode == 0, proc.stderr
    model = yaml.safe_load(spec.read_text())["spec"]["model"]
    assert model["version"] == "2.0.0"
    assert model["artifact"] == released["spec"]["model"]["artifact"]  # the same logged model, the same bytes


def test_without_the_extra_from_mlflow_says_how_to_install_it(first_spec, tmp_path):
    """mlspec installed from the runtime lock alone (no mlflow-skinny, no boto3)."""
    venv, src = tmp_path / "venv", tmp_path / "src"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for name in ("compiler", "templates", "schemas"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.txt")], check=True,
                   capture_output=True, timeout=900)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(src)], check=True, capture_output=True, timeout=900)
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import mlflow"], capture_output=True).returncode != 0
    [line] = _refused(first_spec, {**CREDENTIALS, "MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}, "--from-mlflow",
                      "models:/iris@champion", mlspec=str(venv / "bin" / "mlspec"))
    assert line == ("models:/iris@champion:1:1: error: --from-mlflow needs MLflow's client, which is not installed: "
                    "the extra `mlflow` (install mlspec's wheel or Git URL with `[mlflow]`, e.g. "
                    "`pipx install 'mlspec-gitops[mlflow] @ git+URL@COMMIT'`; README.md, Install) [record-invalid]")


def _locked(image: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / f"harness-{image}.txt").read_text().splitlines()
    return dict(line.split(" ")[0].split("==") for line in lines if "==" in line and not line.startswith((" ", "#")))


def test_the_model_is_trained_with_the_libraries_the_server_loads_it_with():
    """MLflow records the training environment's versions in the model and only warns
    when the server's differ: scripts/lock holds the MLflow image to the server's."""
    trainer, server = _locked("mlflow"), _locked("mlserver")
    assert server["mlserver-mlflow"] == server["mlserver"]
    model_libraries = ("mlflow", "mlflow-skinny", "scikit-learn", "numpy", "scipy", "pandas", "skops", "cloudpickle")
    assert {n: trainer[n] for n in model_libraries} == {n: server[n] for n in model_libraries}


def test_the_runs_signature_tag_gives_the_bundle_checked_over_the_downloaded_bytes(runs, tracking, s3, monkeypatch,
                                                                                     tmp_path):
    """The run's tag `mlspec.signature.bundle` names the bundle; with a local copy and the
    key, release checks it with model-signing over the bytes MLflow downloads, before
    writing. Signed here over the store's bytes fetched with boto3, not MLflow."""
    import model_signing
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from harness.test_signed_model import _signed_spec

    client = _mlflow_client(tracking, monkeypatch)
    version = client.get_model_version_by_alias("iris", "champion")
    store = client.get_model_version_download_uri("iris", version.version)
    _digest_in_store(s3.endpoint, store, tmp_path / "store")
    keys = {}
    for name in ("release", "other"):
        private = ec.generate_private_key(ec.SECP256R1())
        (tmp_path / f"{name}.pem").write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        keys[name] = tmp_path / f"{name}.pub"
        keys[name].write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "release.pem").sign(
        tmp_path / "store", tmp_path / "model.sig")
    bundle = f"s3://{BUCKET}/signatures/iris/{version.version}.sig"
    spec, _ = _first_spec(s3, tmp_path)
    spec.write_text(_signed_spec(spec.read_text(), f"s3://{BUCKET}/signatures/iris/0.9.0.sig"))
    before = spec.read_bytes()
    client.set_tag(version.run_id, "mlspec.signature.bundle", bundle)
    try:
        [line] = _refused(spec, tracking, "--from-mlflow", "models:/iris@champion",
                          "--signature-of", str(tmp_path / "model.sig"), "--signature-key", str(keys["other"]))
        assert "does not vouch for the bytes" in line and "Key mismatch" in line, line
        assert spec.read_bytes() == before
        proc = _release(spec, tracking, "--from-mlflow", "models:/iris@champion",
                        "--signature-of", str(tmp_path / "model.sig"), "--signature-key", str(keys["release"]))
        assert proc.returncode == 0, proc.stderr
    finally:
        client.delete_tag(version.run_id, "mlspec.signature.bundle")
    model = yaml.safe_load(spec.read_text())["spec"]["model"]
    assert model["artifact"]["signature"]["bundle"] == bundle
    assert model["artifact"]["digest"] == _digest_in_store(s3.endpoint, store, tmp_path / "again")
