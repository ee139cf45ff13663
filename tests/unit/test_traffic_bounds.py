"""traffic.py at its boundaries: the exposure tolerance (exactly TOLERANCE points off is
accepted, one more is a warning), pod-count rounding, and when no warning applies at all."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import ROOT
from mlspec import traffic
from mlspec.model import ModelDeployment
from mlspec.resolve import DEFAULT_STEPS
from mlspec.traffic import TOLERANCE, exposure, pod_share

MINIMAL = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())


def spec(replicas: int, rollout: dict | None = None):
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["serving"]["replicas"] = replicas
    if rollout is not None:
        doc["spec"]["rollout"] = rollout
    return ModelDeployment.model_validate(doc).spec


def warned(replicas: int, weight: int) -> list[tuple[tuple, str]]:
    return list(exposure(spec(replicas, {"steps": [{"setWeight": weight}]}), DEFAULT_STEPS))


@pytest.mark.parametrize("replicas, weight, share", [(4, 20, 25), (4, 30, 25), (5, 15, 20), (10, 5, 10), (8, 70, 75)])
def test_exactly_tolerance_points_off_is_no_warning(replicas, weight, share):
    assert TOLERANCE == 5
    assert pod_share(replicas, weight) * 100 == pytest.approx(share)
    assert abs(share - weight) == TOLERANCE
    assert warned(replicas, weight) == []


@pytest.mark.parametrize("replicas, weight, share", [(4, 19, 25), (4, 31, 25), (5, 14, 20), (10, 4, 10), (8, 69, 75)])
def test_one_point_beyond_the_tolerance_warns_with_the_real_share(replicas, weight, share):
    assert abs(share - weight) == TOLERANCE + 1
    [(at, message)] = warned(replicas, weight)
    assert at == ("spec", "rollout", "steps", 0, "setWeight")
    assert message.startswith(f"setWeight {weight} cannot be met with {replicas} replica(s) and no traffic router: ")
    assert f"the canary gets about {share}% of the traffic" in message


def test_each_step_is_checked_at_its_own_index_and_pauses_are_skipped():
    steps = [{"setWeight": 20}, {"pause": "1m"}, {"setWeight": 40}, {"setWeight": 50}]
    found = list(exposure(spec(4, {"steps": steps}), DEFAULT_STEPS))
    assert [at for at, _ in found] == [("spec", "rollout", "steps", 2, "setWeight")]


def test_default_steps_point_at_the_replica_count():
    found = list(exposure(spec(2), DEFAULT_STEPS))
    # 2 replicas: every default weight (10, 25, 50) becomes 50%; 50 is exact
    assert [(at, m.split(" cannot")[0]) for at, m in found] == [
        (("spec", "serving", "replicas"), "setWeight 10"), (("spec", "serving", "replicas"), "setWeight 25")]
    assert list(exposure(spec(20), DEFAULT_STEPS)) == []


def test_no_exposure_warning_with_a_router_or_blue_green():
    router = {"steps": [{"setWeight": 10}], "trafficRouting": {"nginx": {"host": "m.example.com"}}}
    assert list(exposure(spec(1, router), DEFAULT_STEPS)) == []
    assert list(exposure(spec(1, {"strategy": "blueGreen"}), DEFAULT_STEPS)) == []
    assert warned(1, 10)  # the same weight without either does warn


@pytest.mark.parametrize("replicas, weight, share", [
    (0, 50, 0.0), (-1, 50, 0.0), (4, 0, 0.0), (4, -1, 0.0), (0, 100, 0.0), (4, 100, 1.0), (1, 100, 1.0), (4, 150, 1.0),
    (2, 99, 2 / 3),  # round(1.98) = 2 canary pods, and still one stable pod below 100
    (10, 25, 0.3), (10, 24, 0.2),  # R*w/100 = 2.5 rounds half up; 2.4 rounds down
    (10, 1, 0.1),  # at least one canary pod
    (83, 3, 2 / 83),  # R*w/100 = 2.49: 2 canary pods (dividing by anything less than 100 would give 3)
    (1, 99, 0.5),
])
def test_pod_share_rounding_and_limits(replicas, weight, share):
    assert pod_share(replicas, weight) == pytest.approx(share)


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
