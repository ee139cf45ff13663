"""Autoscaling (an HPA targeting the Rollout, which then has no `replicas`), the
exposure and capacity arithmetic over the autoscaler's range, and placement
(topology spread, affinity)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from mlspec.cli.main import main
from mlspec.pipeline import capacity, verify
from mlspec.pipeline.traffic import TOLERANCE

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


def _spec(tmp_path, serving: str, rollout: str = "", name: str = "s") -> str:
    path = tmp_path / f"{name}.mlspec.yaml"
    path.write_text(MINIMAL.replace("  serving:\n", f"  serving:\n{serving}", 1)
                    + (f"  rollout:\n{rollout}" if rollout else ""))
    return str(path)


def _scaling(low: int, high: int, metrics: str = "[{cpu: 70}]") -> str:
    return f"    autoscaling: {{minReplicas: {low}, maxReplicas: {high}, metrics: {metrics}}}\n"


def _objects(path: str) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["build", "--stdout", path])
    assert result.exit_code == 0, result.output
    return {d["kind"]: d for d in yaml.safe_load_all(result.stdout)}


def _stderr(path: str) -> str:
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 0, result.output
    return result.stderr


METRICS = ("[{cpu: 70}, {memory: 80}, {pods: {metric: {name: rps, selector: {matchLabels: {verb: infer}}}, "
           "target: {type: AverageValue, averageValue: \"50\"}}}, {object: {describedObject: {apiVersion: "
           "networking.k8s.io/v1, kind: Ingress, name: front}, metric: {name: hits}, target: {type: Value, "
           "value: 2k}}}, {external: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: \"30\"}}}]")


def test_the_hpa_targets_the_rollout_which_has_no_replicas(tmp_path):
    objects = _objects(_spec(tmp_path, _scaling(2, 8, METRICS)))
    hpa, rollout = objects["HorizontalPodAutoscaler"], objects["Rollout"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                             "name": rollout["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "Resource", "Pods", "Object", "External"]
    assert hpa["spec"]["metrics"][1]["resource"] == {"name": "memory", "target": {"type": "Utilization",
                                                                                  "averageUtilization": 80}}
    assert hpa["spec"]["metrics"][3]["object"]["target"] == {"type": "Value", "value": "2k"}
    # the HPA owns the count: a `replicas` in Git would be written back on every sync
    assert "replicas" not in rollout["spec"]
    assert "replicas" in _objects(_spec(tmp_path, "", name="fixed"))["Rollout"]["spec"]
    assert "HorizontalPodAutoscaler" not in _objects(_spec(tmp_path, "", name="fixed"))


def test_kubernetes_strict_schema_checks_the_hpa(tmp_path):
    objects = _objects(_spec(tmp_path, _scaling(2, 8, METRICS)))
    assert verify.full_check({"hpa.yaml": objects["HorizontalPodAutoscaler"],
                              "rollout.yaml": objects["Rollout"]}) == []
    objects["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["target"]["averageUtilisation"] = 70
    [(name, problem)] = verify.full_check({"hpa.yaml": objects["HorizontalPodAutoscaler"]})
    assert name == "hpa.yaml" and "averageUtilisation" in problem


@pytest.mark.parametrize("low, high", [(1, 1), (1, 4), (2, 3), (3, 12), (6, 40)])
def test_the_warning_is_the_worst_count_of_the_range(tmp_path, low, high):
    weights = [5, 10, 25, 50]
    steps = ", ".join(f"{{setWeight: {w}}}" for w in weights)
    lines = [line for line in _stderr(_spec(tmp_path, _scaling(low, high), f"    steps: [{steps}]\n")).splitlines()
             if ": warning: " in line]
    warned = {int(line.split("setWeight ")[1].split()[0]): line for line in lines}
    for weight in weights:
        misses = []
        for replicas in range(low, high + 1):  # every count, not only the ones mlspec looks at
            surge, _ = capacity.fenceposts_or_default(None, None, replicas)
            canary, stable = capacity.canary_stable(replicas, weight, surge)
            misses.append((abs(Fraction(100 * canary, canary + stable) - weight), -replicas, canary, stable))
        miss, replicas, canary, stable = max(misses)
        assert (weight in warned) == (miss > TOLERANCE), (weight, misses)
        if weight in warned:
            assert f"with {-replicas} replica(s) (the worst of the autoscaler's {low}..{high})" in warned[weight]
            assert f"runs {canary} canary + {stable} stable pod(s)" in warned[weight]


def test_the_capacity_note_counts_max_replicas(tmp_path):
    gpu = "    resources: {limits: {nvidia.com/gpu: 1}}\n"
    [note] = [line for line in _stderr(_spec(tmp_path, _scaling(2, 6) + gpu)).splitlines() if ": note: " in line]
    assert "runs up to 6 pod(s) at once" in note and "6 nvidia.com/gpu (1 per pod)" in note
    assert "counted at maxReplicas 6, the worst case of the autoscaler's 2..6" in note
    [plain] = [line for line in _stderr(_spec(tmp_path, _scaling(2, 4), name="p")).splitlines() if ": note: " in line]
    # no GPU: Argo's 25% surge of 4 is 1 pod
    assert "runs up to 5 pod(s) at once (4 replicas + 1 surge" in plain and ":21:35: note:" in plain  # at `maxReplicas`


@pytest.mark.parametrize("low, expected", [(1, None), (2, {"maxUnavailable": 1})])
def test_the_disruption_budget_follows_min_replicas(tmp_path, low, expected):
    pdb = _objects(_spec(tmp_path, _scaling(low, 6))).get("PodDisruptionBudget")
    assert (pdb and {k: v for k, v in pdb["spec"].items() if k != "selector"}) == expected


def test_topology_spread_and_affinity_reach_the_pods(tmp_path):
    affinity = ("    affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 10, "
                "podAffinityTerm: {labelSelector: {matchExpressions: [{key: tier, operator: In, values: [batch]}]}, "
                "topologyKey: kubernetes.io/hostname}}]}}\n")
    objects = _objects(_spec(tmp_path, "    topologySpread: [{by: zone}, {by: node, maxSkew: 2, "
                             "whenUnsatisfiable: DoNotSchedule}]\n" + affinity))
    rollout = objects["Rollout"]
    pod = rollout["spec"]["template"]["spec"]
    selector = rollout["spec"]["selector"]["matchLabels"]
    assert pod["topologySpreadConstraints"] == [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": selector}},
        {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": selector}}]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert verify.full_check({"rollout.yaml": rollout}) == []
    plain = _objects(_spec(tmp_path, "", name="plain"))["Rollout"]["spec"]["template"]["spec"]
    assert not {"affinity", "topologySpreadConstraints"} & plain.keys()


def test_platform_min_replicas_reads_the_autoscaler(tmp_path):
    (tmp_path / "platform.yaml").write_text(
        "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  policy:\n    minReplicas: 3\n")
    result = CliRunner().invoke(main, ["validate", _spec(tmp_path, _scaling(2, 6)), "--platform",
                                       str(tmp_path / "platform.yaml")])
    assert result.exit_code == 1
    assert ":21:32: error: `spec.serving.autoscaling.minReplicas` is 2; at least 3 required (policy minReplicas" \
        in result.stderr


def test_diff_reports_an_autoscaling_change_and_exposure_at_the_worst_count_of_the_range(tmp_path):
    import json

    steps = "    steps: [{setWeight: 10}]\n"
    old = _spec(tmp_path, _scaling(2, 3), steps, name="old")
    new = _spec(tmp_path, _scaling(6, 8), steps, name="new")
    result = CliRunner().invoke(main, ["diff", old, new, "--format", "json"])
    assert result.exit_code == 0, result.output
    changes = {c["field"]: c for c in json.loads(result.stdout)["changes"]}
    assert changes["autoscaling"]["old"]["maxReplicas"] == 3 and changes["autoscaling"]["new"]["minReplicas"] == 6
    # 2..3 replicas at 10%: the worst is 2 (Argo: 1 canary + 2 stable = 33.3%); 6..8: 6 (1+6 = 14.3%)
    assert changes["exposure"]["old"].startswith("10% -> 1+2 pods = 33.3% (at 2 replicas")
    assert changes["exposure"]["new"].startswith("10% -> 1+6 pods = 14.3% (at 6 replicas")


def test_the_lineage_records_no_fixed_replica_count_under_an_autoscaler(tmp_path):
    import json

    def lineage(path: str) -> dict:
        result = CliRunner().invoke(main, ["build", "--stdout", path])
        assert result.exit_code == 0, result.output
        [text] = [d["data"]["lineage.json"] for d in yaml.safe_load_all(result.stdout)
                  if d["kind"] == "ConfigMap" and "lineage.json" in d["data"]]
        return json.loads(text)["spec"]["serving"]

    scaled = lineage(_spec(tmp_path, _scaling(2, 8)))
    assert "replicas" not in scaled and scaled["autoscaling"]["maxReplicas"] == 8
    assert lineage(_spec(tmp_path, "    replicas: 3\n", name="plain"))["replicas"] == 3
