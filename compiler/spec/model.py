"""Stage 2: the spec as pydantic models. The JSON Schema is generated from here.

Field names are camelCase in YAML (the public contract in DESIGN.md) and
snake_case in Python. Every model forbids unknown keys and is strict: YAML's
type guesses (`1.10` -> 1.1, `no` -> False) are errors, never coerced.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mlspec.files.errors import WARNING_RULES
from mlspec.files.loader import MAX_ENVIRONMENTS
from mlspec.spec.fields import (
    COMMIT_RE,
    DNS_LABEL_RE,
    ENV_NAME_RE,
    RUNTIMES,
    ArtifactUri,
    Digest,
    DnsLabel,
    Duration,
    IntOrPercent,
    LabelKey,
    LabelValue,
    MetricName,
    PinnedImage,
    Quantity,
    Record,
    Strict,
    Uri,
    Version,
    _matching,
)
from mlspec.spec.model_rollout import RolloutSection
from mlspec.spec.model_scaling import Affinity, Autoscaling, TopologySpread
from mlspec.spec.model_signature import Signature

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
    signature: Signature | None = Field(
        default=None, description="An OpenSSF Model Signing bundle over these bytes: every pod that uses the artifact "
        "verifies it, and that its signed digests are `digest`, before the server or evaluator starts.")


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


class DisruptionBudget(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["maxUnavailable"]}, {"required": ["minAvailable"]}]})

    max_unavailable: IntOrPercent | None = Field(default=None, description="Pods a voluntary disruption (a node "
                                                 "drain) may take at once (int or `N%`).")
    min_available: IntOrPercent | None = Field(default=None, description="Pods that must stay up (int or `N%`).")


class Serving(Strict):
    runtime: DnsLabel = Field(
        default="mlserver",
        description="Model server: a built-in, `mlserver` (Seldon MLServer, V2 protocol), `triton` (NVIDIA Triton), "
        "`torchserve`, `custom` (your image's own entrypoint; health on `healthPath`), or a runtime of the "
        "platform file's `spec.runtimes`.",
        json_schema_extra={"anyOf": [{"enum": list(RUNTIMES)}, {"pattern": DNS_LABEL_RE}]},
    )
    image: PinnedImage | None = Field(
        default=None, description="Serving container image, pinned by digest. Default: the runtime's `image` "
        "(a platform runtime may name one; the built-ins do not).")
    port: int | None = Field(default=None, ge=1, le=65535, description="HTTP port. Default: the runtime's (8000 for triton, 8080 for the other built-ins).")
    replicas: int = Field(default=2, ge=1, le=10000, description="Pod count at 100% of the rollout (at least 1, as `autoscaling.minReplicas`: "
                          "a release with no pod serves nothing and its analysis never runs).")
    resources: Resources | None = Field(
        default=None, description="Requests and limits. Default: requests cpu 500m / memory 1Gi, limits cpu 1 / memory 2Gi."
    )
    args: list[str] | None = Field(default=None, description="Container arguments; replaces the runtime's own "
                                   "(its internal paths included): prefer `extraArgs`.")
    extra_args: list[str] | None = Field(default=None, description="Arguments appended to the runtime's (or to "
                                  "`args`).")
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
    autoscaling: Autoscaling | None = Field(
        default=None, description="A HorizontalPodAutoscaler (autoscaling/v2) scaling the Rollout between "
        "`minReplicas` and `maxReplicas`; the Rollout then has no `replicas` of its own (leave `replicas` out).")
    topology_spread: list[TopologySpread] | None = Field(
        default=None, min_length=1, max_length=2, description="Spread the serving pods over zones and/or nodes "
        "(`topologySpreadConstraints` on the model's own pods), e.g. `[{by: zone}]`.")
    affinity: Affinity | None = Field(default=None, description="Kubernetes `affinity` of the serving pods, "
                                      "passed through (checked field by field).")


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
    acknowledge: list[Literal[WARNING_RULES]] | None = Field(  # type: ignore[valid-type]
        default=None, max_length=len(WARNING_RULES),
        description="Warning rule ids (docs/rules.md) this model accepts: their warnings are no longer printed, and "
        "`mlspec diff` shows the acknowledgement. Errors cannot be acknowledged. The platform file's "
        "`defaults.acknowledge` (all models, or one environment's) adds to this list.")
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
