"""Stage 3c: the Rollout's strategy: canary steps with the offline gate first, the
background analysis, the router, or blue-green; and the online metrics' conditions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from mlspec.files.loader import Path, copy_data
from mlspec.pipeline import traffic
from mlspec.spec.model import ModelDeployment, Spec

if TYPE_CHECKING:
    from mlspec.pipeline.names import Names

# The default canary's stages: (the weight it aims at, the pause after it). What a spec
# without `rollout.steps` gets is `default_steps`: these weights where the pods can meet
# them, else the share the pods really give (docs/defaults.md), so no default step
# claims an exposure the rollout does not have.
DEFAULT_STAGES: tuple[tuple[int, str], ...] = ((10, "5m"), (25, "5m"), (50, "10m"))
DEFAULT_STEPS: list[dict[str, Any]] = [
    step for weight, pause in DEFAULT_STAGES for step in ({"setWeight": weight}, {"pause": {"duration": pause}})]


def default_steps(spec: Spec, max_surge: int | str | None = None,
                  max_unavailable: int | str | None = None) -> list[dict[str, Any]]:
    """The canary steps of a spec that gives none, at its replica count, router and the
    Rollout's resolved surge: each stage's weight is one the pods really give (within
    `traffic.TOLERANCE`), stages that land on the same weight are one, and a rollout whose
    pods can meet no weight has no weighted step (the offline gate, then all traffic)."""
    if spec.rollout.strategy != "canary":
        return copy_data(DEFAULT_STEPS)
    out: list[dict[str, Any]] = []
    written: list[int] = []
    for target, pause in DEFAULT_STAGES:
        weight = traffic.honest_weight(spec, target, max_surge, max_unavailable)
        if weight is None or (written and weight <= written[-1]):
            continue
        written.append(weight)
        out += [{"setWeight": weight}, {"pause": {"duration": pause}}]
    return out


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
    routing = traffic.rollout_routing(spec, names.rollout, doc.metadata.namespace,
                                      header_routes=HEADER_ROUTE in managed_routes(spec))
    if routing is not None and managed_routes(spec):
        routing = {"managedRoutes": [{"name": route} for route in managed_routes(spec)], **routing}
    if routing is not None:
        canary["trafficRouting"] = routing
    background = _background(spec, names, steps)
    if background is not None:
        canary["analysis"] = background
    canary["steps"] = steps
    return {"canary": canary}


def steps(spec: Spec, names: Names, defaults: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The Rollout's canary steps: the spec's (or `defaults`, see `default_steps`), after the offline gate."""
    if spec.rollout.steps is None:
        steps = copy_data(DEFAULT_STEPS if defaults is None else defaults)
    else:
        steps = []
        opened: list[str] = []  # managed routes set and not yet removed
        for step in spec.rollout.steps:
            if step.set_weight is not None:
                steps += _close(opened)
                steps.append({"setWeight": step.set_weight})
            elif step.mirror is not None:
                # Canary pods for the copied share; Argo removes a mirror route given no
                # match, so "every request" is spelt out.
                steps.append({"setCanaryScale": {"weight": step.mirror.percentage}})
                match = ([m.model_dump(by_alias=True, exclude_none=True) for m in step.mirror.match]
                         if step.mirror.match else [{"path": {"prefix": "/"}}])
                steps.append({"setMirrorRoute": {"name": MIRROR_ROUTE, "percentage": step.mirror.percentage,
                                                 "match": match}})
                opened += [MIRROR_ROUTE] if MIRROR_ROUTE not in opened else []
            elif step.header_route is not None:
                if not opened:  # a mirror step's canary pods serve the header route too
                    steps.append({"setCanaryScale": {"replicas": 1}})
                steps.append({"setHeaderRoute": {"name": HEADER_ROUTE, "match": [
                    m.model_dump(by_alias=True, exclude_none=True) for m in step.header_route.match]}})
                opened += [HEADER_ROUTE] if HEADER_ROUTE not in opened else []
            elif step.pause == "manual":
                steps.append({"pause": {}})
            else:
                steps.append({"pause": {"duration": step.pause}})
    # The offline evaluation gates the candidate before it receives any traffic.
    gate = {"analysis": {"templates": [{"templateName": names.offline}]}}
    return [gate] + steps


MIRROR_ROUTE, HEADER_ROUTE = "mirror", "header"
ROUTE_STEPS = {MIRROR_ROUTE: "setMirrorRoute", HEADER_ROUTE: "setHeaderRoute"}
# The routers Argo Rollouts sets each route step through, and the object it changes. The
# Gateway API plugin documents `setHeaderRoute` with `managedRoutes`; its SetMirrorRoute is
# a no-op (undocumented), so a mirror step there would silently copy nothing.
ROUTE_ROUTERS = {"mirror": (("istio", "Istio's VirtualService"),),
                 "headerRoute": (("istio", "Istio's VirtualService"),
                                 ("gatewayAPI", "the Gateway API plugin's HTTPRoute"))}


def _close(opened: list[str]) -> list[dict[str, Any]]:
    """Steps removing the managed routes (a route step with its name and no match) and
    the fixed canary scale, before a weighted step: weights then decide again."""
    if not opened:
        return []
    out: list[dict[str, Any]] = [{ROUTE_STEPS[route]: {"name": route}} for route in opened]
    opened.clear()
    return out + [{"setCanaryScale": {"matchTrafficWeight": True}}]


def managed_routes(spec: Spec) -> list[str]:
    """The routes the steps set, in precedence order (header routes before the mirror)."""
    given = spec.rollout.steps or []
    return [route for route, used in ((HEADER_ROUTE, any(s.header_route is not None for s in given)),
                                      (MIRROR_ROUTE, any(s.mirror is not None for s in given))) if used]


def route_problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    router = traffic.chosen_router(spec)
    for i, step in enumerate(spec.rollout.steps or []):
        at: Path = ("spec", "rollout", "steps", i)
        for key, value in (("mirror", step.mirror), ("headerRoute", step.header_route)):
            routers = ROUTE_ROUTERS[key]
            if value is not None and router not in dict(routers):
                yield (at + (key,), f"a `{key}` step needs "
                       + " or ".join(f"`spec.rollout.trafficRouting.{r}`" for r, _ in routers)
                       + f": Argo Rollouts sets {'mirror' if key == 'mirror' else 'header'} routes through "
                       + " or ".join(what for _, what in routers)
                       + (f"; this spec routes with {router}" if router else ", and this spec has no router"))
        if step.header_route is not None and not step.header_route.match:
            yield (at + ("headerRoute",), "a header route needs `match`: at least one `{headerName, headerValue}`")
        for key, matches in (("mirror", step.mirror.match if step.mirror else None),
                             ("headerRoute", step.header_route.match if step.header_route else None)):
            for j, m in enumerate(matches or []):
                for where, value in _string_matches(m):
                    if sum(v is not None for v in (value.exact, value.prefix, value.regex)) != 1:
                        yield (at + (key, "match", j) + where, "a match is exactly one of `exact`, `prefix`, `regex`")


def _string_matches(m: Any) -> Iterator[tuple[Path, Any]]:
    if hasattr(m, "header_value"):
        yield ("headerValue",), m.header_value
        return
    for key in ("method", "path"):
        if getattr(m, key) is not None:
            yield (key,), getattr(m, key)
    for name, value in (m.headers or {}).items():
        yield ("headers", name), value


def _background(spec: Spec, names: Names, steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    if spec.rollout.analysis is None:
        return None
    # From the first step that sends the canary requests: a weight, or a mirror or header
    # route (the shadow step is where a model is judged before users see its answers).
    first_weight = next((i for i, s in enumerate(steps) if s.keys() & {"setWeight", *ROUTE_STEPS.values()}),
                        len(steps) - 1)
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
