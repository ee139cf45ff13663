"""Proof that a signed model serves and that nothing else does, by running the emitted
pods (tests/harness/pod.py): the model is signed here with the real `model-signing`
package (an EC key made with `cryptography`; for the certificate method a CA and a leaf
made the same way), uploaded to a moto S3 server with its bundle, and the pod's
containers run as local processes: KServe's storage initializer fetches model and
bundle, mlspec's digest check runs, then `signature.py` in the verifier image (the
`signing` harness environment: model-signing + pyopenssl), then MLServer.

Each refusal is a case whose nearest neighbour passes: the right key against another
key, the right identity against another identity, the pinned bytes against one flipped
byte (re-pinned, so the digest check passes and only the signature can refuse), the
model's own signature against a valid signature over another model."""

from __future__ import annotations

import base64
import datetime
import json
import os
from pathlib import Path
from typing import Any

import model_signing
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.pod import Pod, free_port, v2_infer, venv_image
from harness.test_pinned_bytes import BUCKET, _build, _cluster, _digest, _pin, _spec, s3, trained  # noqa: F401

VENVS = Path(os.environ.get("MLSPEC_HARNESS_VENVS", "/var/tmp/mlspec-harness"))
VERIFIER = "registry.example.com/ml/model-signing@" + _pin("signing")
IDENTITY = "releases@acme.example"


def _key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def _public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _certificate(subject_key: Any, issuer_key: Any, subject: str, issuer: str, ca: bool, email: str | None) -> bytes:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Any]:
    """The release key, another key, and a CA with a leaf naming IDENTITY."""
    d = tmp_path_factory.mktemp("keys")
    release, other = _key(d / "release.pem"), _key(d / "other.pem")
    ca_key, leaf_key = _key(d / "ca.pem"), _key(d / "leaf.pem")
    (d / "ca.crt").write_bytes(_certificate(ca_key, ca_key, "acme model CA", "acme model CA", True, None))
    (d / "leaf.crt").write_bytes(_certificate(leaf_key, ca_key, "releases", "acme model CA", False, IDENTITY))
    return {"dir": d, "release": _public_pem(release), "other": _public_pem(other),
            "ca": (d / "ca.crt").read_text()}


def _sign(path: Path, bundle: Path, keys: dict[str, Any], method: str = "key") -> bytes:
    """What the training pipeline runs: model-signing's own signer over the file."""
    d = keys["dir"]
    config = model_signing.signing.Config()
    if method == "key":
        config.use_elliptic_key_signer(private_key=d / "release.pem")
    else:
        config.use_certificate_signer(private_key=d / "leaf.pem", signing_certificate=d / "leaf.crt",
                                      certificate_chain=[d / "ca.crt"])
    config.sign(path, bundle)
    return bundle.read_bytes()


SIGNATURE = {
    "key": "      signature:\n        bundle: {bundle}\n        method: key\n"
           "        publicKey: {{configMap: model-signing-keys, key: release.pub}}\n"
           "        verifierImage: " + VERIFIER + "\n",
    "certificate": "      signature:\n        bundle: {bundle}\n        method: certificate\n"
                   "        certificate:\n          certificateChain: {{configMap: model-signing-ca, key: ca.crt}}\n"
                   "          identity: {identity}\n        verifierImage: " + VERIFIER + "\n",
}


def _signed_spec(text: str, bundle: str, method: str = "key", identity: str = IDENTITY) -> str:
    marker = "      digest: "
    at = text.index("\n", text.index(marker)) + 1
    return text[:at] + SIGNATURE[method].format(bundle=bundle, identity=identity) + text[at:]


@pytest.fixture(scope="module")
def signed(s3, trained, keys, tmp_path_factory):
    """Release 1.0.0: the model, its key bundle and its certificate bundle in S3."""
    tmp = tmp_path_factory.mktemp("signed")
    model_file = trained / "model.joblib"
    model = model_file.read_bytes()
    s3.put(f"{BUCKET}/iris/1.0.0/model.joblib", model)
    s3.put(f"{BUCKET}/iris/holdout.npz", (trained / "holdout.npz").read_bytes())
    s3.put(f"{BUCKET}/iris/1.0.0/model.sig", _sign(model_file, tmp / "model.sig", keys))
    s3.put(f"{BUCKET}/iris/1.0.0/model.cert.sig", _sign(model_file, tmp / "model.cert.sig", keys, "certificate"))
    expected = json.loads((trained / "expected.json").read_text())
    port = free_port()
    text = _spec(s3, _digest(model_file), _digest(trained / "holdout.npz"), expected["accuracy"], port, "1.0.0")
    return {"text": text, "model": model, "digest": _digest(model_file), "expected": expected, "port": port,
            "s3": s3, "tmp": tmp}


def _pod(tmp: Path, text: str, keys: dict[str, Any], public_key: str | None = None) -> tuple[Pod, dict[str, Any]]:
    tmp.mkdir(parents=True, exist_ok=True)
    objects = _build(tmp, text)
    cluster = _cluster(objects)
    cluster.images[VERIFIER] = venv_image(VENVS / "signing")
    cluster.configmaps["model-signing-keys"] = {"release.pub": public_key or keys["release"]}
    cluster.configmaps["model-signing-ca"] = {"ca.crt": keys["ca"]}
    return Pod(objects["rollout.yaml"]["spec"]["template"], cluster, tmp / "pod"), objects


def _transcript(pod: Pod) -> str:
    return "\n".join(f"[{f.name}] exit {f.returncode}\n{f.stdout}{f.stderr}" for f in pod.log)


def _refused(pod: Pod, step: str, reason: str) -> str:
    """The pod stopped at `step` with `reason` in its log, and the server never started."""
    assert not pod.run_init(), _transcript(pod)
    last = pod.log[-1]
    assert last.name == step and last.returncode != 0, _transcript(pod)
    assert reason in last.stderr, _transcript(pod)
    assert pod.main == {}, "the server must never start"
    line = next(l for l in last.stderr.splitlines() if reason in l)
    print(f"[{step}] {line}")
    return line


KEY_BUNDLE = f"s3://{BUCKET}/iris/1.0.0/model.sig"


def test_a_signed_model_is_verified_and_served(signed, keys, tmp_path):
    pod, objects = _pod(tmp_path, _signed_spec(signed["text"], KEY_BUNDLE), keys)
    assert [c["name"] for c in pod.spec["initContainers"]] == [
        "fetch-model", "fetch-model-signature", "verify", "verify-model-signature"]
    assert "signature.py" in objects["configmap-runtime.yaml"]["data"]
    assert pod.run_init(), _transcript(pod)
    check = pod.log[-1]
    assert f"/mnt/models: {signed['digest']} signed (key) ok" in check.stdout, _transcript(pod)
    pod.start()
    try:
        status, waited = pod.probe("server", "readinessProbe")
        assert status == 200, (waited, pod.stop())
        answer = v2_infer(signed["port"], "iris", signed["expected"]["inputs"])
        [output] = answer["outputs"]
        assert output["data"] == signed["expected"]["predictions"]
        print(f"[verify-model-signature] {check.stdout.strip()}\n[server] ready after {waited:.1f}s; "
              f"inference {answer['model_name']} -> {output['data']}")
    finally:
        pod.stop()


def test_the_evaluation_pod_checks_the_signature_before_the_evaluator(signed, keys, tmp_path):
    text = _signed_spec(signed["text"], KEY_BUNDLE)
    objects = _build(tmp_path, text)
    template = objects["job-eval.yaml"]["spec"]["template"]
    names = [c["name"] for c in template["spec"]["initContainers"]]
    assert names == ["fetch-model", "fetch-model-signature", "fetch-dataset", "verify", "verify-model-signature",
                     "evaluator"]
    assert "signature.py" in objects["configmap-gate.yaml"]["data"]
    cluster = _cluster(objects)
    cluster.images[VERIFIER] = venv_image(VENVS / "signing")
    cluster.configmaps["model-signing-keys"] = {"release.pub": keys["other"]}
    pod = Pod(template, cluster, tmp_path / "pod")
    assert not pod.run_init()
    assert pod.log[-1].name == "verify-model-signature", _transcript(pod)  # the evaluator never ran


def test_one_flipped_byte_re_pinned_is_refused(signed, keys, tmp_path):
    """The attack of issue 27: bytes swapped *and* re-pinned in one pull request. The
    digest check passes (the pin is the new bytes'); the signature refuses."""
    tampered = bytearray(signed["model"])
    tampered[len(tampered) // 2] ^= 0x01
    signed["s3"].put(f"{BUCKET}/iris/1.0.1/model.joblib", bytes(tampered))
    (tmp_path / "tampered").write_bytes(bytes(tampered))
    text = _signed_spec(signed["text"], KEY_BUNDLE).replace("iris/1.0.0/model.joblib", "iris/1.0.1/model.joblib")
    pinned = next(l.split()[-1] for l in text.splitlines() if l.strip().startswith("digest: sha256:"))
    text = text.replace(pinned, _digest(tmp_path / "tampered"), 1)
    pod, _ = _pod(tmp_path / "build", text, keys)
    line = _refused(pod, "verify-model-signature", "the bundle signs other bytes")
    assert f"it signs {pinned}, the pinned digest is {_digest(tmp_path / 'tampered')}" in line
    assert pod.log[-2].name == "verify" and pod.log[-2].returncode == 0  # only the signature could refuse


def test_another_key_is_refused(signed, keys, tmp_path):
    pod, _ = _pod(tmp_path, _signed_spec(signed["text"], KEY_BUNDLE), keys, public_key=keys["other"])
    _refused(pod, "verify-model-signature", "the bundle does not verify")


@pytest.mark.parametrize("identity, passes", [(IDENTITY, True), ("mallory@acme.example", False)])
def test_the_certificate_identity_is_checked(signed, keys, tmp_path, identity, passes):
    text = _signed_spec(signed["text"], f"s3://{BUCKET}/iris/1.0.0/model.cert.sig", "certificate", identity)
    pod, _ = _pod(tmp_path, text, keys)
    if passes:
        assert pod.run_init(), _transcript(pod)
        assert f"signed by {IDENTITY} (certificate) ok" in pod.log[-1].stdout
        print(f"[verify-model-signature] {pod.log[-1].stdout.strip()}")
    else:
        _refused(pod, "verify-model-signature", f"the signing certificate names {IDENTITY}, not {identity}")


def test_a_missing_bundle_is_refused(signed, keys, tmp_path):
    text = _signed_spec(signed["text"], f"s3://{BUCKET}/iris/1.0.0/absent.sig")
    pod, _ = _pod(tmp_path, text, keys)
    assert not pod.run_init()
    failed = pod.log[-1]
    assert failed.name in ("fetch-model-signature", "verify-model-signature"), _transcript(pod)
    assert pod.main == {}
    if failed.name == "verify-model-signature":
        assert "no signature bundle was delivered" in failed.stderr, _transcript(pod)
    reason = [l for l in (failed.stderr + failed.stdout).splitlines() if l.strip()][-1]
    print(f"[{failed.name}] {reason}")


def test_a_valid_signature_over_another_model_is_refused(signed, keys, tmp_path):
    other = tmp_path / "model.joblib"
    other.write_bytes(signed["model"] + b"\n# another model")
    signed["s3"].put(f"{BUCKET}/iris/other/model.sig", _sign(other, tmp_path / "other.sig", keys))
    text = _signed_spec(signed["text"], f"s3://{BUCKET}/iris/other/model.sig")
    pod, _ = _pod(tmp_path / "build", text, keys)
    _refused(pod, "verify-model-signature", "the bundle signs other bytes")


def test_a_bundle_edited_to_name_the_pinned_bytes_is_refused(signed, keys, tmp_path):
    """The nearest neighbour of the case above: the other model's bundle with its signed
    digest rewritten to the pinned one. Now the digests agree, and the signature refuses."""
    other = tmp_path / "model.joblib"
    other.write_bytes(signed["model"] + b"\n# another model")
    bundle = json.loads(_sign(other, tmp_path / "other.sig", keys))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    [entry] = statement["predicate"]["resources"]
    entry["digest"] = signed["digest"].removeprefix("sha256:")
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signed["s3"].put(f"{BUCKET}/iris/edited/model.sig", json.dumps(bundle).encode())
    text = _signed_spec(signed["text"], f"s3://{BUCKET}/iris/edited/model.sig")
    pod, _ = _pod(tmp_path / "build", text, keys)
    _refused(pod, "verify-model-signature", "the bundle does not verify")
