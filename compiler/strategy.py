"""Stage 3c: the Rollout's strategy: canary steps with the offline gate first, the
background analysis, the router, or blue-green; and the online metrics' conditions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlspec import traffic
from mlspec.loader import copy_data
from mlspec.model import ModelDeployment, Spec

if TYPE_CHECKING:
    from mlspec.resolve import Names

DEFAULT_STEPS: list[dict[str, Any]] = [
    {"setWeight": 10}, {"pause": {"duration": "5m"}},
    {"setWeight": 25}, {"pause": {"duration": "5m"}},
    {"setWeight": 50}, {"pause": {"duration": "10m"}},
]


def strategy(doc: ModelDeployment, names: Names, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The Rollout's `strategy`: canary (steps, router, background analysis) or blue-green."""
    spec = doc.spec
    if spec.rollout.strategy == "blueGreen":
        options = spec.rollout.blue_green
        blue_green: dict[str, Any] = {
            "activeService": names.active, "previewService": names.preview,
            # Argo's default is true: promotion would not wait for a person.
            "autoPromotionEnabled": bool(options and options.auto_promotion),
            "prePromotionAnalysis": {"templates": [{"templateName": names.offline}]},
        }
        if spec.rollout.analysis is not None:
            blue_green["postPromotionAnalysis"] = {"templates": [{"templateName": names.online}],
                                                   "args": _online_args(spec, names.active)}
        return {"blueGreen": blue_green}
    canary: dict[str, Any] = {"stableService": names.stable, "canaryService": names.canary}
    routing = traffic.rollout_routing(spec, names.rollout, doc.metadata.namespace)
    if routing is not None:
        canary["trafficRouting"] = routing
    background = _background(spec, names, steps)
    if background is not None:
        canary["analysis"] = background
    canary["steps"] = steps
    return {"canary": canary}


def steps(spec: Spec, names: Names) -> list[dict[str, Any]]:
    if spec.rollout.steps is None:
        steps = copy_data(DEFAULT_STEPS)
    else:
        steps = []
        for step in spec.rollout.steps:
            if step.set_weight is not None:
                steps.append({"setWeight": step.set_weight})
            elif step.pause == "manual":
                steps.append({"pause": {}})
            else:
                steps.append({"pause": {"duration": step.pause}})
    # The offline evaluation gates the candidate before it receives any traffic.
    gate = {"analysis": {"templates": [{"templateName": names.offline}]}}
    return [gate] + steps


def _background(spec: Spec, names: Names, steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    if spec.rollout.analysis is None:
        return None
    first_weight = next((i for i, s in enumerate(steps) if "setWeight" in s), len(steps) - 1)
    return {"templates": [{"templateName": names.online}], "startingStep": first_weight + 1,
            "args": _online_args(spec, names.canary)}


def _online_args(spec: Spec, service: str) -> list[dict[str, Any]]:
    return [
        {"name": "service-name", "value": service},
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "model-version", "value": spec.model.version},
    ]


def online_metrics(spec: Spec) -> list[dict[str, Any]]:
    if spec.rollout.analysis is None:
        return []
    metrics = []
    for m in spec.rollout.analysis.metrics:
        conditions = []
        if m.min is not None:
            conditions.append(f"result[0] >= {_number(m.min)}")
        if m.max is not None:
            conditions.append(f"result[0] <= {_number(m.max)}")
        metric: dict[str, Any] = {
            "name": m.name, "interval": m.interval, "failureLimit": m.failure_limit,
            "successCondition": " && ".join(conditions), "query": m.query,
        }
        if m.count is not None:
            metric["count"] = m.count
        if m.initial_delay is not None:
            metric["initialDelay"] = m.initial_delay
        metrics.append(metric)
    return metrics


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
