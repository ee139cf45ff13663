"""`model.artifact.signature` through `mlspec build`: the platform's defaults complete a
spec's signature and never sign one that has none; `requireSignature` per environment;
the verifier image under `allowedRegistries`; every malformed block a positioned error
with nothing written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_platform import H, PLATFORM, REG, SPEC, _load, _repo, run

VERIFIER = f"{REG}/ml/model-signing@sha256:{H}"
SIGNATURE = ("    artifact:\n      uri: \"s3://models/NAME/1.0.0/model.joblib\"\n      digest: \"sha256:" + H + "\"\n"
             "      signature:\n        bundle: s3://models/NAME/1.0.0/model.sig\n        method: key\n"
             "        publicKey: {configMap: model-signing-keys, key: risk.pub}\n")
PLATFORM_SIGNING = PLATFORM.replace(
    "  defaults:\n", f"  defaults:\n    model: {{artifact: {{signature: {{verifierImage: {VERIFIER}}}}}}}\n", 1)


def _signed(text: str, block: str = SIGNATURE) -> str:
    plain = "    artifact: {uri: \"s3://models/NAME/1.0.0/model.joblib\", digest: \"sha256:NAMEH\"}\n"
    plain = plain.replace("NAMEH", H)
    assert plain in text
    return text.replace(plain, block)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = _repo(tmp_path / "repo", PLATFORM_SIGNING)
    spec = root / "models" / "churn.yaml"
    spec.write_text(_signed(SPEC).replace("NAME", "churn"))
    monkeypatch.chdir(root)
    return root


def _init_names(pod: dict) -> list[str]:
    return [c["name"] for c in pod["initContainers"]]


def test_the_platform_verifier_image_completes_a_signature_and_signs_nothing_else(repo):
    result = run("build", "models", "-o", "out", "--verify")  # kubernetes-validate's strict schemas too
    assert result.exit_code == 0, result.output
    for env in ("staging", "prod"):
        pod = _load(repo / "out" / env / "churn" / "rollout.yaml")["spec"]["template"]["spec"]
        assert _init_names(pod) == ["fetch-model", "fetch-model-signature", "verify", "verify-model-signature"]
        check = pod["initContainers"][-1]
        assert check["image"] == VERIFIER
        assert check["command"][3:] == [
            "--method", "key", "--public-key=/mlspec/trust/model/risk.pub", "--bundle", "/mlspec/signature/model",
            "--digest", f"sha256:{H}", "--model", "/mnt/models"]
        assert {"name": "model-trust", "configMap": {"name": "model-signing-keys",
                                                     "items": [{"key": "risk.pub", "path": "risk.pub"}]}} in pod["volumes"]
        # the server sees neither the bundle nor the key
        assert {m["name"] for m in pod["containers"][0]["volumeMounts"]} & {"model-signature", "model-trust"} == set()
        assert "signature.py" in _load(repo / "out" / env / "churn" / "configmap-runtime.yaml")["data"]
        assert "signature.py" in _load(repo / "out" / env / "churn" / "configmap-gate.yaml")["data"]
        rendered = subprocess.run([shutil.which("kubectl") or "kubectl", "kustomize", str(repo / "out" / env / "churn")],
                                  capture_output=True, text=True, check=True).stdout
        assert "verify-model-signature" in rendered
        # the neighbour without a signature of its own: no check, no program, the same pods as before
        pod = _load(repo / "out" / env / "fraud" / "rollout.yaml")["spec"]["template"]["spec"]
        assert _init_names(pod) == ["fetch-model", "verify"]
        assert "signature.py" not in _load(repo / "out" / env / "fraud" / "configmap-runtime.yaml")["data"]


def test_require_signature_per_environment(repo):
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace("policy: {minReplicas: 3}",
                                                     "policy: {minReplicas: 3, requireSignature: true}"))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if "requireSignature" in line]
    # prod only, the two unsigned models only, each at its own artifact
    assert sorted(e.split(":", 1)[0] for e in errors) == ["models/fraud.yaml", "models/recs.yaml"]
    assert all("in environment `prod`: a model signature is required" in e and ":10:15:" in e for e in errors), errors
    assert not (repo / "out").exists()


def test_the_verifier_image_is_under_allowed_registries(repo):
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace(VERIFIER, f"docker.io/ml/model-signing@sha256:{H}"))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1
    assert "docker.io/ml/model-signing" in result.output and "allowedRegistries" in result.output
    assert "models/fraud.yaml" not in result.output  # unsigned models run no verifier


BAD = [
    ("        publicKey: {configMap: model-signing-keys, key: risk.pub}\n",
     "        publicKey: {configMap: model-signing-keys, key: \"-----BEGIN PUBLIC KEY-----\\nMFkw\"}\n",
     "16:57", "key material is referenced, never inlined"),
    ("        method: key\n", "        method: certificate\n", "15:17", "`method: certificate` needs `certificate`"),
    ("        method: key\n", "        method: sigstore\n", "16:20",
     "`publicKey` belongs to `method: key`, not `method: sigstore`"),
    ("{configMap: model-signing-keys, key", "{configMap: model-signing-keys, secretName: keys, key",
     "16:20", "`publicKey` names exactly one of `configMap` or `secretName`"),
    ("        method: key\n", "        method: gpg\n", "15:17", "not one of 'key', 'certificate' or 'sigstore'"),
    ("bundle: s3://models/churn/1.0.0/model.sig", "bundle: oci://ghcr.io/acme/sig@sha256:" + H,
     "14:17", "is not a bundle location"),
]


@pytest.mark.parametrize("old, new, at, message", BAD)
def test_a_malformed_signature_is_a_positioned_error(repo, old, new, at, message):
    spec = repo / "models" / "churn.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    result = run("validate", "models/churn.yaml")
    assert result.exit_code == 1, result.output
    assert f"models/churn.yaml:{at}: error:" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert run("build", "models", "-o", "out").exit_code == 1 and not (repo / "out").exists()


def test_without_a_verifier_image_the_signature_is_refused(repo):
    (repo / ".mlspec" / "platform.yaml").write_text(PLATFORM)  # no signature defaults
    result = run("validate", "models/churn.yaml")
    assert result.exit_code == 1
    assert "models/churn.yaml:14:9: error:" in result.output and "`verifierImage` is required" in result.output


def test_a_secret_key_and_a_pvc_bundle(repo):
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("{configMap: model-signing-keys, key", "{secretName: model-signing-keys, key")
                    .replace("s3://models/churn/1.0.0/model.sig", "pvc://signatures/churn/1.0.0.sig"))
    assert run("build", "models", "-o", "out").exit_code == 0
    pod = _load(repo / "out" / "prod" / "churn" / "rollout.yaml")["spec"]["template"]["spec"]
    assert _init_names(pod) == ["fetch-model", "copy-model-signature", "verify", "verify-model-signature"]
    assert {"name": "model-trust", "secret": {"secretName": "model-signing-keys",
                                              "items": [{"key": "risk.pub", "path": "risk.pub"}]}} in pod["volumes"]
    assert {"name": "model-signature-claim", "persistentVolumeClaim": {"claimName": "signatures", "readOnly": True}} \
        in pod["volumes"]
