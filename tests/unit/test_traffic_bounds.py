"""traffic.py at its boundaries: the exposure tolerance (exactly TOLERANCE points off is
accepted, one more is a warning), with Argo's own pod counts (`capacity`, tested against
Argo's table in test_capacity.py), and when no warning applies at all."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT

from mlspec.pipeline import traffic
from mlspec.pipeline.strategy import DEFAULT_STEPS
from mlspec.pipeline.traffic import TOLERANCE, exposure, pod_counts
from pydantic import ValidationError

from mlspec.spec.model import ModelDeployment

MINIMAL = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())


def spec(replicas: int, rollout: dict | None = None):
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["serving"]["replicas"] = replicas
    if rollout is not None:
        doc["spec"]["rollout"] = rollout
    return ModelDeployment.model_validate(doc).spec


def warned(replicas: int, weight: int) -> list[tuple[tuple, str]]:
    return list(exposure(spec(replicas, {"steps": [{"setWeight": weight}]}), DEFAULT_STEPS))


# (replicas, weight, Argo's canary + stable pods, the share they give): exactly 5 points off
@pytest.mark.parametrize("replicas, weight, pods, share", [
    (3, 20, (1, 3), 25), (4, 30, (1, 3), 25), (4, 15, (1, 4), 20), (3, 80, (3, 1), 75), (2, 45, (1, 1), 50),
    (2, 55, (1, 1), 50),
])
def test_exactly_tolerance_points_off_is_no_warning(replicas, weight, pods, share):
    assert TOLERANCE == 5
    assert pod_counts(replicas, weight) == pods and 100 * pods[0] / sum(pods) == share
    assert abs(share - weight) == TOLERANCE
    assert warned(replicas, weight) == []


# the same pods one point further: a warning stating them
@pytest.mark.parametrize("replicas, weight, pods, share", [
    (3, 19, (1, 3), 25), (4, 31, (1, 3), 25), (4, 14, (1, 4), 20), (3, 81, (3, 1), 75), (2, 44, (1, 1), 50),
    (2, 56, (1, 1), 50),
])
def test_one_point_beyond_the_tolerance_warns_with_the_real_share(replicas, weight, pods, share):
    assert pod_counts(replicas, weight) == pods
    assert abs(share - weight) == TOLERANCE + 1
    [(at, message)] = warned(replicas, weight)
    assert at == ("spec", "rollout", "steps", 0, "setWeight")
    assert message.startswith(f"setWeight {weight} cannot be met with {replicas} replica(s) and no traffic router: ")
    assert f"runs {pods[0]} canary + {pods[1]} stable pod(s), so the canary gets {share}% of the traffic" in message


def test_each_step_is_checked_at_its_own_index_and_pauses_are_skipped():
    # 4 replicas: 20% -> 1 + 4 = 20%, 40% -> 2 + 3 = 40%, 49% -> 2 + 2 = 50%; 31% -> 1 + 3 = 25% warns
    steps = [{"setWeight": 20}, {"pause": "1m"}, {"setWeight": 31}, {"setWeight": 40}, {"setWeight": 49}]
    assert [pod_counts(4, w) for w in (20, 31, 40, 49)] == [(1, 4), (1, 3), (2, 3), (2, 2)]
    found = list(exposure(spec(4, {"steps": steps}), DEFAULT_STEPS))
    assert [at for at, _ in found] == [("spec", "rollout", "steps", 2, "setWeight")]


def test_default_steps_point_at_the_replica_count():
    found = list(exposure(spec(2), DEFAULT_STEPS))
    # 2 replicas: 10% and 25% are 1 canary + 2 stable (33.3%, Argo surges one pod); 50 is exact
    assert [(at, m.split(" cannot")[0]) for at, m in found] == [
        (("spec", "serving", "replicas"), "setWeight 10"), (("spec", "serving", "replicas"), "setWeight 25")]
    assert list(exposure(spec(20), DEFAULT_STEPS)) == []


def test_no_exposure_warning_with_a_router_or_blue_green():
    router = {"steps": [{"setWeight": 10}], "trafficRouting": {"nginx": {"host": "m.example.com"}}}
    assert list(exposure(spec(1, router), DEFAULT_STEPS)) == []
    assert list(exposure(spec(1, {"strategy": "blueGreen"}), DEFAULT_STEPS)) == []
    assert warned(1, 10)  # the same weight without either does warn


@pytest.mark.parametrize("replicas, weight, pods", [
    (0, 50, (0, 0)), (4, 0, (0, 4)), (4, 100, (4, 0)), (1, 100, (1, 0)),
    (1, 10, (1, 1)),   # one replica surges to a second pod rather than send nothing
    (10, 5, (1, 10)),  # at least one canary pod, beside every stable one (surge)
    (20, 10, (2, 18)), (6, 50, (3, 3)),
])
def test_pod_counts_at_the_edges(replicas, weight, pods):
    assert pod_counts(replicas, weight) == pods


def test_the_routers_are_named_in_yaml_terms():
    assert [key for _, key, _ in traffic.ROUTERS] == ["nginx", "istio", "gatewayAPI"]
    assert traffic.chosen_router(spec(2)) is None
    gateway = {"trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}}}
    assert traffic.chosen_router(spec(2, gateway)) == "gatewayAPI"
    assert traffic.rollout_routing(spec(2), "m", None) is None
    assert traffic.rollout_routing(spec(2, gateway), "m", None) == {"plugins": {traffic.GATEWAY_PLUGIN: {"httpRoute": "m"}}}
    assert traffic.rollout_routing(spec(2, gateway), "m", "ns") == {
        "plugins": {traffic.GATEWAY_PLUGIN: {"httpRoute": "m", "namespace": "ns"}}}
    assert traffic.router_object(spec(2), "s", "c", 8080) is None
    # `trafficRouting: {}` (refused by check, with its own message) names no router: no object either
    assert traffic.router_object(spec(2, {"trafficRouting": {}}), "s", "c", 8080) is None
    assert traffic.rollout_routing(spec(2, {"trafficRouting": {}}), "m", None) is None


def test_router_objects_carry_optional_fields_only_when_given():
    nginx = {"trafficRouting": {"nginx": {"host": "m.example.com"}}}
    name, body = traffic.router_object(spec(2, nginx), "s", "c", 8080)
    assert name == "ingress.yaml" and "ingressClassName" not in body
    assert body["rules"] == [{"host": "m.example.com", "http": {"paths": [{
        "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"name": "http"}}}}]}}]
    nginx["trafficRouting"]["nginx"].update(ingressClassName="nginx", path="/m")
    _, body = traffic.router_object(spec(2, nginx), "s", "c", 8080)
    assert body["ingressClassName"] == "nginx" and body["rules"][0]["http"]["paths"][0]["path"] == "/m"
    assert traffic.rollout_routing(spec(2, nginx), "m", "ns") == {"nginx": {"stableIngress": "m"}}
    gateway = {"trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}}}
    listener = {"trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw", "sectionName": "https"}],
                                                  "hostnames": ["m.example.com"]}}}
    _, body = traffic.router_object(spec(2, listener), "s", "c", 9000)
    assert (body["parentRefs"], body["hostnames"]) == ([{"name": "gw", "sectionName": "https"}], ["m.example.com"])
    name, body = traffic.router_object(spec(2, gateway), "s", "c", 9000)
    assert name == "httproute.yaml" and "hostnames" not in body
    assert body == {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
        {"name": "s", "port": 9000, "weight": 100}, {"name": "c", "port": 9000, "weight": 0}]}]}
    istio = {"trafficRouting": {"istio": {"host": "m.example.com", "gateways": ["gw/public", "mesh"]}}}
    name, body = traffic.router_object(spec(2, istio), "s", "c", 9000)
    assert name == "virtualservice.yaml"
    assert body == {"hosts": ["m.example.com"], "gateways": ["gw/public", "mesh"], "http": [{"name": "primary", "route": [
        {"destination": {"host": "s", "port": {"number": 9000}}, "weight": 100},
        {"destination": {"host": "c", "port": {"number": 9000}}, "weight": 0}]}]}
    assert traffic.rollout_routing(spec(2, istio), "m", None) == {
        "istio": {"virtualService": {"name": "m", "routes": ["primary"]}}}


def test_problems_of_the_rollout_section():
    assert list(traffic.problems(spec(2))) == []
    assert list(traffic.problems(spec(2, {"trafficRouting": {}}))) == [
        (("spec", "rollout", "trafficRouting"), "name the router: `nginx`, `istio` or `gatewayAPI`")]
    two = {"trafficRouting": {"nginx": {"host": "a.example.com"}, "istio": {"host": "a.example.com", "gateways": ["g"]}}}
    assert list(traffic.problems(spec(2, two))) == [
        (("spec", "rollout", "trafficRouting", "istio"), "one traffic router only; this spec names nginx and istio")]
    assert traffic.chosen_router(spec(2, two)) == "nginx"  # the first, for the objects of a spec already refused
    blue = list(traffic.problems(spec(2, {"strategy": "blueGreen", "steps": [{"setWeight": 10}],
                                         "trafficRouting": {"nginx": {"host": "a.example.com"}}})))
    assert [at for at, _ in blue] == [("spec", "rollout", "steps"), ("spec", "rollout", "trafficRouting")]
    assert list(traffic.problems(spec(2, {"strategy": "blueGreen", "blueGreen": {"autoPromotion": True}}))) == []
    assert list(traffic.problems(spec(2, {"blueGreen": {"autoPromotion": True}}))) == [
        (("spec", "rollout", "blueGreen"), "`blueGreen` settings need `strategy: blueGreen`")]


def scaled(low: int, high: int, rollout: dict | None = None):
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["serving"]["autoscaling"] = {"minReplicas": low, "maxReplicas": high, "metrics": [{"cpu": 70}]}
    if rollout is not None:
        doc["spec"]["rollout"] = rollout
    return ModelDeployment.model_validate(doc).spec


def steps(*weights: int) -> dict:
    return {"steps": [{"setWeight": w} for w in weights]}


def test_no_pods_are_refused_like_an_autoscalers_zero_minimum():
    # `replicas: 0` ran no pod at all (the canary's share was 0%, no analysis ran); it is now
    # refused, as `autoscaling.minReplicas: 0` is (issue 28); 1 is the least
    with pytest.raises(ValidationError):
        spec(0, steps(10))
    assert spec(1, steps(10)).serving.replicas == 1


def test_the_worst_count_of_the_range_is_reported_not_the_first_last_or_closest():
    # 75% over 4..7 replicas: 3+1 = 75%, 4+1 = 80%, 5+2 = 71.4%, 6+2 = 75%: the worst is 5, inside the range
    assert [pod_counts(r, 75) for r in (4, 5, 6, 7)] == [(3, 1), (4, 1), (5, 2), (6, 2)]
    assert traffic.shares(scaled(4, 7, steps(75)), DEFAULT_STEPS) == [
        "75% -> 4+1 pods = 80% (at 5 replicas, the worst of the autoscaler's range)"]


def test_a_tie_for_the_worst_names_the_first_count():
    # 60% over 2..4: 2 replicas and 3 both run 2 + 1 pods (66.7%), 4 run 3 + 2 (60%)
    assert [pod_counts(r, 60) for r in (2, 3, 4)] == [(2, 1), (2, 1), (3, 2)]
    [(at, message)] = list(exposure(scaled(2, 4, steps(60)), DEFAULT_STEPS))
    assert message.startswith("setWeight 60 cannot be met with 2 replica(s) (the worst of the autoscaler's 2..4) ")
    assert "runs 2 canary + 1 stable pod(s), so the canary gets 66.7% of the traffic" in message


def test_the_range_is_searched_up_to_close_enough_and_no_further():
    assert traffic.CLOSE_ENOUGH == 20  # 100 / TOLERANCE: from 20 replicas on, a count meets any weight within 5
    # 6% at 19 replicas: 1 + 18 = 5.3%; at 20: 1 + 19 = 5% (worse); at 21: 1 + 20 = 4.8% (worse still)
    assert [pod_counts(r, 6) for r in (19, 20, 21)] == [(1, 18), (1, 19), (1, 20)]
    # the autoscaler's 19..20: the worst is its last count, 20, included in the search
    assert traffic.shares(scaled(19, 20, steps(6)), DEFAULT_STEPS) == [
        "6% -> 1+19 pods = 5% (at 20 replicas, the worst of the autoscaler's range)"]
    # a fixed count is that count only, never one more
    assert traffic.shares(spec(19, steps(6)), DEFAULT_STEPS) == ["6% -> 1+18 pods = 5.3%"]
    # a range past CLOSE_ENOUGH still names its worst count (2: 1 + 2 pods = 33.3% for 10%)
    [(at, message)] = list(exposure(scaled(2, 40, steps(10)), DEFAULT_STEPS))
    assert "with 2 replica(s) (the worst of the autoscaler's 2..40)" in message and "gets 33.3% of" in message


def test_the_share_diff_states_is_the_worst_of_the_whole_range_past_close_enough():
    # 19..25 at 6%: no count misses by TOLERANCE (no warning), but the worst count is 21 or
    # later, not 20: diff states the share of the worst count Argo's arithmetic gives.
    assert list(exposure(scaled(19, 25, steps(6)), DEFAULT_STEPS)) == []
    counts = {r: pod_counts(r, 6) for r in range(19, 26)}
    worst = max(counts, key=lambda r: abs(100 * counts[r][0] / sum(counts[r]) - 6))
    assert worst > traffic.CLOSE_ENOUGH
    canary, stable = counts[worst]
    assert traffic.shares(scaled(19, 25, steps(6)), DEFAULT_STEPS) == [
        f"6% -> {canary}+{stable} pods = {round(100 * canary / (canary + stable), 1):g}% (at {worst} replicas, "
        "the worst of the autoscaler's range)"]


def test_shares_as_diff_compares_them():
    assert traffic.shares(spec(2, steps(10, 50)), DEFAULT_STEPS) == ["10% -> 1+2 pods = 33.3%", "50% -> 1+1 pods = 50%"]
    assert traffic.shares(spec(2), DEFAULT_STEPS) == [
        "10% -> 1+2 pods = 33.3%", "25% -> 1+2 pods = 33.3%", "50% -> 1+1 pods = 50%"]
    router = {**steps(10, 50), "trafficRouting": {"nginx": {"host": "m.example.com"}}}
    assert traffic.shares(spec(2, router), DEFAULT_STEPS) == ["10% exact (router)", "50% exact (router)"]
    assert traffic.shares(spec(2, {"strategy": "blueGreen"}), DEFAULT_STEPS) == [
        "blueGreen: all traffic switches at promotion"]


def test_gateway_header_routes_mark_the_route_for_the_plugin():
    # the plugin adds its managed header rules only to the routes marked `useHeaderRoutes: true`
    gateway = {"trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}}}
    assert traffic.rollout_routing(spec(2, gateway), "m", "ns", header_routes=True) == {"plugins": {
        traffic.GATEWAY_PLUGIN: {"httpRoutes": [{"name": "m", "useHeaderRoutes": True}], "namespace": "ns"}}}
