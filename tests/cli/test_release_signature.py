"""`mlspec release` and model signatures: the new bundle's location from a flag or a
training record (the MLflow tag is in tests/harness/test_mlflow_release.py's server
setting; here its mapping), checked with the real `model-signing` library over the
local bytes before anything is written; every refusal leaves the spec byte-identical."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import model_signing
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlspec.cli.main import main
from mlspec.pod import digest

HEX1, HEX2 = "a1" * 20, "b2" * 20
OLD = "sha256:" + "a" * 64
SIGNATURE = """\
      signature:
        bundle: s3://models/churn/1.0.0/model.sig
        method: key
        publicKey: {configMap: model-signing-keys, key: release.pub}
        verifierImage: ghcr.io/acme/model-signing@sha256:""" + "5" * 64 + "\n"
SPEC = f"""\
apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: churn
spec:
  model:
    version: "1.0.0"
    format: sklearn
    artifact:
      uri: s3://models/churn/1.0.0/model.joblib
      digest: {OLD}
SIGNATURE  training:
    code: {{repo: https://github.com/acme/churn, commit: {HEX1}}}
    data: {{uri: gs://data/churn, version: v42}}
    seed: 7
    environment:
      image: ghcr.io/acme/churn-train@sha256:{"6" * 64}
  serving:
    image: docker.io/seldonio/mlserver@sha256:{"3" * 64}
    storageInitializer: {{image: docker.io/kserve/storage-initializer@sha256:{"4" * 64}}}
  evaluation:
    image: ghcr.io/acme/churn-eval@sha256:{"e" * 64}
    dataset: {{uri: gs://data/churn-holdout, version: "h-1"}}
    thresholds:
      - {{metric: f1, min: 0.8}}
"""
NEW_BUNDLE = "s3://models/churn/1.1.0/model.sig"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _key(d: Path, name: str) -> Path:
    private = ec.generate_private_key(ec.SECP256R1())
    (d / f"{name}.pem").write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    (d / f"{name}.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return d / f"{name}.pub"


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / ".git").mkdir()
    spec = tmp_path / "churn.yaml"
    spec.write_text(SPEC.replace("SIGNATURE", SIGNATURE))
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the new model")
    release, other = _key(tmp_path, "release"), _key(tmp_path, "other")
    model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "release.pem").sign(
        model, tmp_path / "model.sig")
    return {"root": tmp_path, "spec": spec, "model": model, "bundle": tmp_path / "model.sig", "key": release,
            "other": other}


def _release(r: dict[str, Path], *extra: object):
    return run("release", r["spec"], "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/model.joblib",
               "--digest-of", r["model"], "--commit", HEX2, "--data-version", "v43", "--seed", 8, *extra)


def test_a_bundle_that_vouches_for_the_bytes_is_written(repo):
    result = _release(repo, "--signature-bundle", NEW_BUNDLE, "--signature-of", repo["bundle"],
                      "--signature-key", repo["key"])
    assert result.exit_code == 0, result.output
    text = repo["spec"].read_text()
    assert f"        bundle: {NEW_BUNDLE}\n" in text
    assert f"      digest: {digest.digest(str(repo['model']))}\n" in text
    assert "method: key" in text  # the block says how; release changes only where


@pytest.mark.parametrize("make, reason", [
    (lambda r: ["--signature-key", r["other"]], "the bundle does not verify"),
    (lambda r: ["--signature-key", r["key"], "--digest-of-other"], "the bundle signs other bytes"),
    (lambda r: [], "--signature-of needs --signature-key FILE"),
])
def test_a_bundle_that_does_not_vouch_is_refused_and_nothing_written(repo, make, reason):
    extra = make(repo)
    model = repo["model"]
    if "--digest-of-other" in extra:  # a valid signature, over other bytes than the release's
        extra.remove("--digest-of-other")
        model = repo["root"] / "other.joblib"
        model.write_bytes(b"another model")
    before = repo["spec"].read_bytes()
    result = run("release", repo["spec"], "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/model.joblib",
                 "--digest-of", model, "--commit", HEX2, "--data-version", "v43", "--seed", 8,
                 "--signature-bundle", NEW_BUNDLE, "--signature-of", repo["bundle"], *extra)
    assert result.exit_code == 1, result.output
    assert f"{repo['spec']}:13:17: error:" in result.output and reason in result.output, result.output
    assert "Traceback" not in result.output
    assert repo["spec"].read_bytes() == before


def test_a_signed_spec_needs_the_new_release_bundle(repo):
    before = repo["spec"].read_bytes()
    result = _release(repo)
    assert result.exit_code == 1
    assert "missing pin: `spec.model.artifact.signature.bundle`; give --signature-bundle VALUE" in result.output
    assert repo["spec"].read_bytes() == before


def test_a_bundle_without_a_signature_block_is_refused(repo):
    repo["spec"].write_text(SPEC.replace("SIGNATURE", ""))
    result = _release(repo, "--signature-bundle", NEW_BUNDLE)
    assert result.exit_code == 1
    assert "a signature bundle needs the spec's `model.artifact.signature` block" in result.output
    assert _release(repo).exit_code == 0  # the neighbour: an unsigned spec releases without one


def test_a_training_record_gives_the_bundle(repo):
    record = repo["root"] / "record.json"
    record.write_text(json.dumps({"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",
                                  "artifact": {"uri": "s3://models/churn/1.1.0/model.joblib", "path": "model.joblib",
                                               "signatureBundle": NEW_BUNDLE},
                                  "code": {"commit": HEX2}, "data": {"version": "v43"}, "seed": 8}))
    result = run("release", repo["spec"], "--from-record", record, "--signature-of", repo["bundle"],
                 "--signature-key", repo["key"])
    assert result.exit_code == 0, result.output
    assert f"bundle: {NEW_BUNDLE}" in repo["spec"].read_text()


def test_the_mlflow_tag_maps_to_the_bundle():
    from mlspec.records import mlflow_source

    assert mlflow_source.TAG_SIGNATURE == "mlspec.signature.bundle"
    assert "artifact.signatureBundle" in mlflow_source.PROVIDES


def test_release_imports_model_signing_only_when_it_checks(repo):
    """`build` and an unchecked release never load the library."""
    code = ("import sys; from click.testing import CliRunner; from mlspec.cli.main import main; "
            "r = CliRunner().invoke(main, sys.argv[1:]); assert r.exit_code == 0, r.output; "
            "print('model_signing' in sys.modules)")
    args = ["release", str(repo["spec"]), "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/model.joblib",
            "--digest-of", str(repo["model"]), "--commit", HEX2, "--data-version", "v43", "--seed", "8",
            "--signature-bundle", NEW_BUNDLE, "--dry-run"]
    unchecked = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert unchecked.stdout.strip() == "False"
    checked = subprocess.run([sys.executable, "-c", code, *args, "--signature-of", str(repo["bundle"]),
                              "--signature-key", str(repo["key"])], capture_output=True, text=True, check=True)
    assert checked.stdout.strip() == "True"


@pytest.mark.parametrize("content, reason", [
    (None, "FileNotFoundError"),
    (b"not a key", "cannot read the key verification material"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot read the key verification material"),
])
def test_a_key_file_that_is_missing_or_not_a_key_is_a_positioned_error(repo, content, reason):
    key = repo["root"] / "bad.pub"
    if content is not None:
        key.write_bytes(content)
    before = repo["spec"].read_bytes()
    result = _release(repo, "--signature-bundle", NEW_BUNDLE, "--signature-of", repo["bundle"], "--signature-key", key)
    assert result.exit_code == 1, result.output
    assert f"{repo['spec']}:13:17: error:" in result.output and reason in result.output, result.output
    assert "Traceback" not in result.output
    assert repo["spec"].read_bytes() == before


def test_an_rsa_key_is_refused(repo):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = repo["root"] / "rsa.pub"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = _release(repo, "--signature-bundle", NEW_BUNDLE, "--signature-of", repo["bundle"], "--signature-key", key)
    assert result.exit_code == 1 and "cannot read the key verification material" in result.output, result.output
