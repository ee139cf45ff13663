"""The spec's field types: patterns, validators and the strict base model.

Shared by the spec's sections (`model`, `model_rollout`) and by the other inputs that
reuse them (records, the platform file), so each rule is written once.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from mlspec.files.layout import DNS_LABEL_RE as DNS_LABEL_RE  # re-exported: the field types' regex

API_VERSION = "mlspec.dev/v1alpha1"
SCHEMA_URL = "https://mlspec.dev/schemas/v1alpha1/mlspec.schema.json"
KIND = "ModelDeployment"

DIGEST_RE = r"^sha256:[a-f0-9]{64}$"
LABEL_VALUE_RE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
LABEL_KEY_RE = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
IMAGE_RE = r"^[a-z0-9][a-z0-9._/:-]*@sha256:[a-f0-9]{64}$"
URI_RE = r"^[a-z][a-z0-9+.-]*://[^\s]+$"
COMMIT_RE = r"^[a-f0-9]{40}([a-f0-9]{24})?$"
# At most 999999h + 9999999m + 999999999s (about 1.44 million hours): below Go's
# time.Duration (2,562,047h), which Argo Rollouts parses pauses and intervals into, and
# far below int64 `activeDeadlineSeconds`.
DURATION_RE = r"^([0-9]{1,6}h([0-9]{1,7}m)?([0-9]{1,9}s)?|[0-9]{1,7}m([0-9]{1,9}s)?|[0-9]{1,9}s)$"
METRIC_RE = r"^[A-Za-z_][A-Za-z0-9_.:-]*$"
QUANTITY_RE = r"^[+]?([0-9]+|[0-9]+\.[0-9]*|\.[0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][+-]?[0-9]+)?$"
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A record: one printable line, no surrounding blanks. Data and pipeline versions are
# whatever the data system says (ISO-8601 timestamps, 64-hex lakeFS commits, S3
# version ids, semver with build metadata): kept exact, never used as a label.
RECORD_RE = r"^[^\s\x00-\x1f\x7f-\x9f\u2028\u2029]([^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029])?$"
RECORD_MAX = 256

# Where artifacts come from (DESIGN.md, "Delivering exactly the pinned bytes").
REMOTE = ("s3", "gs", "https", "hf")
SCHEMES = ("oci", *REMOTE, "pvc")
_OCI_RE = r"oci://([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9][a-z0-9._/-]*@sha256:[a-f0-9]{64}"
_PVC_RE = r"pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/(?!/)(?!(.*/)?\.\.(/|$))[^\s]+"
ARTIFACT_URI_RE = rf"^({_OCI_RE}|(s3|gs|https|hf)://[^\s]+|{_PVC_RE})$"

RUNTIMES = ("mlserver", "triton", "torchserve", "custom")
FORMATS = ("sklearn", "xgboost", "lightgbm", "mlflow", "huggingface", "onnx", "pytorch", "tensorflow", "triton", "custom")


def _matching(pattern: str, what: str, hint: str = "") -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}{hint}")
        return value

    return AfterValidator(check)


def _pinned_image(value: str) -> str:
    if re.fullmatch(IMAGE_RE, value):
        return value
    if "@" not in value:
        raise ValueError(
            f"image {value!r} is not pinned by digest: a tag is mutable, so the same spec could "
            "deploy different bits and break reproducibility; use `registry/repo@sha256:<64 hex>`"
        )
    raise ValueError(f"image {value!r} has a malformed digest; expected `registry/repo@sha256:<64 hex>`")


# Kubernetes: "no quantity may represent a number greater than 2^63-1 in magnitude". Checked
# here, once, so no later stage multiplies a `1e99999999` (a spec's few bytes, a number of a
# hundred million digits) by a pod count.
MAX_QUANTITY = Decimal(2**63 - 1)


def _quantity(value: str | int | float) -> str:
    text = str(value)
    if not re.fullmatch(QUANTITY_RE, text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)")
    if quantity_value(text) > MAX_QUANTITY:
        raise ValueError(f"{text!r} is larger than any Kubernetes quantity (at most 2^63-1)")
    return text


_SUFFIXES: dict[str, Decimal | int] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def quantity_value(text: str) -> Decimal:
    """The number a Kubernetes quantity stands for (`500m` -> 0.5, `2Gi` -> 2147483648)."""
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E"):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(text)  # plain or with an exponent (`1e3`)


def artifact_uri_problem(uri: str) -> str | None:
    """Why `uri` is not a deliverable artifact location, or None."""
    if re.fullmatch(ARTIFACT_URI_RE, uri):
        return None
    supported = ", ".join(f"`{s}://`" for s in SCHEMES)
    if "://" not in uri:
        return f"expected `scheme://...` with one of the supported schemes: {supported}"
    scheme = uri.split("://", 1)[0]
    if scheme not in SCHEMES:
        return f"unsupported artifact scheme `{scheme}://`; supported: {supported}"
    if scheme == "oci":
        return ("an `oci://` artifact must be pinned by its manifest digest: "
                "`oci://REGISTRY/REPO@sha256:<64 hex>` (a tag is mutable)")
    if scheme == "pvc":
        return "expected `pvc://CLAIM/path`: a claim name, then a relative path inside the volume (no `..`)"
    return f"{uri!r} is not a `{scheme}://` location (no white space)"


def _artifact_uri(value: str) -> str:
    problem = artifact_uri_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _dns_label(value: str) -> str:
    if len(value) > 63:
        raise ValueError(f"{value!r} is {len(value)} characters; a DNS-1123 label has at most 63")
    if not re.fullmatch(DNS_LABEL_RE, value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and `-`, starting and ending alphanumeric)")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(LABEL_VALUE_RE, value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes label value (at most 63 of `A-Za-z0-9-_.`, alphanumeric at both ends)"
        )
    return value


def _label_key(value: str) -> str:
    name = value.rsplit("/", 1)[-1]
    if len(name) > 63 or len(value) > 317 or not re.fullmatch(LABEL_KEY_RE, value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label key")
    return value


Digest = Annotated[
    str,
    _matching(DIGEST_RE, "a digest", " (expected `sha256:` followed by 64 lowercase hex digits)"),
    Field(json_schema_extra={"pattern": DIGEST_RE}, examples=["sha256:" + "0" * 64]),
]
PinnedImage = Annotated[
    str,
    AfterValidator(_pinned_image),
    Field(json_schema_extra={"pattern": IMAGE_RE}, examples=["registry.example.com/team/image@sha256:" + "0" * 64]),
]
DnsLabel = Annotated[str, AfterValidator(_dns_label), Field(json_schema_extra={"pattern": DNS_LABEL_RE}, max_length=63)]
Version = Annotated[
    str,
    Field(min_length=1, max_length=63, json_schema_extra={"pattern": LABEL_VALUE_RE}),
    AfterValidator(_label_value),
]
Record = Annotated[
    str,
    Field(min_length=1, max_length=RECORD_MAX, json_schema_extra={"pattern": RECORD_RE}),
    _matching(RECORD_RE, "a version record",
              " (one printable line without control characters or surrounding blanks)"),
]
ArtifactUri = Annotated[
    str,
    AfterValidator(_artifact_uri),
    Field(json_schema_extra={"pattern": ARTIFACT_URI_RE}),
]
Uri = Annotated[
    str,
    _matching(URI_RE, "a URI", " (expected `scheme://...`, e.g. `s3://bucket/path`)"),
    Field(json_schema_extra={"pattern": URI_RE}),
]
Duration = Annotated[
    str,
    _matching(DURATION_RE, "a duration", " (expected e.g. `30s`, `10m`, `1h30m`; at most 999999h, 9999999m, 999999999s)"),
    Field(json_schema_extra={"pattern": DURATION_RE}, examples=["10m"]),
]
Quantity = Annotated[
    str | int | float,
    AfterValidator(_quantity),
    Field(json_schema_extra={"anyOf": [{"type": "string", "pattern": QUANTITY_RE},
                                       {"type": "number", "minimum": 0, "maximum": 2**63 - 1}]}),
]
LabelKey = Annotated[str, AfterValidator(_label_key), Field(json_schema_extra={"pattern": LABEL_KEY_RE})]
LabelValue = Annotated[str, AfterValidator(_label_value), Field(max_length=63, json_schema_extra={"pattern": LABEL_VALUE_RE})]
MetricName = Annotated[
    str,
    _matching(METRIC_RE, "a metric name", " (letters, digits, `_ . : -`, not starting with a digit)"),
    Field(json_schema_extra={"pattern": METRIC_RE}),
]


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=False,  # the YAML contract is camelCase only
        protected_namespaces=(),
        frozen=True,
        # `.nan` / `.inf` are YAML floats: a NaN threshold never compares true, so a gate
        # with one could never pass (or never fail); they are not numbers a spec means.
        allow_inf_nan=False,
        # Build validators once, for the whole tree, on first use (not one per class at import).
        defer_build=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_empty_values(cls, value: Any) -> Any:
        # `max:` with nothing after it is YAML null: almost always a slip, so an
        # optional field is either given a value or left out (defaults are not validated).
        if value is None:
            raise ValueError("empty value (YAML null): give a value or remove the key")
        return value


PERCENT_RE = r"^(0|[1-9][0-9]{0,3})%$"
# An int or a percentage, as Kubernetes' IntOrString; "25" without `%` is refused (Argo reads it as a percentage).
IntOrPercent = Annotated[
    Annotated[int, Field(ge=0, le=100000)] | Annotated[str, _matching(PERCENT_RE, "a percentage", " (expected e.g. `25%`)"),
                    Field(json_schema_extra={"pattern": PERCENT_RE})],
    Field(examples=[0, 1, "25%"]),
]
