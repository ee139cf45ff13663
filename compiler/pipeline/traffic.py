"""Traffic (DESIGN.md): exact canary weights through a router, blue-green, and
what pod counts really give when there is no router.

`problems(spec)` gives the positioned rules; `exposure(spec)` the warnings for
steps that pod counts cannot approximate; `strategy(...)` and `router(...)`
the Rollout's strategy block and the router object, as data for the templates.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator

from mlspec.files.loader import Path
from mlspec.pipeline import autoscaling, capacity
from mlspec.spec.model import Spec

# (attribute, YAML key, the kind of object mlspec emits for it)
ROUTERS = (("nginx", "nginx", "Ingress"), ("istio", "istio", "VirtualService"),
           ("gateway_api", "gatewayAPI", "HTTPRoute"))
TOLERANCE = 5  # points of traffic share a pod-count approximation may miss by
CLOSE_ENOUGH = 100 // TOLERANCE  # from this many replicas on, pod counts always meet a weight within TOLERANCE
ROUTE_NAME = "primary"
GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"


def chosen_router(spec: Spec) -> str | None:
    """The YAML key of the one router, or None."""
    routing = spec.rollout.traffic_routing
    if routing is None:
        return None
    return next((key for attr, key, _ in ROUTERS if getattr(routing, attr) is not None), None)


def problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    rollout = spec.rollout
    at: Path = ("spec", "rollout")
    if rollout.traffic_routing is not None:
        chosen = [key for attr, key, _ in ROUTERS if getattr(rollout.traffic_routing, attr) is not None]
        if len(chosen) > 1:
            yield (at + ("trafficRouting", chosen[1]), f"one traffic router only; this spec names {' and '.join(chosen)}")
        if not chosen:
            yield (at + ("trafficRouting",), "name the router: `nginx`, `istio` or `gatewayAPI`")
    if rollout.strategy == "blueGreen":
        if rollout.steps is not None:
            yield (at + ("steps",), "`steps` are canary steps; a blueGreen rollout has none: the offline evaluation "
                   "gates promotion and a person (or `blueGreen.autoPromotion`) promotes")
        if rollout.traffic_routing is not None:
            yield (at + ("trafficRouting",), "`trafficRouting` is for canary: blueGreen switches the active and "
                   "preview Services as a whole")
    elif rollout.blue_green is not None:
        yield (at + ("blueGreen",), "`blueGreen` settings need `strategy: blueGreen`")


def pod_counts(replicas: int, weight: int, max_surge: int | str | None = None,
               max_unavailable: int | str | None = None) -> tuple[int, int]:
    """The (canary, stable) pods Argo Rollouts runs for `setWeight: weight` without a
    router: its own arithmetic (`capacity.canary_stable`) with the surge it resolves
    from the Rollout's `maxSurge`/`maxUnavailable` (unset: Argo's default 25%)."""
    surge, _ = capacity.fenceposts_or_default(max_surge, max_unavailable, replicas)
    return capacity.canary_stable(replicas, weight, surge)


def weights(spec: Spec, default_steps: list[dict[str, Any]]) -> list[tuple[Path, int]]:
    """Every canary `setWeight` with where it stands (the default steps: at what chose
    them, the replica count)."""
    if spec.rollout.steps is not None:
        return [(("spec", "rollout", "steps", i, "setWeight"), step.set_weight)
                for i, step in enumerate(spec.rollout.steps) if step.set_weight is not None]
    chose: Path = ("spec", "serving", "autoscaling" if spec.serving.autoscaling is not None else "replicas")
    return [(chose, s["setWeight"]) for s in default_steps if "setWeight" in s]


def exposure(spec: Spec, default_steps: list[dict[str, Any]], max_surge: int | str | None = None,
             max_unavailable: int | str | None = None) -> Iterator[tuple[Path, str]]:
    """Warnings for canary weights pod counts cannot approximate within TOLERANCE points
    (exactly TOLERANCE off is still close enough), with the Rollout's resolved surge."""
    if spec.rollout.strategy != "canary" or spec.rollout.traffic_routing is not None:
        return
    fewest, most = autoscaling.replica_range(spec)
    for at, weight in weights(spec, default_steps):
        share, replicas, canary, stable = _worst(spec, weight, max_surge, max_unavailable)
        if abs(share - weight) > TOLERANCE:
            scaled = (f" (the worst of the autoscaler's {fewest}..{most})" if spec.serving.autoscaling is not None
                      else "")
            yield (at, f"setWeight {weight} cannot be met with {replicas} replica(s){scaled} and no traffic router: "
                   f"Argo Rollouts approximates it by pod counts and runs {canary} canary + {stable} stable "
                   f"pod(s), so the canary gets {_percent(share)} of the traffic; add "
                   "`spec.rollout.trafficRouting` for exact weights, or more replicas")


def honest_weight(spec: Spec, target: int, max_surge: int | str | None = None,
                  max_unavailable: int | str | None = None) -> int | None:
    """The canary weight to write for a default step aiming at `target`: `target` itself
    when pod counts meet it within TOLERANCE (always, with a router), else the share pod
    counts really give for it, rounded, else the nearest weight pod counts can meet;
    None when no weight below 100 can be met (one pod takes all the traffic or none)."""
    def met(weight: int) -> bool:  # and a step at all: the canary gets some traffic, the stable pods too
        share = _worst(spec, weight, max_surge, max_unavailable)[0]
        return 0 < share < 100 and abs(share - weight) <= TOLERANCE

    if spec.rollout.traffic_routing is not None or met(target):
        return target
    real = round(_worst(spec, target, max_surge, max_unavailable)[0])
    if met(real):
        return real
    candidates = [w for w in range(1, 100) if met(w)]
    return min(candidates, key=lambda w: (abs(w - real), w)) if candidates else None


def _worst(spec: Spec, weight: int, max_surge: int | str | None,
           max_unavailable: int | str | None, whole_range: bool = False) -> tuple[Fraction, int, int, int]:
    """(share, replicas, canary, stable) at the replica count whose share misses `weight`
    most: `replicas` itself, or with an autoscaler the worst count of its range (the
    first, on a tie). For the warning the search stops at CLOSE_ENOUGH: past it no count
    misses by TOLERANCE (Argo picks the closest option, and one of them is within
    100/replicas points of the weight). `whole_range` searches every count, for the
    share `mlspec diff` states (at most `maxReplicas`' bound of counts, in diff only)."""
    fewest, most = autoscaling.replica_range(spec)
    worst: tuple[Fraction, int, int, int] | None = None
    for replicas in range(fewest, max(fewest, most if whole_range else min(most, CLOSE_ENOUGH)) + 1):
        canary, stable = pod_counts(replicas, weight, max_surge, max_unavailable)
        share = Fraction(100 * canary, canary + stable) if canary + stable else Fraction(0)
        if worst is None or abs(share - weight) > abs(worst[0] - weight):
            worst = (share, replicas, canary, stable)
    assert worst is not None
    return worst


def served_share(spec: Spec, weight: int, max_surge: int | str | None = None,
                 max_unavailable: int | str | None = None) -> tuple[Fraction, int, int, int]:
    """(share, replicas, canary, stable): the traffic `setWeight: weight` really gives the
    canary, at the worst replica count (the autoscaler's whole range); with a router,
    exactly `weight`."""
    if spec.rollout.traffic_routing is not None:
        return Fraction(weight), 0, 0, 0
    return _worst(spec, weight, max_surge, max_unavailable, whole_range=True)


def shares(spec: Spec, default_steps: list[dict[str, Any]], max_surge: int | str | None = None,
           max_unavailable: int | str | None = None) -> list[str]:
    """The traffic each canary weight really gives (`10% -> 1+2 pods = 33.3%`: canary +
    stable pods; with an autoscaler, at the worst count of its range), as `mlspec diff`
    compares it."""
    if spec.rollout.strategy != "canary":
        return ["blueGreen: all traffic switches at promotion"]
    if spec.rollout.traffic_routing is not None:
        return [f"{w}% exact (router)" for _, w in weights(spec, default_steps)]
    out = []
    for _, weight in weights(spec, default_steps):
        share, replicas, canary, stable = _worst(spec, weight, max_surge, max_unavailable, whole_range=True)
        at = f" (at {replicas} replicas, the worst of the autoscaler's range)" if spec.serving.autoscaling else ""
        out.append(f"{weight}% -> {canary}+{stable} pods = {_percent(share)}{at}")
    return out


def _percent(share: Fraction) -> str:
    """A share of traffic as people read it: 33.3%, 14.3%, 50%."""
    return f"{round(float(share), 1):g}%"


def router_object(spec: Spec, stable: str, canary: str, port: int) -> tuple[str, dict[str, Any]] | None:
    """(file name, spec of the object) the chosen router needs, or None."""
    routing = spec.rollout.traffic_routing
    key = chosen_router(spec)
    if routing is None or key is None:
        return None
    if key == "nginx":
        nginx = routing.nginx
        assert nginx is not None
        body: dict[str, Any] = {}
        if nginx.ingress_class_name:
            body["ingressClassName"] = nginx.ingress_class_name
        body["rules"] = [{"host": nginx.host, "http": {"paths": [{
            "path": nginx.path, "pathType": "Prefix",
            "backend": {"service": {"name": stable, "port": {"name": "http"}}}}]}}]
        return "ingress.yaml", body
    if key == "istio":
        istio = routing.istio
        assert istio is not None
        return "virtualservice.yaml", {
            "hosts": [istio.host], "gateways": list(istio.gateways),
            "http": [{"name": ROUTE_NAME, "route": [
                {"destination": {"host": stable, "port": {"number": port}}, "weight": 100},
                {"destination": {"host": canary, "port": {"number": port}}, "weight": 0},
            ]}],
        }
    gateway = routing.gateway_api
    assert gateway is not None
    body = {"parentRefs": [ref.model_dump(by_alias=True, exclude_none=True) for ref in gateway.parent_refs]}
    if gateway.hostnames:
        body["hostnames"] = list(gateway.hostnames)
    # Explicit weights: the Gateway API default is 1, which would send traffic to the canary.
    body["rules"] = [{"backendRefs": [{"name": stable, "port": port, "weight": 100},
                                      {"name": canary, "port": port, "weight": 0}]}]
    return "httproute.yaml", body


def rollout_routing(spec: Spec, name: str, namespace: str | None,
                    header_routes: bool = False) -> dict[str, Any] | None:
    """The Rollout's `canary.trafficRouting` for the chosen router (`header_routes`: the
    steps set a header route, which the Gateway API plugin adds to the HTTPRoute)."""
    key = chosen_router(spec)
    if key == "nginx":
        return {"nginx": {"stableIngress": name}}
    if key == "istio":
        return {"istio": {"virtualService": {"name": name, "routes": [ROUTE_NAME]}}}
    if key == "gatewayAPI":
        # The plugin's header-route docs name the route in `httpRoutes` with
        # `useHeaderRoutes: true`: only the routes marked so get the managed header rules.
        plugin: dict[str, Any] = ({"httpRoutes": [{"name": name, "useHeaderRoutes": True}]} if header_routes
                                  else {"httpRoute": name})
        if namespace:
            plugin["namespace"] = namespace
        return {"plugins": {GATEWAY_PLUGIN: plugin}}
    return None
