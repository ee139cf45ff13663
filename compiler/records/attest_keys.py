"""Attestation keys: the Ed25519 signing key (`--attest-key FILE`, `MLSPEC_ATTEST_KEY`,
`mlspec attest --key FILE`) and the public keys the platform file trusts
(`spec.trust.attestationKeys`). Ed25519 signatures are deterministic, so a signed output
is byte-identical on every machine.

A signature's `keyid` is the hex sha256 of the public key's DER SubjectPublicKeyInfo.
`cryptography` is imported here only, and only when a key or trusted keys are configured.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Any

from mlspec.files import safepath
from mlspec.files.errors import Diagnostic, MlspecError

ENV = "MLSPEC_ATTEST_KEY"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_KEY_BYTES = 64 * 1024


@dataclass(frozen=True)
class TrustedKey:
    name: str
    keyid: str
    pem: str


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def keyid(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


class Signer:
    """An Ed25519 private key read from a PEM file: `sign(pae)` gives a DSSE signature."""

    def __init__(self, pem: bytes, source: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise MlspecError([Diagnostic(source, 1, 1, f"not an unencrypted PEM private key: {exc}")]) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise MlspecError([Diagnostic(source, 1, 1, f"the attestation key is a {type(key).__name__.lstrip('_')}, "
                                          "not an Ed25519 key (Ed25519 signatures are deterministic: "
                                          "`openssl genpkey -algorithm ed25519`)")])
        self._key = key
        self.keyid = keyid(key.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def public_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_bytes(path: str) -> bytes:
    """A private key file's bytes: never through a link, bounded, and refused when others
    may read it (mode & 0o077), as ssh refuses a private key anyone can read."""
    root, rel = safepath.named(path)
    try:
        directory, name = safepath.parent_and_name(root, rel)
        with directory:
            kind = directory.kind(name)
            if kind is None:
                raise FileNotFoundError(path)
            if kind == "file":
                mode = os.stat(name, dir_fd=directory.fd, follow_symlinks=False).st_mode
                if stat.S_IMODE(mode) & 0o077:
                    raise MlspecError([Diagnostic(path, 1, 1, f"the attestation key is readable by others (mode "
                                                  f"{stat.S_IMODE(mode):04o}): `chmod 600` it")])
            return directory.read(name, MAX_KEY_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        raise MlspecError([Diagnostic(path, 1, 1, "no such attestation key file")]) from None
    except OSError as exc:
        raise MlspecError([Diagnostic(path, 1, 1, f"cannot read the attestation key: {exc.strerror}")]) from None


def signer(path: str | None) -> Signer | None:
    """The signer of the key file `path`; None without one (no signing). The CLI takes
    `path` from `--attest-key`/`--key` or `$MLSPEC_ATTEST_KEY`."""
    return Signer(key_bytes(path), path) if path else None


def trusted(keys: list[tuple[str, str, tuple[str, int, int]]]) -> dict[str, TrustedKey]:
    """`{keyid: TrustedKey}` of the platform file's `(name, publicKey PEM, where)` entries;
    a key that is not an Ed25519 public key is an error at its entry."""
    if not keys:
        return {}
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    out: dict[str, TrustedKey] = {}
    problems = []
    for name, pem, (source, line, col) in keys:
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except (ValueError, TypeError) as exc:
            problems.append(Diagnostic(source, line, col, f"attestation key {name!r} is not a PEM public key: {exc}"))
            continue
        if not isinstance(key, ed25519.Ed25519PublicKey):
            problems.append(Diagnostic(source, line, col, f"attestation key {name!r} is not an Ed25519 public key"))
            continue
        out[keyid(key)] = TrustedKey(name, keyid(key), pem)
    if problems:
        raise MlspecError(problems)
    return out


def check_signatures(envelope: Any, keys: dict[str, TrustedKey]) -> str | None:
    """Why `envelope` (`attest.Envelope`, with signatures) is not signed by a trusted key,
    or None when every signature verifies and at least one is by a trusted key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        key = keys.get(signature["keyid"])
        if key is None:
            return (f"line {envelope.line} of its attestation is signed by key {signature['keyid'][:16]}…, which the "
                    "platform file does not list in `spec.trust.attestationKeys`")
        public = serialization.load_pem_public_key(key.pem.encode())
        assert isinstance(public, ed25519.Ed25519PublicKey)  # `trusted` admits Ed25519 keys only
        try:
            public.verify(base64.b64decode(signature["sig"], validate=True), message)
        except (InvalidSignature, ValueError):
            return (f"line {envelope.line} of its attestation carries a signature of key {key.name!r} that does not "
                    "verify (the payload or the signature was changed)")
    return None
