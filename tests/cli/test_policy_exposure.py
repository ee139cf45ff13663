"""`maxFirstStepWeight` judges what the cluster will serve, not the number written:
Argo's pod arithmetic without a router (10% written is 33% at 2 replicas), a header
route on a header every client sends (all of the traffic), a mirror's copied share.
Each guard has its neighbour that passes."""

from __future__ import annotations

from fractions import Fraction

import pytest
from test_platform import _build_with_rule, _spec_edit

from mlspec.pipeline import traffic
from mlspec.spec.model import Spec

RULE = "    maxFirstStepWeight: 25"
ISTIO = "    trafficRouting: {istio: {host: churn.acme.example, gateways: [istio-ingress/public]}}\n"


def _steps(steps: str, router: str = "", serving: str = ""):
    edit = _spec_edit("  rollout:\n", f"  rollout:\n{router}    steps: {steps}\n")
    if not serving:
        return edit
    more = _spec_edit("  evaluation:\n", f"  serving: {serving}\n  evaluation:\n")
    return lambda text: more(edit(text))


def _served(replicas: int, weight: int) -> Fraction:
    """What Argo really serves at `replicas` for `setWeight: weight`, by the ported arithmetic."""
    spec = Spec.model_construct(rollout=type("R", (), {"traffic_routing": None, "strategy": "canary"})(),
                                serving=type("S", (), {"autoscaling": None, "replicas": replicas})())
    return traffic.served_share(spec, weight)[0]


def test_ten_percent_written_is_judged_as_the_third_two_pods_serve(tmp_path, monkeypatch):
    assert _served(2, 10) > 25  # the premise, from Argo's arithmetic: 1 canary + 2 stable pods
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps("[{setWeight: 10}, {setWeight: 50}]",
                                                                     serving="{replicas: 2}"))
    assert result.exit_code == 1, result.output
    shown = f"{float(_served(2, 10)):.1f}".rstrip("0").rstrip(".")
    assert f"the first canary step (setWeight 10) sends {shown}% of the traffic" in result.stderr
    assert "models/churn.yaml:21:25:" in result.stderr  # at the setWeight (line 21: after the serving line)


def test_the_same_weight_behind_a_router_is_exact_and_passes(tmp_path, monkeypatch):
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps("[{setWeight: 10}, {setWeight: 50}]", ISTIO,
                                                                     serving="{replicas: 2}"))
    assert result.exit_code == 0, result.output


def test_enough_replicas_meet_the_weight_without_a_router(tmp_path, monkeypatch):
    assert _served(10, 10) <= 25
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps("[{setWeight: 10}, {setWeight: 50}]",
                                                                     serving="{replicas: 10}"))
    assert result.exit_code == 0, result.output


def test_the_default_steps_are_judged_at_what_they_serve(tmp_path, monkeypatch):
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _spec_edit("  evaluation:\n",
                                                                         "  serving: {replicas: 2}\n  evaluation:\n"))
    assert result.exit_code == 1, result.output
    assert "the default first canary step sends 33%" in result.stderr


@pytest.mark.parametrize("header", ["user-agent", "User-Agent", "cookie", "host"])
def test_a_header_route_on_a_header_every_client_sends_is_all_of_the_traffic(tmp_path, monkeypatch, header):
    steps = f'[{{headerRoute: {{match: [{{headerName: {header}, headerValue: {{regex: ".*"}}}}]}}}}, {{pause: 1h}}, {{setWeight: 10}}]'
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps(steps, ISTIO))
    assert result.exit_code == 1, result.output
    assert f"this header route matches `{header}`, a header every client sends" in result.stderr


def test_a_header_route_only_testers_send_passes(tmp_path, monkeypatch):
    steps = '[{headerRoute: {match: [{headerName: x-canary, headerValue: {regex: ".*"}}]}}, {pause: 1h}, {setWeight: 10}]'
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps(steps, ISTIO))
    assert result.exit_code == 0, result.output


def test_a_mirror_is_judged_by_the_share_it_copies_one_past_the_bound_and_at_it(tmp_path, monkeypatch):
    _, over = _build_with_rule(tmp_path / "over", monkeypatch, RULE, _steps(
        "[{mirror: {percentage: 26}}, {pause: 10m}, {setWeight: 10}]", ISTIO))
    assert over.exit_code == 1, over.output
    assert "this step copies 26% of live requests to the canary" in over.stderr
    _, at = _build_with_rule(tmp_path / "at", monkeypatch, RULE, _steps(
        "[{mirror: {percentage: 25}}, {pause: 10m}, {setWeight: 10}]", ISTIO))
    assert at.exit_code == 0, at.output


def test_only_the_first_weight_is_bounded(tmp_path, monkeypatch):
    # the neighbour: a later step may send more; the rule is about the first exposure
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps("[{setWeight: 20}, {setWeight: 90}]", ISTIO))
    assert result.exit_code == 0, result.output


def test_an_autoscaled_model_is_judged_at_the_worst_count_of_its_range(tmp_path, monkeypatch):
    worst = max(_served(n, 10) for n in range(2, 9))
    assert worst > 25
    serving = "{autoscaling: {minReplicas: 2, maxReplicas: 8, metrics: [{cpu: 70}]}}"
    _, result = _build_with_rule(tmp_path, monkeypatch, RULE, _steps("[{setWeight: 10}, {setWeight: 50}]",
                                                                     serving=serving))
    assert result.exit_code == 1, result.output
    assert "the first canary step (setWeight 10) sends" in result.stderr
