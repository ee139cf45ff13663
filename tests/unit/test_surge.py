"""Surge settings, the traffic-routed arithmetic (ported from Argo Rollouts
9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d, utils/replicaset/canary_test.go), the
exposure warning with a resolved surge, and the capacity note."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from mlspec.cli.main import main
from mlspec.pipeline import capacity
from mlspec.pipeline.traffic import TOLERANCE, pod_counts

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
ISTIO = "    trafficRouting: {istio: {host: churn.acme.example, gateways: [public]}}\n"


# TestCalculateReplicaCountsForCanaryTrafficRouting, and the rows of
# TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale that pass no ReplicaSets
# (with ReplicaSets the abort path first steps the weight back by `GetDesiredCanaryWeight`,
# which needs live pod counts and is not ported). On abort the desired weight is 0.
# (replicas, desired weight, dynamic, (canary weight, stable weight) or None, abort, expected)
ARGO_ROUTED = [
    (10, 10, False, None, False, (1, 10)),
    (10, 0, True, (60, 40), True, (6, 10)),    # "scale stable up as if canaries are scaled down to 0"
    (10, 10, True, (10, 90), False, (1, 9)),   # "Should scale down stable"
    (10, 20, True, (10, 90), False, (2, 9)),   # "max of desired canary (20) > actual (10)"
    (10, 0, True, (20, 80), True, (2, 10)),    # "leave canary scaled up if there is still traffic to it on abort"
    (10, 0, True, (10, 90), True, (1, 10)),    # "reduce canary when there is less traffic to it on abort"
]


@pytest.mark.parametrize("replicas, weight, dynamic, actual, abort, expected", ARGO_ROUTED)
def test_argo_traffic_routed_table(replicas, weight, dynamic, actual, abort, expected):
    assert capacity.traffic_routed(replicas, weight, dynamic, actual_weights=actual, abort=abort) == expected


def test_min_pods_per_replica_set_is_capped_at_replicas():
    # TestCalculateReplicaCountsForCanary "Cap MinPodsPerReplicaSet when it exceeds rollout replicas"
    assert capacity.traffic_routed(1, 100, False, min_pods_per_replica_set=2) == (1, 1)
    assert capacity.traffic_routed(10, 0, True, min_pods_per_replica_set=3) == (0, 10)  # zero stays zero


def _spec(tmp_path, replicas: int, rollout: str = "", serving: str = "", name: str = "s") -> str:
    text = MINIMAL.replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n{serving}", 1)
    path = tmp_path / f"{name}.mlspec.yaml"
    path.write_text(text + (f"  rollout:\n{rollout}" if rollout else ""))
    return str(path)


def _validate(path: str, *args: str):
    result = CliRunner().invoke(main, ["validate", path, *args])
    assert result.exit_code == 0, result.output
    return result


def _rollout(path: str) -> dict:
    result = CliRunner().invoke(main, ["build", "--stdout", path])
    assert result.exit_code == 0, result.output
    return next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Rollout")


@pytest.mark.parametrize("surge", [0, 1, 2, "10%", "50%"])
@pytest.mark.parametrize("replicas", [1, 2, 3, 5, 8])
def test_warning_states_the_ported_counts_with_the_given_surge(tmp_path, replicas, surge):
    weights = [5, 10, 20, 25, 33, 50, 75, 90]
    unavailable = 1 if surge == 0 else 0
    steps = ", ".join(f"{{setWeight: {w}}}" for w in weights)
    path = _spec(tmp_path, replicas, f"    maxSurge: {json.dumps(surge)}\n    maxUnavailable: {unavailable}\n"
                 f"    steps: [{steps}]\n")
    lines = [line for line in _validate(path).stderr.splitlines() if ": warning: " in line]
    warned = {int(line.split("setWeight ")[1].split()[0]): line for line in lines}
    resolved, _ = capacity.resolve_fenceposts(surge, unavailable, replicas)
    for weight in weights:
        canary, stable = capacity.canary_stable(replicas, weight, resolved)
        assert pod_counts(replicas, weight, surge, unavailable) == (canary, stable)
        share = Fraction(100 * canary, canary + stable)
        assert (weight in warned) == (abs(share - weight) > TOLERANCE), (replicas, weight, canary, stable)
        if weight in warned:
            assert f"runs {canary} canary + {stable} stable pod(s)" in warned[weight]
            assert f"gets {round(float(share), 1):g}% of the traffic" in warned[weight]


def test_surge_zero_changes_the_stated_exposure(tmp_path):
    # 2 replicas at 10%: the default surge runs 1 + 2 (33.3%); with maxSurge 0, 1 + 1 (50%)
    default = _validate(_spec(tmp_path, 2, "    steps: [{setWeight: 10}]\n", name="a")).stderr
    zero = _validate(_spec(tmp_path, 2, "    maxSurge: 0\n    steps: [{setWeight: 10}]\n", name="b")).stderr
    assert "runs 1 canary + 2 stable pod(s), so the canary gets 33.3%" in default
    assert "runs 1 canary + 1 stable pod(s), so the canary gets 50%" in zero


def test_settings_are_emitted_on_the_canary(tmp_path):
    canary = _rollout(_spec(tmp_path, 4, "    maxSurge: \"50%\"\n    maxUnavailable: 0\n"))["spec"]["strategy"]["canary"]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == ("50%", 0)
    routed = _rollout(_spec(tmp_path, 4, ISTIO + "    dynamicStableScale: true\n", name="r"))
    assert routed["spec"]["strategy"]["canary"]["dynamicStableScale"] is True
    plain = _rollout(_spec(tmp_path, 4, name="p"))["spec"]["strategy"]["canary"]
    assert not {"maxSurge", "maxUnavailable", "dynamicStableScale"} & plain.keys()


def test_blue_green_takes_max_unavailable_only(tmp_path):
    rollout = _rollout(_spec(tmp_path, 3, "    strategy: blueGreen\n    maxUnavailable: 1\n"))
    assert rollout["spec"]["strategy"]["blueGreen"]["maxUnavailable"] == 1


GPU = "    resources: {limits: {nvidia.com/gpu: 2}}\n"


def test_gpu_default_without_a_router_needs_no_extra_gpu(tmp_path):
    path = _spec(tmp_path, 6, serving=GPU)
    canary = _rollout(path)["spec"]["strategy"]["canary"]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (0, 1)
    [note] = [line for line in _validate(path).stderr.splitlines() if ": note: " in line]
    assert "runs up to 6 pod(s) at once" in note and "requests 12 nvidia.com/gpu (2 per pod)" in note
    assert "so mlspec sets maxSurge: 0, maxUnavailable: 1" in note


def test_gpu_default_with_a_router_scales_stable_down(tmp_path):
    path = _spec(tmp_path, 6, ISTIO + "    steps: [{setWeight: 10}, {setWeight: 50}]\n", serving=GPU)
    canary = _rollout(path)["spec"]["strategy"]["canary"]
    assert canary["dynamicStableScale"] is True and "maxSurge" not in canary
    # 10% -> 50%: 3 canary + 6 stable (still 90% of the traffic) = 9 pods, 18 GPUs (promotion from 50%
    # ties: 6 + 3); without dynamicStableScale promotion would be 12 pods
    [note] = [line for line in _validate(path).stderr.splitlines() if ": note: " in line]
    assert "runs up to 9 pod(s) at once (3 canary + 6 stable pods at setWeight 50" in note
    assert "requests 18 nvidia.com/gpu" in note and "so mlspec sets dynamicStableScale: true" in note


def test_a_router_without_dynamic_scale_peaks_at_twice_the_replicas(tmp_path):
    path = _spec(tmp_path, 6, ISTIO + "    dynamicStableScale: false\n", serving=GPU)
    assert "dynamicStableScale" not in _rollout(path)["spec"]["strategy"]["canary"]
    [note] = [line for line in _validate(path).stderr.splitlines() if ": note: " in line]
    assert "up to 12 pod(s) at once (6 canary + 6 stable pods at promotion" in note
    assert "mlspec sets" not in note  # the spec chose


def test_the_given_surge_is_what_the_note_counts(tmp_path):
    path = _spec(tmp_path, 6, "    maxSurge: \"25%\"\n", serving=GPU)
    [note] = [line for line in _validate(path).stderr.splitlines() if ": note: " in line]
    assert "up to 8 pod(s) at once (6 replicas + 2 surge" in note and "16 nvidia.com/gpu" in note


def test_the_note_is_in_json_and_lineage_and_never_fails_strict(tmp_path):
    path = _spec(tmp_path, 6, "    steps: [{setWeight: 50}]\n", serving=GPU)
    result = _validate(path, "--strict", "--format", "json")
    [note] = [d for d in json.loads(result.stdout) if d["severity"] == "note"]
    assert note["message"].startswith("capacity: the rollout runs up to 6 pod(s)")
    build = CliRunner().invoke(main, ["build", "--stdout", path])
    lineage = next(d for d in yaml.safe_load_all(build.stdout) if d["metadata"]["name"].endswith("-lineage"))
    record = json.loads(next(iter(lineage["data"].values())))
    assert record["capacity"] == {"peakPods": 6, "peakResources": {"nvidia.com/gpu": "12"}}


def test_no_note_without_extended_resources_or_surge_settings(tmp_path):
    assert ": note: " not in _validate(_spec(tmp_path, 4)).stderr


def test_diff_reports_a_change_of_exposure(tmp_path):
    old = _spec(tmp_path, 2, "    steps: [{setWeight: 10}, {setWeight: 50}]\n", name="old")
    new = _spec(tmp_path, 2, "    maxSurge: 0\n    steps: [{setWeight: 10}, {setWeight: 50}]\n", name="new")
    result = CliRunner().invoke(main, ["diff", old, new, "--format", "json"])
    assert result.exit_code == 0, result.output
    [change] = [c for c in json.loads(result.stdout)["changes"] if c["field"] == "exposure"]
    assert change["old"] == "10% -> 1+2 pods = 33.3%; 50% -> 1+1 pods = 50%"
    assert change["new"] == "10% -> 1+1 pods = 50%; 50% -> 1+1 pods = 50%"
    same = CliRunner().invoke(main, ["diff", old, old, "--format", "json"])
    assert not [c for c in json.loads(same.stdout)["changes"] if c["field"] == "exposure"]


def _objects(path: str) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["build", "--stdout", path])
    assert result.exit_code == 0, result.output
    return {d["kind"]: d for d in yaml.safe_load_all(result.stdout)}


@pytest.mark.parametrize("replicas, serving, expected", [
    (2, "", {"maxUnavailable": 1}),                                   # the default from 2 replicas
    (1, "", None),                                                    # one pod: a budget would block every drain
    (4, "    disruptionBudget: {minAvailable: \"50%\"}\n", {"minAvailable": "50%"}),
    (1, "    disruptionBudget: {maxUnavailable: 1}\n", {"maxUnavailable": 1}),  # asked for: kept (0 blocks drains:
    # refused, test_guarantees_placement)
    (4, "    disruptionBudget: false\n", None),
])
def test_disruption_budget(tmp_path, replicas, serving, expected):
    objects = _objects(_spec(tmp_path, replicas, serving=serving))
    pdb = objects.get("PodDisruptionBudget")
    if expected is None:
        assert pdb is None
        return
    assert pdb["apiVersion"] == "policy/v1"
    assert {k: v for k, v in pdb["spec"].items() if k != "selector"} == expected
    # the model's own pods, stable and canary alike: the Rollout's selector
    assert pdb["spec"]["selector"] == objects["Rollout"]["spec"]["selector"]


def test_kubernetes_strict_schema_checks_the_budget(tmp_path):
    from mlspec.pipeline import verify

    pdb = _objects(_spec(tmp_path, 3))["PodDisruptionBudget"]
    assert verify.full_check({"pdb.yaml": pdb}) == []
    pdb["spec"]["maxUnavailablee"] = 1
    [(name, problem)] = verify.full_check({"pdb.yaml": pdb})
    assert name == "pdb.yaml" and "maxUnavailablee" in problem


def test_one_gpu_replica_without_surge_says_it_goes_down(tmp_path):
    [note] = [line for line in _validate(_spec(tmp_path, 1, serving=GPU)).stderr.splitlines() if ": note: " in line]
    assert "runs up to 1 pod(s) at once" in note and "the model is unavailable while its pod is replaced" in note
    [surged] = [line for line in _validate(_spec(tmp_path, 1, "    maxSurge: 1\n", serving=GPU, name="t")).stderr
                .splitlines() if ": note: " in line]
    assert "runs up to 2 pod(s) at once" in surged and "unavailable" not in surged


def test_a_quantity_is_bounded_where_kubernetes_bounds_it():
    # 2^63-1 is Kubernetes' largest quantity; one more, or an exponent of a hundred million
    # digits' worth, is refused by the field type before any stage multiplies it by pods.
    from mlspec.spec.fields import _quantity

    assert _quantity(str(2**63 - 1)) == str(2**63 - 1)
    assert _quantity("7Ei") == "7Ei"
    for text in (str(2**63), "8Ei", "1e99999999"):
        with pytest.raises(ValueError, match="larger than any Kubernetes quantity"):
            _quantity(text)
