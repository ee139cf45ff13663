"""Stage 5: self-check every rendered object before anything is written.

`self_check` always runs: it asserts the invariants mlspec promises (names and
labels Kubernetes accepts, Pod Security "restricted", requests and limits,
lineage pins on every object). A failure here is a bug in mlspec, reported as
an internal error. `full_check` (`build --verify`, the optional `verify` extra)
adds the Kubernetes strict schemas from PyPI `kubernetes-validate`; Argo's pod
templates and job specs are checked by wrapping them in a Deployment / Job.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from mlspec.spec.fields import DNS_LABEL_RE, LABEL_KEY_RE, LABEL_VALUE_RE

PINS = ("mlspec.dev/model-version", "mlspec.dev/artifact-digest", "mlspec.dev/data-version",
        "mlspec.dev/seed", "mlspec.dev/code-commit")
# Image volumes (oci:// artifacts) are on by default from 1.35.
KUBERNETES_VERSION = "1.35.0"
_DNS_LABEL, _LABEL_KEY, _LABEL_VALUE = (re.compile(p) for p in (DNS_LABEL_RE, LABEL_KEY_RE, LABEL_VALUE_RE))


class VerifyError(Exception):
    """An emitted object breaks an invariant: a bug in mlspec, not in the spec."""


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) for every pod template inside an object."""
    kind = obj.get("kind")
    spec = obj.get("spec", {})
    if kind in ("Rollout", "Job"):
        yield "spec.template.spec", spec["template"]["spec"]
    elif kind == "AnalysisTemplate":
        for i, metric in enumerate(spec.get("metrics", [])):
            job = metric.get("provider", {}).get("job")
            if job:
                yield f"spec.metrics[{i}].provider.job.spec.template.spec", job["spec"]["template"]["spec"]


def problems(filename: str, obj: dict[str, Any]) -> Iterator[str]:
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    if not obj.get("apiVersion") or not obj.get("kind"):
        yield "missing apiVersion or kind"
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        yield f"name {name!r} is not a DNS-1123 label"
    for key, value in {**meta.get("labels", {}), **_template_labels(obj)}.items():
        if not _LABEL_KEY.fullmatch(key) or not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            yield f"label {key}={value!r} is not valid"
    missing = [p for p in PINS if p not in meta.get("annotations", {})]
    if missing:
        yield f"missing lineage annotations {missing}"
    for where, pod in pod_specs(obj):
        security = pod.get("securityContext", {})
        if security.get("runAsNonRoot") is not True or security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            yield f"{where}: pod is not runAsNonRoot with seccomp RuntimeDefault"
        if not all(isinstance(security.get(k), int) and security[k] > 0 for k in ("runAsUser", "runAsGroup", "fsGroup")):
            yield f"{where}: pod has no numeric non-root runAsUser, runAsGroup and fsGroup"
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            c = container.get("securityContext", {})
            if c.get("allowPrivilegeEscalation") is not False or c.get("capabilities", {}).get("drop") != ["ALL"]:
                yield f"{where}: container {container['name']} may escalate privileges or keeps capabilities"
            if c.get("readOnlyRootFilesystem") is not True:
                yield f"{where}: container {container['name']} has a writable root filesystem"
            resources = container.get("resources", {})
            if not resources.get("requests") or not resources.get("limits"):
                yield f"{where}: container {container['name']} lacks requests or limits"


def _template_labels(obj: dict[str, Any]) -> dict[str, Any]:
    template = obj.get("spec", {}).get("template", {})
    return template.get("metadata", {}).get("labels", {}) if isinstance(template, dict) else {}


def self_check(objects: dict[str, dict[str, Any]]) -> None:
    found = [f"{filename}: {p}" for filename, obj in objects.items() for p in problems(filename, obj)]
    if found:
        raise VerifyError("emitted objects break mlspec's invariants:\n  " + "\n  ".join(found))


def strict_targets(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Objects the Kubernetes strict schemas can check, derived from `obj`."""
    kind = obj["kind"]
    if obj["apiVersion"] in ("v1", "batch/v1", "apps/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1",
                             "policy/v1", "autoscaling/v2"):
        yield kind, obj
    elif kind == "Rollout":
        spec = obj["spec"]
        yield "Rollout pod template", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": obj["metadata"]["name"]},
            # no `replicas` when an autoscaler owns the count
            "spec": {**({"replicas": spec["replicas"]} if "replicas" in spec else {}),
                     "selector": spec["selector"], "template": spec["template"]},
        }
    elif kind == "AnalysisTemplate":
        for metric in obj["spec"]["metrics"]:
            job = metric.get("provider", {}).get("job")
            if job:
                yield f"AnalysisTemplate job {metric['name']}", {
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": obj["metadata"]["name"], **job.get("metadata", {})}, "spec": job["spec"],
                }


def full_check(objects: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(file, problem) for what the Kubernetes strict schemas reject (needs `kubernetes-validate`)."""
    import kubernetes_validate  # optional extra: imported only for --verify

    found = []
    for filename, obj in objects.items():
        for what, target in strict_targets(obj):
            try:
                kubernetes_validate.validate(target, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                found.append((filename, f"{what}: {path}: {exc.message}"))
    return found
