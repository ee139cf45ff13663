"""`model.artifact.signature`: an OpenSSF Model Signing (OMS) bundle over the
artifact, checked in every pod that uses the artifact (DESIGN.md, *Trust*).

Key material is referenced (a ConfigMap or a Secret key), never inlined: every
reference is a Kubernetes object name and key, so a PEM in the spec is a positioned
error. The fields map one to one onto KServe's proposed `verification` block
(RFC #5789; docs/signing.md shows the mapping). `problems` holds the cross-field
rules (the method's block present, the others absent, the verifier image given).
"""

from __future__ import annotations

from typing import Annotated, Iterator, Literal

from pydantic import AfterValidator, ConfigDict, Field

from mlspec.spec.fields import DnsLabel, PinnedImage, Strict, _matching

Path = tuple[str | int, ...]

# A ConfigMap / Secret data key (Kubernetes: `[-._a-zA-Z0-9]+`, at most 253).
CONFIG_KEY_RE = r"^[-._a-zA-Z0-9]{1,253}$"
# A signer identity (an e-mail, a URI, a DNS name as in the certificate's SAN): one printable line.
IDENTITY_RE = r"^[^\s\x00-\x1f\x7f-]([^\s\x00-\x1f\x7f]{0,510}[^\s\x00-\x1f\x7f])?$"
ISSUER_RE = r"^https://[^\s]+$"
PEM = "-----BEGIN"
METHODS = ("key", "certificate", "sigstore")


def _no_pem(value: str) -> str:
    if PEM in value:
        raise ValueError("key material is referenced, never inlined: put the PEM in a ConfigMap (public keys, "
                         "certificates) or a Secret and name it here")
    return value


ConfigKey = Annotated[
    str,
    AfterValidator(_no_pem),
    _matching(CONFIG_KEY_RE, "a ConfigMap or Secret key", " (letters, digits, `-`, `_`, `.`; key material is "
              "referenced, never inlined)"),
    Field(json_schema_extra={"pattern": CONFIG_KEY_RE}),
]
Identity = Annotated[
    str,
    AfterValidator(_no_pem),
    _matching(IDENTITY_RE, "a signer identity", " (one line without blanks, e.g. `releases@acme.example` or a URI)"),
    Field(json_schema_extra={"pattern": IDENTITY_RE}),
]


class KeyRef(Strict):
    """A data key of a ConfigMap or of a Secret (exactly one of `configMap`, `secretName`)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["configMap"]}, {"required": ["secretName"]}]})

    config_map: DnsLabel | None = Field(default=None, description="Name of the ConfigMap holding the key.")
    # `secretName` (as in a Secret volume), not `secret`: the credential scan reads a value
    # under a key named `secret` as a written-out secret.
    secret_name: DnsLabel | None = Field(default=None, description="Name of the Secret holding the key.")
    key: ConfigKey = Field(description="The data key holding the PEM.", examples=["risk.pub"])


class ConfigMapKeyRef(Strict):
    config_map: DnsLabel = Field(description="Name of the ConfigMap.")
    key: ConfigKey = Field(description="The data key.")


class CertificateVerification(Strict):
    certificate_chain: ConfigMapKeyRef = Field(
        description="PEM certificates (the CA and any intermediates) the signing certificate must chain to.")
    identity: Identity = Field(
        description="The identity the signing (leaf) certificate must name in its subject alternative names "
        "(e-mail, URI or DNS name); checked by mlspec's verifier, not left to the chain alone.",
        examples=["releases@acme.example"])


class SigstoreVerification(Strict):
    identity: Identity = Field(description="The signer identity of the Fulcio certificate.")
    issuer: Annotated[str, _matching(ISSUER_RE, "an OIDC issuer URL", " (`https://...`)"),
                      Field(json_schema_extra={"pattern": ISSUER_RE})] = Field(
        description="The OIDC issuer of that identity.", examples=["https://token.actions.githubusercontent.com"])
    trusted_root: ConfigMapKeyRef = Field(
        description="The Sigstore trust configuration (a `ClientTrustConfig` JSON): verification is offline, "
        "the pod never fetches trust material.")


class Signature(Strict):
    """An OMS bundle and how to verify it; the pods refuse to start on anything else."""

    bundle: Annotated[str, _matching(r"^(s3|gs|https|hf|pvc)://[^\s]+$", "a bundle location",
                                     " (`s3://`, `gs://`, `https://`, `hf://` or `pvc://CLAIM/path`)"),
                      Field(json_schema_extra={"pattern": r"^(s3|gs|https|hf|pvc)://[^\s]+$"})] = Field(
        description="Where the OMS bundle (the `model_signing` tool's output) is; fetched like the artifact.",
        examples=["s3://models/fraud/2026.11.3.sig"])
    method: Literal["key", "certificate", "sigstore"] = Field(
        description="`key` (an elliptic-curve public key), `certificate` (an X.509 chain plus the signer's "
        "identity) or `sigstore` (keyless, with an offline trusted root).")
    public_key: KeyRef | None = Field(default=None, description="`method: key`: the PEM public key.")
    certificate: CertificateVerification | None = Field(default=None, description="`method: certificate`.")
    sigstore: SigstoreVerification | None = Field(default=None, description="`method: sigstore`.")
    verifier_image: PinnedImage | None = Field(
        default=None, description="Image that runs the check (`python3` with the `model-signing` package), pinned "
        "by digest. Usually set once in the platform file's `spec.defaults.model.artifact.signature`.")


_BLOCKS = {"key": ("publicKey", "public_key"), "certificate": ("certificate", "certificate"),
           "sigstore": ("sigstore", "sigstore")}


def problems(signature: Signature, at: Path) -> Iterator[tuple[Path, str]]:
    """The block of the chosen method is given, the others are not; one key source;
    a verifier image."""
    for method, (alias, attr) in _BLOCKS.items():
        given = getattr(signature, attr) is not None
        if method == signature.method and not given:
            yield at + ("method",), f"`method: {method}` needs `{alias}`"
        elif method != signature.method and given:
            yield at + (alias,), f"`{alias}` belongs to `method: {method}`, not `method: {signature.method}`"
    ref = signature.public_key
    if ref is not None and (ref.config_map is None) == (ref.secret_name is None):
        yield at + ("publicKey",), "`publicKey` names exactly one of `configMap` or `secretName`"
    if signature.verifier_image is None:
        yield at, ("`verifierImage` is required: the image that runs the model-signing check, pinned by digest "
                   "(usually the platform file's `spec.defaults.model.artifact.signature.verifierImage`)")
