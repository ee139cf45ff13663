"""`pod/signature.py` against bundles made by the real `model-signing` signer: the
digest it reads from a bundle is the one `mlspec digest` computes from the same bytes
(file and directory), and every bundle that is not a well-formed OMS bundle over the
pinned bytes is refused with its reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import model_signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlspec.pod import digest, signature


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("key")
    private = ec.generate_private_key(ec.SECP256R1())
    (d / "key.pem").write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (d / "key.pub").write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return d


def _sign(model: Path, bundle: Path, key: Path, shards: bool = False) -> dict:
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key / "key.pem")
    if shards:
        config.set_hashing_config(model_signing.hashing.Config().use_shard_serialization())
    config.sign(model, bundle)
    return json.loads(bundle.read_text())


def _model_dir(root: Path) -> Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    (model / "a b.txt").write_text("a name with a blank")
    return model


def test_the_signed_digest_of_a_directory_is_the_mlspec_digest(key, tmp_path):
    model = _model_dir(tmp_path)
    bundle = _sign(model, tmp_path / "model.sig", key)
    assert signature.signed_digest(signature.statement(bundle)) == digest.digest(str(model))
    (model / "sub" / "config.json").write_text('{"layers": 3}')  # the neighbour: one file changed
    assert signature.signed_digest(signature.statement(bundle)) != digest.digest(str(model))


def test_the_signed_digest_of_a_file_is_its_sha256(key, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"pickled")
    bundle = _sign(model, tmp_path / "model.sig", key)
    assert signature.signed_digest(signature.statement(bundle)) == digest.digest(str(model))


def _args(bundle: Path, model: Path, key: Path, pinned: str) -> list[str]:
    return ["--method", "key", f"--public-key={key / 'key.pub'}", "--bundle", str(bundle), "--digest", pinned,
            "--model", str(model)]


def test_main_accepts_the_pinned_signed_bytes_and_refuses_another_pin(key, tmp_path, capsys):
    model = _model_dir(tmp_path)
    (tmp_path / "delivered").mkdir()
    _sign(model, tmp_path / "delivered" / "model.sig", key)
    pinned = digest.digest(str(model))
    assert signature.main(_args(tmp_path / "delivered", model, key, pinned)) == 0
    assert f"{pinned} signed (key) ok" in capsys.readouterr().out
    other = "sha256:" + "0" * 64
    assert signature.main(_args(tmp_path / "delivered", model, key, other)) == 1
    err = capsys.readouterr().err
    assert f"the bundle signs other bytes: it signs {pinned}, the pinned digest is {other}" in err
    assert "refusing to start" in err


def _envelope(statement: dict, payload_type: str = signature.PAYLOAD_TYPE) -> dict:
    return {"dsseEnvelope": {"payloadType": payload_type,
                             "payload": base64.b64encode(json.dumps(statement).encode()).decode()}}


@pytest.mark.parametrize("make, reason", [
    (lambda b: b"{\"a\": 1, \"a\": 2}", "duplicate key 'a'"),
    (lambda b: b"{\"dsseEnvelope\": ", "is not JSON"),
    (lambda b: b"[]", "is not a JSON object"),
    (lambda b: b"{\"x\": NaN}", "NaN is not JSON"),
    (lambda b: b" " * (signature.MAX_BUNDLE + 1), "larger than"),
    (lambda b: json.dumps({"verificationMaterial": {}}).encode(), "no DSSE envelope"),
    (lambda b: json.dumps(_envelope(b, "application/json")).encode(), "payload type is 'application/json'"),
    (lambda b: json.dumps(_envelope({**b, "predicateType": "https://slsa.dev/provenance/v1"})).encode(),
     "not a model-signing statement"),
    (lambda b: json.dumps(_envelope({**b, "predicate": {**b["predicate"], "resources": []}})).encode(),
     "lists no signed files"),
])
def test_a_malformed_bundle_is_refused(key, tmp_path, capsys, make, reason):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"pickled")
    good = signature.statement(_sign(model, tmp_path / "good.sig", key))
    (tmp_path / "delivered").mkdir()
    (tmp_path / "delivered" / "model.sig").write_bytes(make(good))
    assert signature.main(_args(tmp_path / "delivered", model, key, digest.digest(str(model)))) == 1
    assert reason in capsys.readouterr().err


def test_a_sharded_bundle_cannot_be_compared_with_the_pin(key, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"pickled")
    _sign(model, tmp_path / "model.sig", key, shards=True)
    assert signature.main(_args(tmp_path / "model.sig", model, key, digest.digest(str(model)))) == 1
    assert "only per-file sha256 (the default) can be compared" in capsys.readouterr().err


def test_what_was_delivered_as_the_bundle(key, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"pickled")
    _sign(model, tmp_path / "model.sig", key)
    pinned = digest.digest(str(model))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert signature.main(_args(empty, model, key, pinned)) == 1
    assert "no signature bundle was delivered" in capsys.readouterr().err
    link = tmp_path / "link"
    link.mkdir()
    (link / "model.sig").symlink_to(tmp_path / "model.sig")
    assert signature.main(_args(link, model, key, pinned)) == 1
    assert "expected one bundle file, found model.sig" in capsys.readouterr().err
    two = tmp_path / "two"
    two.mkdir()
    (two / "model.sig").write_bytes((tmp_path / "model.sig").read_bytes())
    assert signature.main(_args(two, model, key, pinned)) == 0  # the neighbour: exactly one file
    (two / "extra.sig").write_text("{}")
    assert signature.main(_args(two, model, key, pinned)) == 1
    assert "found extra.sig, model.sig" in capsys.readouterr().err
