"""The signature check before a server or evaluator starts (DESIGN.md, *Trust*).

`mlspec build` ships this file verbatim in the `<name>-runtime` and `<name>-gate`
ConfigMaps when an artifact carries `signature`; the verifier image (Python with the
`model-signing` package, OpenSSF Model Signing) runs it as an init container after
`digest.py --verify`:

    python3 signature.py --method key --public-key=KEY --bundle DIR --digest D --model PATH

It refuses (exit 1, the reason on stderr), so the pod never starts, when:
- no bundle was delivered, or it is not an OMS bundle (size-capped, strict JSON);
- the digest the bundle signs is not the pinned digest `D` (for a file, the signed
  digest of `.`; for a directory, the SHA-256 of the `sha256sum` manifest rebuilt
  from the signed entries): a valid signature over other bytes is refused;
- the model-signing library does not verify the bundle over the delivered bytes with
  the given key, certificate chain or Sigstore trusted root;
- `certificate`: the signing certificate does not name `--identity` (checked here:
  the library checks the chain only).

The standard library at module level; `model_signing` (and `cryptography`, which it
needs) are imported inside `main`, so mlspec itself can import this module.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pathlib
import stat
import sys
from typing import Any, Dict, List, Optional, Sequence

MAX_BUNDLE = 16 << 20  # an OMS bundle is a few KiB, plus one line per file
STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE = "https://model_signing/signature/v1.0"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


class SignatureError(Exception):
    """The bundle cannot vouch for the pinned bytes (exit 1)."""


def _strict_object(pairs: List[Any]) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise SignatureError(f"duplicate key {key!r} in the bundle")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise SignatureError(f"{name} is not JSON")


def _json(data: bytes, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=_strict_object, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SignatureError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SignatureError(f"{what} is not a JSON object")
    return value


def bundle_file(path: str) -> str:
    """The bundle delivered at `path`: the file itself, or the one regular file a fetch
    or copy step put in that directory."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        raise SignatureError(f"no signature bundle was delivered at {path}: {exc.strerror}") from None
    if stat.S_ISREG(mode):
        return path
    if not stat.S_ISDIR(mode):
        raise SignatureError(f"{path}: the bundle is not a regular file")
    with os.scandir(path) as entries:
        names = sorted(e.name for e in entries)
    if not names:
        raise SignatureError(f"no signature bundle was delivered at {path}")
    if len(names) != 1 or not stat.S_ISREG(os.lstat(os.path.join(path, names[0])).st_mode):
        raise SignatureError(f"{path}: expected one bundle file, found {', '.join(names)}")
    return os.path.join(path, names[0])


def read_bundle(path: str) -> Dict[str, Any]:
    """The bundle as JSON, at most MAX_BUNDLE bytes, no symlink."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_BUNDLE + 1)
    if len(data) > MAX_BUNDLE:
        raise SignatureError(f"{path}: the bundle is larger than {MAX_BUNDLE} bytes")
    return _json(data, f"{path}: the bundle")


def statement(bundle: Dict[str, Any]) -> Dict[str, Any]:
    """The in-toto statement the bundle's DSSE envelope carries (not yet verified)."""
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), str):
        raise SignatureError("the bundle has no DSSE envelope (`dsseEnvelope.payload`): not an OMS bundle")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureError(f"the envelope's payload type is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}")
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
    except ValueError:
        raise SignatureError("the envelope's payload is not base64") from None
    found = _json(payload, "the envelope's payload")
    if found.get("_type") != STATEMENT or found.get("predicateType") != PREDICATE:
        raise SignatureError(f"the payload is not a model-signing statement (type {found.get('_type')!r}, "
                             f"predicate {found.get('predicateType')!r})")
    return found


def signed_digest(found: Dict[str, Any]) -> str:
    """The artifact digest (DESIGN.md) of the bytes the statement signs: a single file's
    signed digest of `.`, or the SHA-256 of the `sha256sum` manifest of the signed files."""
    predicate = found.get("predicate")
    serialization = predicate.get("serialization") if isinstance(predicate, dict) else None
    resources = predicate.get("resources") if isinstance(predicate, dict) else None
    if not isinstance(serialization, dict) or not isinstance(resources, list) or not resources:
        raise SignatureError("the statement lists no signed files")
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise SignatureError(f"the bundle hashes by {serialization.get('method')!r} with "
                             f"{serialization.get('hash_type')!r}: only per-file sha256 (the default) can be compared "
                             "with the pinned digest")
    entries = []
    for item in resources:
        name, digest = (item.get("name"), item.get("digest")) if isinstance(item, dict) else (None, None)
        if (not isinstance(name, str) or not isinstance(digest, str) or item.get("algorithm") != "sha256"
                or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
            raise SignatureError(f"malformed signed entry {item!r}")
        if "\n" in name or "\\" in name:
            raise SignatureError(f"signed entry {name!r}: a name with a newline or a backslash")
        entries.append((name.encode("utf-8", "surrogateescape"), digest))
    if len(entries) == 1 and entries[0][0] == b".":
        return "sha256:" + entries[0][1]
    entries.sort()
    manifest = b"".join(d.encode() + b"  " + n + b"\n" for n, d in entries)
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def model_path(path: str, found: Dict[str, Any]) -> str:
    """What the signature covers: a single signed file (`.`) is the one file the fetch
    step put in the delivered directory; otherwise the directory itself."""
    resources = found["predicate"]["resources"]
    if len(resources) == 1 and resources[0]["name"] == "." and stat.S_ISDIR(os.lstat(path).st_mode):
        names = sorted(os.listdir(path))
        if len(names) != 1:
            raise SignatureError(f"the bundle signs one file; {path} holds {len(names)} entries")
        return os.path.join(path, names[0])
    return path


def leaf_identities(bundle: Dict[str, Any]) -> List[str]:
    """The subject alternative names (e-mail, URI, DNS) of the bundle's signing certificate."""
    from cryptography import x509  # the verifier image's; model-signing depends on it

    try:
        raw = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
        leaf = x509.load_der_x509_certificate(base64.b64decode(raw))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SignatureError(f"the bundle carries no signing certificate ({exc})") from None
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found: List[str] = []
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
        found += [str(v) for v in names.get_values_for_type(kind)]
    return found


def check(args: argparse.Namespace) -> str:
    """None of the refusals applies: the line to log. Raises SignatureError otherwise."""
    bundle_path = bundle_file(args.bundle)
    bundle = read_bundle(bundle_path)
    found = statement(bundle)
    signed = signed_digest(found)
    if signed != args.digest:
        raise SignatureError(f"the bundle signs other bytes: it signs {signed}, the pinned digest is {args.digest}")
    target = model_path(args.model, found)

    import model_signing  # the verifier image's; never imported by mlspec itself

    config = model_signing.verifying.Config()  # type: ignore[no-untyped-call, unused-ignore]
    try:
        if args.method == "key":
            config.use_elliptic_key_verifier(public_key=args.public_key)
        elif args.method == "certificate":
            config.use_certificate_verifier(certificate_chain=[args.certificate_chain])
        else:
            config.use_sigstore_verifier(identity=args.identity, oidc_issuer=args.issuer,
                                         trust_config=pathlib.Path(args.trusted_root))
    except Exception as exc:  # a key file that is missing, not PEM, not an EC key, a root that does not parse
        detail = str(exc).strip() or type(exc).__name__
        raise SignatureError(f"cannot read the {args.method} verification material: {type(exc).__name__}: "
                             f"{detail}") from None
    try:
        config.verify(target, bundle_path)
    except Exception as exc:  # the library's errors are of many types; each one is a refusal
        detail = str(exc).strip() or "the signature does not match the envelope's payload"
        raise SignatureError(f"the bundle does not verify over {target} with the {args.method} "
                             f"given: {type(exc).__name__}: {detail}") from None
    if args.method == "certificate":
        names = leaf_identities(bundle)
        if args.identity not in names:
            raise SignatureError(f"the signing certificate names {', '.join(names) or 'no identity'}, "
                                 f"not {args.identity}")
    who = f" by {args.identity}" if args.identity else ""
    return f"{args.model}: {args.digest} signed{who} ({args.method}) ok"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="signature.py", description=__doc__.split("\n")[0])
    parser.add_argument("--method", choices=("key", "certificate", "sigstore"), required=True)
    parser.add_argument("--public-key", help="PEM public key (key)")
    parser.add_argument("--certificate-chain", help="PEM CA and intermediates (certificate)")
    parser.add_argument("--trusted-root", help="Sigstore trust configuration JSON (sigstore)")
    parser.add_argument("--identity", help="the signer identity (certificate, sigstore)")
    parser.add_argument("--issuer", help="the OIDC issuer (sigstore)")
    parser.add_argument("--bundle", required=True, help="the delivered bundle (a file, or a directory holding one)")
    parser.add_argument("--digest", required=True, help="the pinned artifact digest")
    parser.add_argument("--model", required=True, help="the delivered, digest-verified artifact")
    args = parser.parse_args(argv)
    needs = {"key": ("public_key",), "certificate": ("certificate_chain", "identity"),
             "sigstore": ("trusted_root", "identity", "issuer")}[args.method]
    missing = [f"--{n.replace('_', '-')}" for n in needs if not getattr(args, n)]
    if missing:
        parser.error(f"--method {args.method} needs {', '.join(missing)}")
    try:
        line = check(args)
    except (SignatureError, OSError) as exc:
        print(f"mlspec verify-signature: {exc}", file=sys.stderr, flush=True)
        print("mlspec verify-signature: refusing to start: the artifact's signature does not vouch for the "
              "pinned bytes", file=sys.stderr, flush=True)
        return 1
    print(f"mlspec verify-signature: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
