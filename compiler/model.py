"""Stage 2: the spec as pydantic models. The JSON Schema is generated from here.

Field names are camelCase in YAML (the public contract in DESIGN.md) and
snake_case in Python. Every model forbids unknown keys and is strict: YAML's
type guesses (`1.10` -> 1.1, `no` -> False) are errors, never coerced.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from mlspec.loader import MAX_ENVIRONMENTS

API_VERSION = "mlspec.dev/v1alpha1"
SCHEMA_URL = "https://mlspec.dev/schemas/v1alpha1/mlspec.schema.json"
KIND = "ModelDeployment"

DIGEST_RE = r"^sha256:[a-f0-9]{64}$"
DNS_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
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


def _quantity(value: str | int | float) -> str:
    text = str(value)
    if not re.fullmatch(QUANTITY_RE, text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)")
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
                                       {"type": "number", "minimum": 0}]}),
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


# --- metadata --------------------------------------------------------------


class Metadata(Strict):
    name: DnsLabel = Field(
        description="Name of the model deployment: a DNS-1123 label of at most 47 characters. Every emitted "
        "object is named after it (`<name>-stable`, `<name>-offline-eval`, `<name>-eval-<hash>`, ...) and "
        "those names must fit Kubernetes' 63.",
        examples=["fraud-detector"],
        json_schema_extra={"maxLength": 47},
    )
    namespace: DnsLabel | None = Field(
        default=None,
        description="Kubernetes namespace of every emitted object. Omit to let Argo CD / kustomize decide.",
    )
    owner: str | None = Field(
        default=None, description="Team or person accountable for the model (recorded as an annotation).",
        examples=["risk-ml@acme.example"],
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Extra labels added to every emitted object and pod."
    )
    annotations: dict[LabelKey, str] = Field(
        default_factory=dict, description="Extra annotations added to every emitted object."
    )


# --- model -----------------------------------------------------------------


class Artifact(Strict):
    uri: ArtifactUri = Field(
        description="Where the artifact is: `oci://REGISTRY/REPO@sha256:…` (a Kubernetes image volume), `s3://`, `gs://`, "
        "`https://`, `hf://` (fetched by `serving.storageInitializer`), or `pvc://CLAIM/path` (mounted read-only).",
        examples=["s3://models/fraud/2026.11.3/model.onnx"],
    )
    digest: Digest = Field(
        description="Content digest of the artifact as delivered (`mlspec digest PATH`: a file's SHA-256, or the "
        "SHA-256 of a directory's `sha256sum` manifest). Every pod checks it before the server or evaluator starts.")


class ModelSection(Strict):
    version: Version = Field(
        description="Release id of this model, a string (quote it: `\"1.10\"`, never a number). Used as the "
        "`app.kubernetes.io/version` label, so at most 63 of `A-Za-z0-9-_.`.",
        examples=["2026.11.3"],
    )
    artifact: Artifact = Field(description="The trained model file or directory, pinned by digest.")
    format: Literal["sklearn", "xgboost", "lightgbm", "mlflow", "huggingface", "onnx", "pytorch", "tensorflow",
                    "triton", "custom"] = Field(
        default="custom",
        description="How the runtime loads the artifact. `mlserver`: `sklearn`, `xgboost`, `lightgbm`, `mlflow`, "
        "`huggingface` pick the MLServer implementation (`custom`: set `MLSERVER_MODEL_IMPLEMENTATION` in "
        "`serving.env`). `triton`: `triton` (the artifact is a Triton model repository). `torchserve`: `pytorch` "
        "(the artifact is a model store holding `<modelName>.mar`). `custom` runtimes read `MLSPEC_MODEL_PATH`.",
    )


# --- training ----------------------------------------------------------------


class Code(Strict):
    repo: str = Field(min_length=1, description="Repository of the training code.", examples=["https://git.example.com/team/model"])
    commit: Annotated[
        str,
        _matching(COMMIT_RE, "a full commit id", " (40 or 64 lowercase hex digits; a branch or tag moves)"),
        Field(json_schema_extra={"pattern": COMMIT_RE}),
    ] = Field(description="Full commit id of the training code (not a branch or tag: those move).")


class Data(Strict):
    uri: Uri = Field(description="Training data location.", examples=["s3://data/transactions"])
    version: Record = Field(
        description="Training data version, exactly as the data system names it: a DVC tag, a lakeFS commit, "
        "a Delta timestamp (`2026-11-20T00:00:00Z`), an S3 object version id. One printable line, at most 256 characters.",
        examples=["v42"],
    )
    digest: Digest | None = Field(default=None, description="Optional content hash of the training data snapshot.")


class TrainingEnvironment(Strict):
    image: PinnedImage = Field(description="Training container image, pinned by digest: the library versions the model was trained with.")
    lockfile_digest: Digest | None = Field(default=None, description="Digest of the dependency lockfile used in training.")
    accelerator: str | None = Field(default=None, description="Accelerator the model was trained on (recorded only).", examples=["nvidia-a100"])


class Training(Strict):
    run_id: str | None = Field(default=None, description="Experiment-tracker run id (recorded only).", examples=["mlflow:9f1c2d"])
    code: Code = Field(description="The training code, pinned to a commit.")
    data: Data = Field(description="The training data, pinned to a version.")
    seed: int = Field(ge=0, le=2**63 - 1, description="Random seed of the training run (an integer).", examples=[1234])
    environment: TrainingEnvironment = Field(description="The compute environment of the training run.")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Free-form hyperparameters, recorded in the lineage only."
    )


class Features(Strict):
    pipeline_version: Record = Field(description="Version of the feature pipeline the model expects (a record, e.g. `fp-17` or `3.2.0+build.7`).", examples=["fp-17"])
    schema_digest: Digest | None = Field(default=None, description="Digest of the feature schema; rollback refuses a silent mismatch.")


# --- serving ---------------------------------------------------------------


class Resources(Strict):
    requests: dict[str, Quantity] = Field(default_factory=dict, description="Resource requests, e.g. `{cpu: 500m, memory: 1Gi}`.")
    limits: dict[str, Quantity] = Field(default_factory=dict, description="Resource limits, e.g. `{cpu: \"2\", memory: 4Gi, nvidia.com/gpu: 1}`.")


class SecretKeyRef(Strict):
    name: DnsLabel = Field(description="Name of the Kubernetes Secret.")
    key: str = Field(min_length=1, description="Key inside the Secret.")


class EnvVar(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["value"]}, {"required": ["secretKeyRef"]}]})

    name: Annotated[str, _matching(ENV_NAME_RE, "an environment variable name"),
                    Field(json_schema_extra={"pattern": ENV_NAME_RE})] = Field(description="Variable name.")
    value: str | None = Field(default=None, description="Literal value (never a credential: use `secretKeyRef`).")
    secret_key_ref: SecretKeyRef | None = Field(default=None, description="Take the value from a Kubernetes Secret.")


class Toleration(Strict):
    key: str | None = Field(default=None, description="Taint key, e.g. `nvidia.com/gpu`.")
    operator: Literal["Equal", "Exists"] = Field(default="Equal", description="`Equal` or `Exists`.")
    value: str | None = Field(default=None, description="Taint value (with `Equal`).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(default=None, description="Taint effect.")


class StorageInitializer(Strict):
    image: PinnedImage = Field(
        description="Image that fetches `s3://`, `gs://`, `https://` and `hf://` artifacts into the pod (KServe's "
        "storage initializer is the reference: it is run as `IMAGE URI DEST`), pinned by digest.")
    service_account_name: DnsLabel | None = Field(
        default=None, description="Service account of the serving and evaluation pods, for workload identity "
        "(IRSA, GKE / Azure workload identity): no keys anywhere.")
    env: list[EnvVar] = Field(
        default_factory=list, description="Environment of the fetch step, e.g. `AWS_ENDPOINT_URL` as a value and keys "
        "as `secretKeyRef` (never values).")
    env_from_secret: DnsLabel | None = Field(
        default=None, description="A Secret whose keys all become environment variables of the fetch step "
        "(e.g. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).")


class PodUser(Strict):
    run_as_user: int = Field(ge=1, le=2**31 - 1, description="Numeric user id (never 0).")
    run_as_group: int = Field(ge=1, le=2**31 - 1, description="Numeric group id.")
    fs_group: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Group owning the pod's volumes. Default: `runAsGroup`.")


PERCENT_RE = r"^(0|[1-9][0-9]{0,3})%$"
# An int or a percentage, as Kubernetes' IntOrString; "25" without `%` is refused (Argo reads it as a percentage).
IntOrPercent = Annotated[
    Annotated[int, Field(ge=0, le=100000)] | Annotated[str, _matching(PERCENT_RE, "a percentage", " (expected e.g. `25%`)"),
                    Field(json_schema_extra={"pattern": PERCENT_RE})],
    Field(examples=[0, 1, "25%"]),
]


class DisruptionBudget(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["maxUnavailable"]}, {"required": ["minAvailable"]}]})

    max_unavailable: IntOrPercent | None = Field(default=None, description="Pods a voluntary disruption (a node "
                                                 "drain) may take at once (int or `N%`).")
    min_available: IntOrPercent | None = Field(default=None, description="Pods that must stay up (int or `N%`).")


class Serving(Strict):
    runtime: Literal["mlserver", "triton", "torchserve", "custom"] = Field(
        default="mlserver",
        description="Model server. `mlserver` (Seldon MLServer, V2 protocol), `triton` (NVIDIA Triton), "
        "`torchserve`, or `custom` (your image's own entrypoint; health on `healthPath`).",
    )
    image: PinnedImage = Field(description="Serving container image, pinned by digest.")
    port: int | None = Field(default=None, ge=1, le=65535, description="HTTP port. Default: 8000 for triton, 8080 otherwise.")
    replicas: int = Field(default=2, ge=0, le=10000, description="Pod count at 100% of the rollout.")
    resources: Resources | None = Field(
        default=None, description="Requests and limits. Default: requests cpu 500m / memory 1Gi, limits cpu 1 / memory 2Gi."
    )
    args: list[str] | None = Field(default=None, description="Container arguments; replaces the runtime's defaults.")
    env: list[EnvVar] = Field(default_factory=list, description="Extra environment variables for the serving container.")
    health_path: str | None = Field(
        default=None, pattern=r"^/", description="HTTP path of the readiness and liveness probes (default per runtime; `custom`: `/healthz`)."
    )
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="Node selector for serving pods (e.g. GPU nodes).")
    tolerations: list[Toleration] = Field(default_factory=list, description="Tolerations for serving pods (e.g. GPU taints).")
    model_name: DnsLabel | None = Field(
        default=None, description="Name of the model inside the server (MLServer model, Triton repository entry, "
        "TorchServe `.mar`), probed at `/v2/models/<modelName>/ready`. Default: `metadata.name`.")
    storage_initializer: StorageInitializer | None = Field(
        default=None, description="Fetches remote artifacts (needed for `s3://`, `gs://`, `https://`, `hf://`); "
        "used by the evaluation pods too.")
    security_context: PodUser | None = Field(
        default=None, description="User and group of every mlspec pod. Default: 1000/1000, the non-root user the "
        "official MLServer, Triton and TorchServe images are built for.")
    verify_image: PinnedImage | None = Field(
        default=None, description="Image that runs the digest check in serving pods (needs `python3`). Default: "
        "the serving image.")
    disruption_budget: DisruptionBudget | Literal[False] | None = Field(
        default=None, description="PodDisruptionBudget of the serving pods: `{maxUnavailable}` or `{minAvailable}`, "
        "or `false` for none. Default: `maxUnavailable: 1` with 2 or more replicas (none with fewer).")


# --- evaluation ------------------------------------------------------------


class Dataset(Strict):
    uri: Uri = Field(description="Pinned evaluation (holdout) dataset location. With `digest`, delivered and "
                     "verified like the model (same schemes), at `MLSPEC_DATASET_PATH`.")
    digest: Digest | None = Field(default=None, description="Content digest of the dataset (`mlspec digest PATH`): "
                                  "the evaluation pod fetches and checks it before the evaluator starts.")
    version: Record = Field(description="Evaluation dataset version, exactly as the data system names it (a record).", examples=["v42-holdout"])


class Threshold(Strict):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["min"]}, {"required": ["max"]}, {"required": ["maxDrop"]}]})

    metric: MetricName = Field(description="Name of a metric the evaluator writes to its metrics file.", examples=["auc"])
    min: float | None = Field(default=None, description="The candidate fails when the metric is below this value.")
    max: float | None = Field(default=None, description="The candidate fails when the metric is above this value.")
    max_drop: float | None = Field(
        default=None, ge=0,
        description="The candidate fails when the metric is lower than the baseline model's value by more than this "
        "(for higher-is-better metrics). Needs a baseline (`evaluation.baseline` or `rollback.previous`).",
    )


class Evaluation(Strict):
    image: PinnedImage = Field(description="Evaluator image, pinned by digest. It writes a flat JSON object of metrics.")
    command: list[str] | None = Field(default=None, description="Evaluator command (default: the image's entrypoint).", examples=[["python", "-m", "fraud.eval"]])
    args: list[str] | None = Field(default=None, description="Evaluator arguments.")
    dataset: Dataset = Field(description="The pinned evaluation dataset.")
    baseline: Record | None = Field(default=None, description="Release compared against by `maxDrop` (a record; recorded baselines are looked up by model version). Default: `rollback.previous.version`.")
    thresholds: list[Threshold] = Field(min_length=1, description="Quality bar; the candidate is gated on every entry.")
    gate_image: PinnedImage | None = Field(
        default=None, description="Image that runs mlspec's gate step (needs `python3`). Default: the evaluator image."
    )
    timeout: Duration = Field(default="1h", description="Deadline of the evaluation Job.")
    resources: Resources | None = Field(
        default=None, description="Evaluator requests and limits. Default: requests cpu 1 / memory 2Gi, limits cpu 2 / memory 4Gi."
    )


# --- rollout -----------------------------------------------------------------


class Step(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["setWeight"]}, {"required": ["pause"]}]})

    set_weight: int | None = Field(default=None, ge=0, le=100, description="Send this percentage of traffic to the canary.")
    pause: Duration | Literal["manual"] | None = Field(
        default=None, description="Wait this long (e.g. `10m`), or `manual` to wait for `kubectl argo rollouts promote`."
    )


class Prometheus(Strict):
    address: Uri = Field(description="Prometheus base URL.", examples=["http://prometheus.monitoring:9090"])


class OnlineMetric(Strict):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["min"]}, {"required": ["max"]}]})

    name: Annotated[str, _matching(DNS_LABEL_RE, "a metric name", " (lowercase letters, digits, `-`)"),
                    Field(json_schema_extra={"pattern": DNS_LABEL_RE})] = Field(
        description="Metric name in the AnalysisTemplate.", examples=["error-rate"]
    )
    query: str = Field(
        min_length=1,
        description="PromQL returning one value; passed verbatim. May reference `{{args.service-name}}`, "
        "`{{args.namespace}}`, `{{args.canary-hash}}`, `{{args.model-version}}`.",
    )
    min: float | None = Field(default=None, description="Fail when the value is below this.")
    max: float | None = Field(default=None, description="Fail when the value is above this.")
    interval: Duration = Field(default="1m", description="How often the query runs.")
    failure_limit: int = Field(default=1, ge=0, le=2**31 - 1, description="Failed measurements tolerated before the rollout aborts.")
    count: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Number of measurements (default: until the rollout completes).")
    initial_delay: Duration | None = Field(default=None, description="Wait before the first measurement.")


class OnlineAnalysis(Strict):
    prometheus: Prometheus = Field(description="Prometheus server the metrics are queried from.")
    metrics: list[OnlineMetric] = Field(min_length=1, description="Metrics checked in the background during the canary.")


DNS_NAME_RE = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# ingress-nginx copies the path into its configuration: only characters it cannot read as syntax.
NGINX_PATH_RE = r"^/[A-Za-z0-9._~/-]*$"
GATEWAY_RE = r"^(mesh|[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)$"

DnsName = Annotated[
    str,
    _matching(DNS_NAME_RE, "a DNS name", " (lowercase letters, digits, `-` and `.`, optionally `*.` first)"),
    Field(max_length=253, json_schema_extra={"pattern": DNS_NAME_RE}, examples=["fraud.acme.example"]),
]


class NginxRouting(Strict):
    host: DnsName = Field(description="Host of the stable Ingress.")
    ingress_class_name: DnsLabel | None = Field(default=None, description="`ingressClassName` of the Ingress (e.g. `nginx`).")
    path: Annotated[str, _matching(NGINX_PATH_RE, "a plain path prefix", " (`/`, then letters, digits and `. _ ~ / -`: "
                                   "NGINX reads `;`, `{`, `$`, quotes and blanks as configuration)"),
                    Field(json_schema_extra={"pattern": NGINX_PATH_RE})] = Field(
        default="/", description="Path prefix routed to the model: `/`, then letters, digits and `. _ ~ / -`.")


class IstioRouting(Strict):
    host: DnsName = Field(description="Host of the VirtualService.")
    gateways: list[Annotated[str, _matching(GATEWAY_RE, "a gateway", " (`NAMESPACE/NAME`, `NAME` or `mesh`)"),
                             Field(json_schema_extra={"pattern": GATEWAY_RE})]] = Field(
        min_length=1, description="Istio Gateways, exactly as given; list `mesh` to split in-mesh callers too.",
        examples=[["istio-ingress/public"]])


class ParentRef(Strict):
    name: DnsLabel = Field(description="Name of the Gateway.")
    namespace: DnsLabel | None = Field(default=None, description="Namespace of the Gateway.")
    section_name: DnsLabel | None = Field(default=None, description="Listener of the Gateway.")


class GatewayAPIRouting(Strict):
    parent_refs: list[ParentRef] = Field(min_length=1, description="Gateways the HTTPRoute attaches to.")
    hostnames: list[DnsName] = Field(default_factory=list, description="Hostnames of the HTTPRoute.")


class TrafficRouting(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["nginx"]}, {"required": ["istio"]}, {"required": ["gatewayAPI"]}]})

    nginx: NginxRouting | None = Field(default=None, description="NGINX Ingress: mlspec emits the stable Ingress; "
                                       "Argo Rollouts creates the canary one.")
    istio: IstioRouting | None = Field(default=None, description="Istio: mlspec emits a VirtualService with a "
                                       "stable (100) and canary (0) destination.")
    gateway_api: GatewayAPIRouting | None = Field(
        default=None, alias="gatewayAPI",
        description="Gateway API: mlspec emits an HTTPRoute (stable 100, canary 0, explicit) for the "
        "`argoproj-labs/gatewayAPI` plugin of Argo Rollouts.")


class BlueGreen(Strict):
    auto_promotion: bool = Field(
        default=False, description="Promote without a person once the pre-promotion evaluation passed. Default "
        "false: a person promotes (`kubectl argo rollouts promote`).")


class RolloutSection(Strict):
    strategy: Literal["canary", "blueGreen"] = Field(
        default="canary", description="`canary` (steps, optional traffic router) or `blueGreen` (active and "
        "preview Services; the offline evaluation gates promotion).")
    steps: list[Step] | None = Field(
        default=None,
        description="Canary steps. Default: 10% / 5m / 25% / 5m / 50% / 10m. The offline evaluation always runs "
        "before the first weight change.",
    )
    analysis: OnlineAnalysis | None = Field(
        default=None, description="Online metrics: in the background of every canary step, or after promotion "
        "(blue-green).")
    traffic_routing: TrafficRouting | None = Field(
        default=None, description="Canary only, one router: exact weights instead of pod-count approximations.")
    blue_green: BlueGreen | None = Field(default=None, description="Blue-green only: promotion settings.")
    max_surge: IntOrPercent | None = Field(
        default=None, description="Canary only: pods above `replicas` while updating (int or `N%`, rounded up). "
        "Default: Argo's 25%; `0` when serving asks for a GPU and there is no traffic router.")
    max_unavailable: IntOrPercent | None = Field(
        default=None, description="Pods that may be unavailable while updating (int or `N%`, rounded down; canary and "
        "blueGreen). Default: Argo's 25%; `1` with the GPU default `maxSurge: 0`. Not 0 together with `maxSurge: 0`.")
    dynamic_stable_scale: bool | None = Field(
        default=None, description="Canary with a traffic router only: scale the stable pods down as traffic leaves "
        "them, so the rollout needs no second full set. Default: true when serving asks for a GPU.")


# --- rollback ----------------------------------------------------------------


class PreviousRelease(Strict):
    version: Version = Field(description="Model version of the release this one replaces.")
    artifact: Artifact = Field(description="That release's artifact.")
    data_version: Record = Field(description="Training data version of that release (a record, kept exact).")
    feature_pipeline_version: Record | None = Field(default=None, description="Feature pipeline version that release needs (a record).")
    feature_schema_digest: Digest | None = Field(default=None, description="Feature schema digest of that release.")


class Rollback(Strict):
    previous: PreviousRelease = Field(description="The release to return to, with its data context.")


class Overlay(Strict):
    """Deep-merged over the spec by `--env NAME` (maps merge, lists and scalars replace)."""

    namespace: DnsLabel | None = Field(default=None, description="Namespace for this environment.")
    labels: dict[str, Any] | None = Field(default=None, description="Extra labels for this environment.")
    model: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.model`.")
    training: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.training`.")
    features: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.features`.")
    serving: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.serving`, e.g. `{replicas: 6}`.")
    evaluation: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.evaluation`.")
    rollout: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.rollout`.")
    rollback: dict[str, Any] | None = Field(default=None, description="Overrides of `spec.rollback`.")


class Spec(Strict):
    model: ModelSection = Field(description="The model being released.")
    training: Training = Field(description="Everything that reproduces the model: code, data, seed, environment.")
    features: Features | None = Field(default=None, description="The feature pipeline the model expects.")
    serving: Serving = Field(description="How the model is served.")
    evaluation: Evaluation = Field(description="Offline evaluation gate run before any traffic reaches the model.")
    rollout: RolloutSection = Field(default_factory=RolloutSection, description="Canary rollout. Default: a safe canary.")
    rollback: Rollback | None = Field(default=None, description="The previous release (absent for a model's first release).")
    environments: dict[DnsLabel, Overlay] = Field(
        default_factory=dict, max_length=MAX_ENVIRONMENTS,
        description=f"Per-environment overlays (at most {MAX_ENVIRONMENTS}); `mlspec build` builds each one "
        "(or `default` when none).",
    )


class ModelDeployment(Strict):
    """An mlspec model spec: one model release, pinned for reproducibility."""

    api_version: Literal["mlspec.dev/v1alpha1"] = Field(description="Always `mlspec.dev/v1alpha1`.")
    kind: Literal["ModelDeployment"] = Field(description="Always `ModelDeployment`.")
    metadata: Metadata = Field(description="Name, namespace and ownership.")
    spec: Spec = Field(description="The model release.")
