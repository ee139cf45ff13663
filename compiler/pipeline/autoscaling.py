"""Autoscaling (DESIGN.md "Rollout capacity"): `serving.autoscaling` -> a
HorizontalPodAutoscaler (autoscaling/v2) whose target is the Rollout, as Argo Rollouts
documents (`docs/features/hpa-support.md`: the Rollout's `/scale` subresource).

The Rollout then carries no `spec.replicas`: the HPA writes that field, and a value in
Git would be written back by every Argo CD sync (or self-heal) and fight the HPA. Left
out, Kubernetes and Argo CD have nothing to compare; the controller starts a new Rollout
at 1 pod and the HPA raises it to `minReplicas` at once.
"""

from __future__ import annotations

from typing import Any, Iterator

from mlspec.files.loader import Path
from mlspec.spec.model import Spec

ROLLOUT_API = "argoproj.io/v1alpha1"


def replica_range(spec: Spec) -> tuple[int, int]:
    """(fewest, most) serving pods at rest: the autoscaler's bounds, or `replicas` twice."""
    scaling = spec.serving.autoscaling
    if scaling is None:
        return spec.serving.replicas, spec.serving.replicas
    return scaling.min_replicas, scaling.max_replicas


def problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    scaling = spec.serving.autoscaling
    if scaling is None:
        return
    at: Path = ("spec", "serving", "autoscaling")
    if scaling.min_replicas > scaling.max_replicas:
        yield (at + ("minReplicas",), f"`minReplicas` ({scaling.min_replicas}) is above `maxReplicas` "
               f"({scaling.max_replicas})")
    if "replicas" in spec.serving.model_fields_set:
        yield (("spec", "serving", "replicas"), "`replicas` and `autoscaling` both set: the autoscaler sets the pod "
               "count between `minReplicas` and `maxReplicas`; remove `replicas`")
    for i, metric in enumerate(scaling.metrics):
        given = [k for k in ("cpu", "memory", "pods", "object", "external") if getattr(metric, k) is not None]
        if len(given) != 1:
            yield (at + ("metrics", i), "a metric is exactly one of `cpu`, `memory`, `pods`, `object`, `external`"
                   + (f"; this one has {' and '.join(given)}" if given else ""))
        for kind in ("object", "external"):
            target = getattr(getattr(metric, kind), "target", None)
            # exactly one value, the one its `type` names
            if target is not None and ((target.value is None) == (target.average_value is None)
                                       or (target.type == "Value") != (target.value is not None)):
                yield (at + ("metrics", i, kind, "target"), "a target is `{type: Value, value}` or "
                       "`{type: AverageValue, averageValue}`")


def horizontal_pod_autoscaler(spec: Spec, rollout: str) -> dict[str, Any] | None:
    """The HPA's `spec`, or None without `serving.autoscaling`."""
    scaling = spec.serving.autoscaling
    if scaling is None:
        return None
    metrics: list[dict[str, Any]] = []
    for m in scaling.metrics:
        for resource in ("cpu", "memory"):
            percent = getattr(m, resource)
            if percent is not None:
                metrics.append({"type": "Resource", "resource": {
                    "name": resource, "target": {"type": "Utilization", "averageUtilization": percent}}})
        for kind, key in (("pods", "Pods"), ("object", "Object"), ("external", "External")):
            shape = getattr(m, kind)
            if shape is not None:
                metrics.append({"type": key, kind: shape.model_dump(by_alias=True, exclude_none=True)})
    return {"scaleTargetRef": {"apiVersion": ROLLOUT_API, "kind": "Rollout", "name": rollout},
            "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas, "metrics": metrics}
