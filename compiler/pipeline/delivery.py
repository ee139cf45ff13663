"""Delivering exactly the pinned bytes (DESIGN.md): where each artifact comes
from, how it reaches a pod, and the digest check before anything uses it.

`problems(spec)` gives the positioned rules; `plan(...)` gives the pod pieces
(init containers, volumes, mounts, environment) that `resolve` hands to the
templates. Schemes:

- `oci://REGISTRY/REPO@sha256:…`  a Kubernetes image volume (read-only);
- `s3://`, `gs://`, `https://`, `hf://`  fetched by the storage initializer into
  an `emptyDir`, run as `IMAGE URI DEST` (KServe's storage-initializer contract);
- `pvc://CLAIM/path`  copied by `digest.py --copy` from the claim (mounted
  read-only in that step alone) into an `emptyDir`: other pods may write the
  claim, and a restarted server must find the bytes that were verified.

Then one `verify` init container runs `digest.py --verify` (mlspec's digest
code, shipped in a ConfigMap) over every delivered source and stops the pod on
any mismatch, before the server or the evaluator starts. After it, nothing
writes the delivered volumes: the server or evaluator mounts them read-only.
An artifact with `signature` also has its OMS bundle delivered the same way and,
after the digest check, a `verify-<role>-signature` step in the verifier image
(`signature.py`: model-signing over the bytes, and the signed digests = the pin).

Isolation inside the pod: the fetch steps (a third-party image) get their own
scratch `emptyDir` as `/tmp` and `HOME`, never mounted by the server or the
evaluator, so nothing they leave there (a `.pth`, a `usercustomize.py`, a cache)
runs or is read after the verification. Workload-identity webhooks (EKS, Azure)
are told to give the cloud identity of the pod's service account to the fetch
steps only (`*/skip-containers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from mlspec.files.loader import Path
from mlspec.spec.fields import REMOTE, artifact_uri_problem
from mlspec.spec import model_signature
from mlspec.spec.model import Artifact, ModelDeployment, Spec
from mlspec.spec.model_signature import Signature

# Where each source is found in a pod; MLSPEC_* variables point here.
MOUNTS = {"model": "/mnt/models", "baseline": "/mnt/baseline", "dataset": "/mnt/dataset"}
CLAIMS_DIR = "/mlspec/claim"  # where the copy step alone sees a `pvc://` claim
SIGNATURE_DIR = "/mlspec/signature"  # where a source's bundle is delivered (the verify step alone mounts it)
TRUST_DIR = "/mlspec/trust"  # where its key, certificate chain or trusted root is mounted
FETCH_SCRATCH = "fetch-scratch"  # the fetch steps' `/tmp` and `HOME`: no other container mounts it
# Containers that must not get the cloud identity (comma / semicolon separated, as each webhook reads it).
SKIP_IDENTITY = {"eks.amazonaws.com/skip-containers": ",", "azure.workload.identity/skip-containers": ";"}
ENV_NAMES = {"model": "MLSPEC_MODEL_PATH", "baseline": "MLSPEC_BASELINE_MODEL_PATH", "dataset": "MLSPEC_DATASET_PATH"}
FETCH_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
VERIFY_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
# Hashing a large model is I/O-bound; the library and its crypto need more memory than digest.py.
SIGNATURE_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
DEFAULT_USER = 1000  # the non-root user of the official MLServer, Triton and TorchServe images


@dataclass(frozen=True)
class Source:
    """One artifact a pod needs: the candidate model, the baseline model or the dataset."""

    role: str  # "model" | "baseline" | "dataset"
    uri: str
    digest: str
    signature: Signature | None = None

    @property
    def scheme(self) -> str:
        return self.uri.split("://", 1)[0]

    @property
    def mount(self) -> str:
        return MOUNTS[self.role]


def initializer_problem(uri: str, has_initializer: bool) -> str | None:
    scheme = uri.split("://", 1)[0]
    if scheme in REMOTE and not has_initializer:
        return (f"`{scheme}://` artifacts are fetched into the pod by a storage initializer: set "
                "`spec.serving.storageInitializer.image` (e.g. KServe's storage-initializer, pinned by digest)")
    return None


def problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    """Delivery rules as (path, message): schemes and storage initializer (formats: `runtimes`)."""
    has_initializer = spec.serving.storage_initializer is not None
    uris: list[tuple[Path, str]] = [(("spec", "model", "artifact", "uri"), spec.model.artifact.uri)]
    if spec.rollback is not None:
        uris.append((("spec", "rollback", "previous", "artifact", "uri"), spec.rollback.previous.artifact.uri))
    if spec.evaluation.dataset.digest is not None:
        dataset_at: Path = ("spec", "evaluation", "dataset", "uri")
        problem = artifact_uri_problem(spec.evaluation.dataset.uri)
        if problem:
            yield (dataset_at, f"a dataset with a `digest` is delivered like the model: {problem}")
        uris.append((dataset_at, spec.evaluation.dataset.uri))
    for at, artifact in _signed(spec):
        assert artifact.signature is not None
        yield from model_signature.problems(artifact.signature, at)
        bundle = artifact.signature.bundle
        if bundle.startswith("pvc://") and artifact_uri_problem(bundle):
            yield (at + ("bundle",), f"a `pvc://` bundle: {artifact_uri_problem(bundle)}")
        uris.append((at + ("bundle",), bundle))
    for at, uri in uris:
        problem = initializer_problem(uri, has_initializer)
        if problem:
            yield (at, problem)


def _signed(spec: Spec) -> Iterator[tuple[Path, Artifact]]:
    """The artifacts that carry a signature, with the path of their `signature` block."""
    if spec.model.artifact.signature is not None:
        yield ("spec", "model", "artifact", "signature"), spec.model.artifact
    prev = spec.rollback.previous if spec.rollback else None
    if prev is not None and prev.artifact.signature is not None:
        yield ("spec", "rollback", "previous", "artifact", "signature"), prev.artifact


def signed(spec: Spec) -> bool:
    """Pods of this release or of the previous one verify a signature: the programs
    ConfigMaps then ship `signature.py` (a previous release's pod may restart mid-rollout)."""
    return any(True for _ in _signed(spec))


def sources(doc: ModelDeployment, baseline: str | None, for_evaluation: bool) -> list[Source]:
    """What a pod needs delivered: the model; in evaluation pods also the
    baseline model (when it is `rollback.previous`) and a pinned dataset."""
    spec = doc.spec
    found = [Source("model", spec.model.artifact.uri, spec.model.artifact.digest, spec.model.artifact.signature)]
    if not for_evaluation:
        return found
    prev = spec.rollback.previous if spec.rollback else None
    if prev is not None and baseline == prev.version:
        found.append(Source("baseline", prev.artifact.uri, prev.artifact.digest, prev.artifact.signature))
    if spec.evaluation.dataset.digest is not None:
        found.append(Source("dataset", spec.evaluation.dataset.uri, spec.evaluation.dataset.digest))
    return found


def env_vars(vars_: list[Any]) -> list[dict[str, Any]]:
    """Spec `EnvVar`s as Kubernetes env entries (`value` or `valueFrom.secretKeyRef`)."""
    out: list[dict[str, Any]] = []
    for var in vars_:
        if var.secret_key_ref is not None:
            out.append({"name": var.name, "valueFrom": {"secretKeyRef": {
                "name": var.secret_key_ref.name, "key": var.secret_key_ref.key}}})
        else:
            out.append({"name": var.name, "value": var.value})
    return out


def plan(spec: Spec, needed: list[Source], verify_image: str, programs: tuple[str, str],
         users: tuple[str, ...]) -> dict[str, Any]:
    """Pod pieces that deliver and verify `needed`: init containers, volumes,
    the main container's read-only mounts and its MLSPEC_*_PATH environment, and
    the pod annotations that keep the storage identity from `users` (the pod's
    containers after the verify step). `programs` is the (volume, directory) of
    the ConfigMap that ships `digest.py` (and `signature.py`)."""
    init: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    programs_volume, programs_dir = programs
    programs_mount = {"name": programs_volume, "mountPath": programs_dir, "readOnly": True}
    # -I: neither PYTHON* variables nor a user site-packages directory reach mlspec's own steps.
    digest_py = ["python3", "-I", f"{programs_dir}/digest.py"]
    verify_args = list(digest_py)
    checks: list[dict[str, Any]] = []
    for source in needed:
        _deliver(spec, source.role, source.uri, source.mount, init, volumes, digest_py, verify_image, programs_mount)
        mounts.append({"name": source.role, "mountPath": source.mount, "readOnly": True})
        env.append({"name": ENV_NAMES[source.role], "value": source.mount})
        verify_args += ["--verify", source.role, source.digest, source.mount]
        if source.signature is not None:
            checks.append(_signature_check(spec, source, init, volumes, digest_py, verify_image, programs))
    init.append({
        "name": "verify",
        "image": verify_image,
        "command": verify_args,
        "resources": VERIFY_RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [*(dict(m) for m in mounts), programs_mount],
    })
    init += checks  # after the digest check: the signature is checked over bytes known to be the pinned ones
    initializer = spec.serving.storage_initializer
    account = initializer.service_account_name if initializer else None
    # The account is there for the fetch steps' cloud identity: the webhooks that project
    # it (EKS IRSA / Pod Identity, Azure workload identity) skip every other container.
    others = [c["name"] for c in init if not c["name"].startswith("fetch-")] + list(users)
    annotations = {key: sep.join(others) for key, sep in SKIP_IDENTITY.items()} if account else {}
    return {"init": init, "volumes": volumes, "mounts": mounts, "env": env,
            "service_account": account, "pod_annotations": annotations}


def _deliver(spec: Spec, role: str, uri: str, mount: str, init: list[dict[str, Any]], volumes: list[dict[str, Any]],
             digest_py: list[str], verify_image: str, programs_mount: dict[str, Any]) -> None:
    """The volume `role` holding what `uri` names at `mount`, and the step that fills it."""
    scheme = uri.split("://", 1)[0]
    if scheme == "oci":
        volumes.append({"name": role, "image": {"reference": uri[len("oci://"):], "pullPolicy": "IfNotPresent"}})
    elif scheme == "pvc":
        claim, path = uri[len("pvc://"):].rstrip("/").split("/", 1)
        # The directory holding `path` as the sub-path (the kubelet resolves it inside the
        # volume), the last name in the command: a mount path never holds a spec's text.
        parent, _, name = path.rpartition("/")
        claim_mount: dict[str, Any] = {"name": f"{role}-claim", "mountPath": f"{CLAIMS_DIR}/{role}", "readOnly": True}
        if parent:
            claim_mount["subPath"] = parent
        volumes += [{"name": f"{role}-claim", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}},
                    {"name": role, "emptyDir": {}}]
        init.append({
            "name": f"copy-{role}",
            "image": verify_image,
            "command": [*digest_py, "--copy", f"{CLAIMS_DIR}/{role}/{name}", mount],
            "resources": VERIFY_RESOURCES,
            "securityContext": CONTAINER_SECURITY,
            "volumeMounts": [claim_mount, {"name": role, "mountPath": mount}, programs_mount],
        })
    else:
        initializer = spec.serving.storage_initializer
        assert initializer is not None  # `problems` requires one for remote schemes
        volumes.append({"name": role, "emptyDir": {}})
        fetch: dict[str, Any] = {
            "name": f"fetch-{role}",
            "image": initializer.image,
            "args": [uri, mount],
            "env": [{"name": "HOME", "value": "/tmp"}, *env_vars(initializer.env)],
            "resources": FETCH_RESOURCES,
            "securityContext": CONTAINER_SECURITY,
            "volumeMounts": [{"name": role, "mountPath": mount}, {"name": FETCH_SCRATCH, "mountPath": "/tmp"}],
        }
        if initializer.env_from_secret:
            fetch["envFrom"] = [{"secretRef": {"name": initializer.env_from_secret}}]
        if not any(v["name"] == FETCH_SCRATCH for v in volumes):
            volumes.append({"name": FETCH_SCRATCH, "emptyDir": {}})
        init.append(fetch)


def _signature_check(spec: Spec, source: Source, init: list[dict[str, Any]], volumes: list[dict[str, Any]],
                     digest_py: list[str], verify_image: str, programs: tuple[str, str]) -> dict[str, Any]:
    """Deliver `source`'s bundle (as the artifact is delivered) and mount its key
    material; the step that runs `signature.py` over the verified bytes."""
    sig = source.signature
    assert sig is not None and sig.verifier_image is not None  # `problems` requires one
    programs_volume, programs_dir = programs
    programs_mount = {"name": programs_volume, "mountPath": programs_dir, "readOnly": True}
    bundle_volume, bundle_dir = f"{source.role}-signature", f"{SIGNATURE_DIR}/{source.role}"
    _deliver(spec, bundle_volume, sig.bundle, bundle_dir, init, volumes, digest_py, verify_image, programs_mount)
    trust_volume, trust_dir = f"{source.role}-trust", f"{TRUST_DIR}/{source.role}"
    args = ["--method", sig.method]
    ref: Any
    if sig.public_key is not None:
        ref, flag = sig.public_key, "--public-key"
    elif sig.certificate is not None:
        ref, flag = sig.certificate.certificate_chain, "--certificate-chain"
        args += ["--identity", sig.certificate.identity]
    else:
        assert sig.sigstore is not None
        ref, flag = sig.sigstore.trusted_root, "--trusted-root"
        args += ["--identity", sig.sigstore.identity, "--issuer", sig.sigstore.issuer]
    items = [{"key": ref.key, "path": ref.key}]
    if getattr(ref, "secret_name", None):
        volumes.append({"name": trust_volume, "secret": {"secretName": ref.secret_name, "items": items}})
    else:
        volumes.append({"name": trust_volume, "configMap": {"name": ref.config_map, "items": items}})
    return {
        "name": f"verify-{source.role}-signature",
        "image": sig.verifier_image,
        "command": ["python3", "-I", f"{programs_dir}/signature.py", *args, f"{flag}={trust_dir}/{ref.key}",
                    "--bundle", bundle_dir, "--digest", source.digest, "--model", source.mount],
        "resources": SIGNATURE_RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": source.role, "mountPath": source.mount, "readOnly": True},
                         {"name": bundle_volume, "mountPath": bundle_dir, "readOnly": True},
                         {"name": trust_volume, "mountPath": trust_dir, "readOnly": True}, programs_mount],
    }


def pod_user(spec: Spec) -> dict[str, Any]:
    """The pod-level security context: non-root, numeric user and group."""
    user = spec.serving.security_context
    uid = user.run_as_user if user else DEFAULT_USER
    gid = user.run_as_group if user else DEFAULT_USER
    fs_group = (user.fs_group if user and user.fs_group else gid)
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": fs_group,
            "seccompProfile": {"type": "RuntimeDefault"}}
