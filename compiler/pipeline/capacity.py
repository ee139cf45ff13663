"""What a canary rollout really runs: Argo Rollouts' own replica arithmetic, ported.

Without a traffic router Argo Rollouts approximates `setWeight` by pod counts, and it
may surge one pod above `spec.replicas` to get closer. The numbers mlspec states (the
exposure warning) must be the controller's, so this is a line-by-line port of
argoproj/argo-rollouts `utils/replicaset/canary.go` (`approximateWeightedCanaryStableReplicaCounts`,
`floorCeilingTied`, `weightDelta`) and `utils/replicaset/replicaset.go`
(`resolveFenceposts`), at commit 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d, tested
against that commit's own table (`TestApproximateWeightedNewStableReplicaCounts`).
Floating-point expressions keep Go's evaluation order, so ties resolve the same way.
"""

from __future__ import annotations

import math

MAX_WEIGHT = 100  # Argo's default `maxWeight` (no traffic router sets another)
# Argo's defaults when a Rollout sets neither (`utils/defaults`: "25", read as a percentage).
DEFAULT_MAX_SURGE: int | str = "25%"
DEFAULT_MAX_UNAVAILABLE: int | str = "25%"


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """Kubernetes' `intstr.GetValueFromIntOrPercent`: an int as is, a percentage of
    `total` rounded up (surge) or down (unavailability)."""
    if isinstance(value, int):
        return value
    percent = int(value.replace("%", ""))  # the legacy reading Argo uses: "25" is 25% too
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """`resolveFenceposts`: surge rounds up, unavailability down, an unset one is 0;
    both resolving to zero makes unavailability 1 (a surge may be impossible under a quota)."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def fenceposts_or_default(max_surge: int | str | None, max_unavailable: int | str | None,
                          desired: int) -> tuple[int, int]:
    """`resolveFenceposts` of a Rollout's own settings: one it leaves unset is Argo's
    default (`defaults.GetMaxSurgeOrDefault`, `GetMaxUnavailableOrDefault`)."""
    return resolve_fenceposts(DEFAULT_MAX_SURGE if max_surge is None else max_surge,
                              DEFAULT_MAX_UNAVAILABLE if max_unavailable is None else max_unavailable, desired)


def _floor_ceiling_tied(desired_weight: int, max_weight: int, total_replicas: int) -> bool:
    frac, _ = math.modf(float(total_replicas) * (float(desired_weight) / float(max_weight)))
    return frac == 0.5


def _weight_delta(desired_weight: int, max_weight: int, canary: int, total: int) -> float:
    actual = float(canary * max_weight) / float(total)
    return abs(actual - float(desired_weight))


def canary_stable(replicas: int, weight: int, max_surge: int, max_weight: int = MAX_WEIGHT) -> tuple[int, int]:
    """`approximateWeightedCanaryStableReplicaCounts`: the (canary, stable) pod counts
    Argo Rollouts runs for `setWeight: weight` with `replicas` and a resolved surge."""
    if replicas == 0:
        return 0, 0
    options: list[tuple[int, int]] = []  # (canary, total)
    ceil_count = math.ceil(float(replicas * weight) / float(max_weight))
    floor_count = math.floor(float(replicas * weight) / float(max_weight))
    tied = _floor_ceiling_tied(weight, max_weight, replicas)
    zero_allowed = weight == max_weight or weight == 0 or (replicas == 1 and max_surge == 0)
    if ceil_count < replicas or zero_allowed:
        options.append((ceil_count, replicas))
    if not tied and (floor_count != 0 or zero_allowed):
        options.append((floor_count, replicas))
    if max_surge > 0:
        options.append((ceil_count, replicas + 1))
        surge_tied = _floor_ceiling_tied(weight, max_weight, replicas + 1)
        if not surge_tied and (floor_count != 0 or zero_allowed):
            options.append((floor_count, replicas + 1))
    if not options:  # Argo: "should not get here"
        return 0, replicas
    best = options[0]
    best_delta = _weight_delta(weight, max_weight, *best)
    for option in options[1:]:
        delta = _weight_delta(weight, max_weight, *option)
        if delta < best_delta:  # strictly closer: the first option wins a tie, as in Argo
            best, best_delta = option, delta
    return best[0], best[1] - best[0]


def _traffic_weight_to_replicas(replicas: int, weight: int, max_weight: int) -> int:
    """`trafficWeightToReplicas`: the pods a traffic weight needs, rounded up."""
    return math.ceil(float(weight) * float(replicas) / float(max_weight))


def _min_pods(count: int, replicas: int, min_pods_per_replica_set: int | None) -> int:
    """`CheckMinPodsPerReplicaSet` (a traffic-routed canary): at least that many pods,
    capped at `replicas`; zero stays zero."""
    if count == 0 or min_pods_per_replica_set is None:
        return count
    return max(count, min(min_pods_per_replica_set, replicas))


def traffic_routed(replicas: int, desired_weight: int, dynamic_stable_scale: bool, *,
                   actual_weights: tuple[int, int] | None = None, abort: bool = False,
                   canary_scale: int | None = None, min_pods_per_replica_set: int | None = None,
                   max_weight: int = MAX_WEIGHT) -> tuple[int, int]:
    """`CalculateReplicaCountsForTrafficRoutedCanary` (same file and commit): the (canary,
    stable) pods with a traffic router, for the weight the controller wants
    (`GetCanaryReplicasOrWeight`'s result: 0 on abort) and, if known, the weights the router
    still has (canary, stable). Without `dynamicStableScale` stable stays fully scaled."""
    if canary_scale is not None:
        canary = canary_scale
    else:
        canary = _min_pods(_traffic_weight_to_replicas(replicas, desired_weight, max_weight), replicas,
                           min_pods_per_replica_set)
    if not dynamic_stable_scale:
        return canary, replicas
    stable = _traffic_weight_to_replicas(replicas, max_weight - desired_weight, max_weight)
    if actual_weights is not None:
        actual_canary, actual_stable = actual_weights
        stable = max(stable, _traffic_weight_to_replicas(replicas, actual_stable, max_weight))
        if abort:  # the canary keeps the pods its remaining traffic needs
            canary = max(_traffic_weight_to_replicas(replicas, actual_canary, max_weight), canary)
    return (_min_pods(canary, replicas, min_pods_per_replica_set),
            _min_pods(stable, replicas, min_pods_per_replica_set))
