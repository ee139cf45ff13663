"""What a rollout asks of the cluster (DESIGN.md "Rollout capacity"): the surge settings
mlspec puts on the Rollout, the pods and extended resources (GPUs) it needs at its peak,
and the capacity note that states them.

The counts come from Argo Rollouts' own arithmetic (`capacity`): without a router,
`canary_stable` at each `setWeight` and at most `replicas + maxSurge` while pods are
replaced; with a router, `traffic_routed` (a second full set at promotion unless
`dynamicStableScale`); blue-green runs the preview at full size beside the active set.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

from mlspec.files.loader import Path
from mlspec.pipeline import autoscaling, capacity, traffic
from mlspec.spec.fields import quantity_value
from mlspec.spec.model import Spec


@dataclass(frozen=True)
class Settings:
    """The surge settings of one release; None = not emitted (Argo's default applies)."""

    max_surge: int | str | None
    max_unavailable: int | str | None
    dynamic_stable_scale: bool
    gpu_default: str | None  # what mlspec chose because serving asks for a GPU, for the note


def extended_resources(resources: dict[str, dict[str, str]]) -> dict[str, str]:
    """Per-pod extended resources (`nvidia.com/gpu`: a name with a `/`), request = limit."""
    return {k: v for k, v in resources["limits"].items() if "/" in k}


def settings(spec: Spec, resources: dict[str, dict[str, str]], routed: bool) -> Settings:
    """The spec's own settings, or the GPU default when serving asks for a GPU and the
    spec leaves the surge unset: no pod beyond `replicas` (no router), stable pods scaled
    down as traffic leaves them (router). Blue-green has no such setting: it needs 2x."""
    rollout = spec.rollout
    surge, unavailable, dynamic = rollout.max_surge, rollout.max_unavailable, bool(rollout.dynamic_stable_scale)
    gpus = sorted(k for k in extended_resources(resources) if "gpu" in k)
    chosen: str | None = None
    if gpus and rollout.strategy == "canary":
        if not routed and surge is None and _zero(unavailable):
            # the spec forbids taking a pod down: 0/0 would never replace one (Argo rejects
            # it), so the one extra pod (and its GPUs) the spec's own choice needs
            surge = 1
            chosen = "maxSurge: 1 (`maxUnavailable: 0` leaves no pod to take down, so one more pod)"
        elif not routed and surge is None:
            surge = 0
            chosen = "maxSurge: 0"
            if unavailable is None:
                unavailable = 1
                chosen += ", maxUnavailable: 1"
        elif routed and rollout.dynamic_stable_scale is None:
            dynamic = True
            chosen = "dynamicStableScale: true"
        if chosen is not None:
            chosen = f"serving asks for {', '.join(gpus)}, so mlspec sets {chosen}"
    return Settings(surge, unavailable, dynamic, chosen)


def rollout_fields(s: Settings) -> dict[str, Any]:
    """The Rollout strategy's fields for these settings (canary or blueGreen)."""
    fields: dict[str, Any] = {}
    if s.max_surge is not None:
        fields["maxSurge"] = s.max_surge
    if s.max_unavailable is not None:
        fields["maxUnavailable"] = s.max_unavailable
    if s.dynamic_stable_scale:
        fields["dynamicStableScale"] = True
    return fields


def fenceposts(s: Settings, replicas: int) -> tuple[int, int]:
    """(surge, unavailable) in pods as Argo resolves them: an unset one is Argo's 25%."""
    return capacity.fenceposts_or_default(s.max_surge, s.max_unavailable, replicas)


def problems(spec: Spec, routed: bool) -> Iterator[tuple[Path, str]]:
    rollout = spec.rollout
    at: Path = ("spec", "rollout")
    if rollout.strategy == "blueGreen":
        if rollout.max_surge is not None:
            yield (at + ("maxSurge",), "`maxSurge` is a canary setting: blueGreen always runs the preview at full "
                   "size beside the active pods (Argo takes only `maxUnavailable` there)")
        if rollout.dynamic_stable_scale is not None:
            yield (at + ("dynamicStableScale",), "`dynamicStableScale` is a canary setting (with a traffic router)")
    elif rollout.dynamic_stable_scale and not routed:
        yield (at + ("dynamicStableScale",), "`dynamicStableScale` needs `spec.rollout.trafficRouting`: without a "
               "router the pod counts are the traffic split")
    if _zero(rollout.max_surge) and _zero(rollout.max_unavailable):
        yield (at + ("maxUnavailable",), "`maxSurge` and `maxUnavailable` are both 0: no pod could ever be "
               "replaced (Argo Rollouts rejects this Rollout)")


def _zero(value: int | str | None) -> bool:
    return value is not None and str(value).rstrip("%") == "0"


@dataclass(frozen=True)
class Peak:
    pods: int
    why: str  # when the peak happens, for people
    per_pod: dict[str, str]  # extended resources per pod
    totals: dict[str, str]  # extended resources at the peak


def peak(spec: Spec, s: Settings, replicas: int, weights: list[int], routed: bool,
         resources: dict[str, dict[str, str]]) -> Peak:
    """The most pods the rollout runs at once, by Argo's arithmetic, and what they request."""
    pods, why = _peak_pods(spec, s, replicas, weights, routed)
    per_pod = extended_resources(resources)
    totals = {k: _times(v, pods) for k, v in per_pod.items()}
    return Peak(pods, why, per_pod, totals)


def _peak_pods(spec: Spec, s: Settings, replicas: int, weights: list[int], routed: bool) -> tuple[int, str]:
    if spec.rollout.strategy == "blueGreen":
        return 2 * replicas, f"{replicas} active + {replicas} preview pods before the switch"
    if not routed:
        surge, unavailable = fenceposts(s, replicas)
        best, why = replicas + surge, (f"{replicas} replicas + {surge} surge while pods are replaced" if surge else
                                       f"no pod beyond the {replicas} replica(s): {unavailable} replaced at a time")
        for w in weights:  # never above replicas + surge, stated for the record
            canary, stable = capacity.canary_stable(replicas, w, surge)
            if canary + stable > best:
                best, why = canary + stable, f"{canary} canary + {stable} stable pods at setWeight {w}"
        return best, why
    best, why, previous = replicas, f"{replicas} stable pods", 0
    for label, weight, desired, scale in canary_scales(spec):  # mirror / header steps: pods without weight
        canary, stable = capacity.traffic_routed(replicas, desired, s.dynamic_stable_scale, canary_scale=scale,
                                                 actual_weights=(weight, capacity.MAX_WEIGHT - weight))
        if canary + stable > best:
            best, why = canary + stable, f"{canary} canary + {stable} stable pods at the {label} step"
    for w in [*weights, capacity.MAX_WEIGHT]:  # the last entry: promotion to full weight
        canary, stable = capacity.traffic_routed(replicas, w, s.dynamic_stable_scale,
                                                 actual_weights=(previous, capacity.MAX_WEIGHT - previous))
        if canary + stable > best:
            at = "promotion" if w == capacity.MAX_WEIGHT else f"setWeight {w}"
            best, why = canary + stable, f"{canary} canary + {stable} stable pods at {at}"
        previous = w
    return best, why


def canary_scales(spec: Spec) -> list[tuple[str, int, int, int | None]]:
    """(step, traffic weight then, desired weight, fixed canary pods) of every
    `setCanaryScale` the steps compile to (`strategy.steps`), as Argo's
    `GetCanaryReplicasOrWeight` reads it: a mirror's `{weight: percentage}` is a desired
    weight (pods, not traffic), a header route's `{replicas: 1}` a count with weight 0."""
    out: list[tuple[str, int, int, int | None]] = []
    weight, scaled = 0, False
    for i, step in enumerate(spec.rollout.steps or []):
        if step.set_weight is not None:
            weight, scaled = step.set_weight, False
        elif step.mirror is not None:
            out.append((f"mirror (steps[{i}])", weight, step.mirror.percentage, None))
            scaled = True
        elif step.header_route is not None and not scaled:  # as strategy.steps: one pod unless mirrored
            out.append((f"headerRoute (steps[{i}])", weight, 0, 1))
            scaled = True
    return out


def _times(quantity: str, pods: int) -> str:
    total = Fraction(quantity_value(quantity)) * pods
    return str(total.numerator) if total.denominator == 1 else f"{float(total):g}"


def note(p: Peak, s: Settings, replicas: int, fewest: int | None = None) -> str:
    """The capacity note: peak pods and extended resources, and any GPU default."""
    rest = (f"{replicas} replica(s) at rest" if fewest is None else
            f"counted at maxReplicas {replicas}, the worst case of the autoscaler's {fewest}..{replicas}")
    text = f"capacity: the rollout runs up to {p.pods} pod(s) at once ({p.why}; {rest})"
    if p.totals:
        text += "; at that peak it requests " + ", ".join(
            f"{total} {name} ({p.per_pod[name]} per pod)" for name, total in sorted(p.totals.items()))
    if s.gpu_default is not None:
        text += f"; {s.gpu_default} (set it in `spec.rollout` to choose otherwise)"
    if p.pods <= replicas == 1 and fewest is None:  # no second pod to hand over to
        text += "; with 1 replica and no surge, the model is unavailable while its pod is replaced"
    return text


def record(p: Peak) -> dict[str, Any]:
    """The capacity as the lineage records it."""
    return {"peakPods": p.pods, "peakResources": dict(sorted(p.totals.items()))}


@dataclass(frozen=True)
class Plan:
    """One release's surge settings, its peak, and whether the capacity note is due."""

    settings: Settings
    peak: Peak
    replicas: int
    noted: bool  # serving asks for an extended resource, autoscales, or the spec sets the surge
    at: Path  # where the note points
    fewest: int | None = None  # the autoscaler's minReplicas (`replicas` is then its maxReplicas)

    def note(self) -> str | None:
        return note(self.peak, self.settings, self.replicas, self.fewest) if self.noted else None


def plan(spec: Spec, resources: dict[str, dict[str, str]], default_steps: list[dict[str, Any]]) -> Plan:
    """Settings and peak of a release, from its resolved serving resources."""
    routed = traffic.chosen_router(spec) is not None
    s = settings(spec, resources, routed)
    # With an autoscaler, at its most: every peak below grows with the replica count.
    fewest, replicas = autoscaling.replica_range(spec)
    weights = [w for _, w in traffic.weights(spec, default_steps)] if spec.rollout.strategy == "canary" else []
    rollout = spec.rollout
    given = [key for key, v in (("maxSurge", rollout.max_surge), ("maxUnavailable", rollout.max_unavailable),
                                ("dynamicStableScale", rollout.dynamic_stable_scale)) if v is not None]
    at: Path = ("spec", "rollout", given[0]) if given else ("spec", "serving", "resources")
    noted = bool(given or extended_resources(resources) or spec.serving.autoscaling or canary_scales(spec))
    if not given and spec.serving.autoscaling is not None:
        at = ("spec", "serving", "autoscaling", "maxReplicas")
    return Plan(s, peak(spec, s, replicas, weights, routed, resources), replicas, noted, at,
                fewest if spec.serving.autoscaling is not None else None)


def with_fields(strategy: dict[str, Any], s: Settings) -> dict[str, Any]:
    """The Rollout's strategy with the surge settings in its canary or blueGreen block."""
    (kind, block), = strategy.items()
    return {kind: {**block, **rollout_fields(s)}}


def disruption_budget(spec: Spec) -> dict[str, Any] | None:
    """The PodDisruptionBudget's bound: the spec's, or `maxUnavailable: 1` once there are
    2 replicas (with one, a budget would block every node drain); `false`: none."""
    budget = spec.serving.disruption_budget
    if budget is False:
        return None
    if budget is None:  # with an autoscaler, its fewest pods count
        return {"maxUnavailable": 1} if autoscaling.replica_range(spec)[0] >= 2 else None
    return budget.model_dump(by_alias=True, exclude_none=True)


def budget_problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    budget = spec.serving.disruption_budget
    at: Path = ("spec", "serving", "disruptionBudget")
    if budget is None or budget is False:
        return
    if (budget.max_unavailable is None) == (budget.min_available is None):
        yield (at, "a disruption budget has exactly one of `maxUnavailable` or `minAvailable`")
        return
    # The disruption controller's arithmetic (percentages round up) at the fewest pods: a
    # budget that allows no eviction there blocks every node drain (cluster upgrades stall).
    fewest = autoscaling.replica_range(spec)[0]
    key, value = (("maxUnavailable", budget.max_unavailable) if budget.max_unavailable is not None
                  else ("minAvailable", budget.min_available))
    assert value is not None
    pods = -(-int(value[:-1]) * fewest // 100) if isinstance(value, str) else value
    allowed = pods if key == "maxUnavailable" else fewest - pods
    if allowed <= 0 and fewest > 0:
        yield (at + (key,), f"`{key}: {value}` at {fewest} pod(s) allows no eviction: it blocks every node drain "
               "(cluster upgrades stall); allow one pod (`maxUnavailable: 1`), or `disruptionBudget: false` for none")
