"""Shadow and header routes (Istio): `mirror` / `headerRoute` steps compile to
`setCanaryScale` + `setMirrorRoute` / `setHeaderRoute` with their `managedRoutes`,
removed again before the next weighted step; the online analysis starts with them;
the capacity note counts the canary pods they run without weight."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from mlspec.cli.main import main

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
ISTIO = "    trafficRouting: {istio: {host: churn.acme.example, gateways: [public]}}\n"
HEADER = "      - headerRoute: {match: [{headerName: x-canary, headerValue: {exact: \"yes\"}}]}\n"
GATEWAY = "    trafficRouting: {gatewayAPI: {parentRefs: [{name: public, namespace: gateways}]}}\n"
ANALYSIS = ("    analysis:\n      prometheus: {address: http://prometheus.monitoring:9090}\n"
            "      metrics: [{name: error-rate, query: \"sum(rate(errors[2m]))\", max: 0.5}]\n")


def _spec(tmp_path, steps: str, rollout: str = ISTIO, replicas: int = 4, name: str = "s") -> str:
    path = tmp_path / f"{name}.mlspec.yaml"
    path.write_text(MINIMAL.replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n", 1)
                    + f"  rollout:\n{rollout}    steps:\n{steps}")
    return str(path)


def _canary(path: str) -> dict:
    result = CliRunner().invoke(main, ["build", "--stdout", path])
    assert result.exit_code == 0, result.output
    rollout = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Rollout")
    return rollout["spec"]["strategy"]["canary"]


def test_a_mirror_step_scales_the_canary_then_mirrors_and_is_removed_before_weights(tmp_path):
    canary = _canary(_spec(tmp_path, "      - mirror: {percentage: 20}\n      - pause: 30m\n"
                           "      - setWeight: 10\n", rollout=ISTIO + ANALYSIS))
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "mirror"}]
    assert canary["trafficRouting"]["istio"]["virtualService"]["routes"] == ["primary"]
    assert canary["steps"][1:] == [
        {"setCanaryScale": {"weight": 20}},
        # no match would remove the route: every request is spelt out
        {"setMirrorRoute": {"name": "mirror", "percentage": 20, "match": [{"path": {"prefix": "/"}}]}},
        {"pause": {"duration": "30m"}},
        {"setMirrorRoute": {"name": "mirror"}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"setWeight": 10},
    ]
    # the online analysis judges the canary Service from the mirror on
    assert canary["analysis"]["startingStep"] == 3
    assert {"name": "service-name", "value": "churn-canary"} in canary["analysis"]["args"]


def test_header_and_mirror_routes_share_the_canary_pods(tmp_path):
    match = "[{method: {exact: POST}, headers: {x-tenant: {prefix: beta}}}]"
    canary = _canary(_spec(tmp_path, HEADER + f"      - mirror: {{percentage: 50, match: {match}}}\n"
                           "      - pause: manual\n      - setWeight: 25\n      - pause: 5m\n      - setWeight: 50\n"))
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "header"}, {"name": "mirror"}]
    steps = canary["steps"][1:]
    assert steps[:4] == [
        {"setCanaryScale": {"replicas": 1}},
        {"setHeaderRoute": {"name": "header", "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
        {"setCanaryScale": {"weight": 50}},
        {"setMirrorRoute": {"name": "mirror", "percentage": 50,
                            "match": [{"method": {"exact": "POST"}, "headers": {"x-tenant": {"prefix": "beta"}}}]}},
    ]
    removal = steps.index({"setWeight": 25})
    assert steps[removal - 3:removal] == [{"setHeaderRoute": {"name": "header"}}, {"setMirrorRoute": {"name": "mirror"}},
                                          {"setCanaryScale": {"matchTrafficWeight": True}}]
    assert [s for s in steps if "setCanaryScale" in s or "Route" in next(iter(s))][-1] == \
        {"setCanaryScale": {"matchTrafficWeight": True}}  # removed once, before the first weight only


def test_without_a_later_weight_no_removal_is_emitted(tmp_path):
    # Argo removes managed routes itself when the rollout completes or aborts
    steps = _canary(_spec(tmp_path, HEADER + "      - pause: manual\n"))["steps"][1:]
    assert steps == [{"setCanaryScale": {"replicas": 1}}, steps[1], {"pause": {}}]


def test_the_capacity_note_counts_the_mirror_pods(tmp_path):
    # dynamicStableScale: at 10% only 1 canary + 9 stable; the mirror's setCanaryScale runs 10 + 10
    steps = "      - mirror: {percentage: 100}\n      - pause: 1h\n      - setWeight: 10\n"
    gpu = ISTIO + "    dynamicStableScale: true\n"
    result = CliRunner().invoke(main, ["validate", _spec(tmp_path, steps, rollout=gpu, replicas=10)])
    assert result.exit_code == 0, result.output
    assert "runs up to 20 pod(s) at once (10 canary + 10 stable pods at the mirror (steps[0]) step" in result.stderr
    half = CliRunner().invoke(main, ["validate", _spec(tmp_path, steps.replace("100", "30"), rollout=gpu,
                                                       replicas=10, name="half")])
    # 3 + 10 at a 30% mirror is below promotion's 10 canary + 9 stable (still 90% of the traffic)
    assert "runs up to 19 pod(s) at once (10 canary + 9 stable pods at promotion" in half.stderr


def test_a_gateway_api_header_route_marks_the_httproute_and_lists_the_managed_route(tmp_path):
    # as the plugin's docs/features/header-based-routing.md shows: `managedRoutes` next to the
    # plugin config, the route in `httpRoutes` with `useHeaderRoutes: true`
    canary = _canary(_spec(tmp_path, HEADER + "      - pause: manual\n      - setWeight: 25\n", rollout=GATEWAY))
    assert canary["trafficRouting"] == {
        "managedRoutes": [{"name": "header"}],
        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoutes": [{"name": "churn", "useHeaderRoutes": True}]}}}
    assert canary["steps"][1:] == [
        {"setCanaryScale": {"replicas": 1}},
        {"setHeaderRoute": {"name": "header", "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
        {"pause": {}},
        {"setHeaderRoute": {"name": "header"}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"setWeight": 25},
    ]


def test_a_gateway_api_rollout_without_header_routes_keeps_the_single_route(tmp_path):
    canary = _canary(_spec(tmp_path, "      - setWeight: 25\n", rollout=GATEWAY))
    assert canary["trafficRouting"] == {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "churn"}}}


@pytest.mark.parametrize("rollout, steps, position, text", [
    ("", "      - mirror: {percentage: 10}\n", "30:17", "a `mirror` step needs `spec.rollout.trafficRouting.istio`"),
    ("    trafficRouting: {nginx: {host: churn.acme.example}}\n", HEADER, "31:22",
     "a `headerRoute` step needs `spec.rollout.trafficRouting.istio` or `spec.rollout.trafficRouting.gatewayAPI`: "
     "Argo Rollouts sets header routes through Istio's VirtualService or the Gateway API plugin's HTTPRoute; "
     "this spec routes with nginx"),
    (GATEWAY, "      - mirror: {percentage: 10}\n", "31:17",
     "a `mirror` step needs `spec.rollout.trafficRouting.istio`: Argo Rollouts sets mirror routes through "
     "Istio's VirtualService; this spec routes with gatewayAPI"),
    (ISTIO, "      - headerRoute: {match: []}\n", "31:22", "a header route needs `match`"),
    (ISTIO, "      - headerRoute: {}\n", "31:22", "a header route needs `match`"),
    (ISTIO, "      - mirror: {percentage: 0}\n", "31:30", "mirror.percentage`"),
    (ISTIO, "      - mirror: {percentage: 101}\n", "31:30", "mirror.percentage`"),
    (ISTIO, "      - mirror: {percentage: 10, match: [{path: {exact: /a, prefix: /b}}]}\n", "31:49",
     "a match is exactly one of `exact`, `prefix`, `regex`"),
    (ISTIO, "      - {mirror: {percentage: 10}, setWeight: 10}\n", "31:9",
     "a canary step has exactly one of `setWeight`, `pause`, `mirror` or `headerRoute`"),
])
def test_bad_route_steps_are_positioned_and_write_nothing(tmp_path, rollout, steps, position, text):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", _spec(tmp_path, steps, rollout=rollout), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert not out.exists()
    assert any(f".yaml:{position}: error: " in line and text in line for line in result.stderr.splitlines()), \
        result.stderr
