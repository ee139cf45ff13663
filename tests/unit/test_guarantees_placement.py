"""Issue 28: affinity values the API server rejects and disruption budgets that block
every node drain are positioned errors; the valid neighbour of each builds."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_surge import _spec

from mlspec.cli.main import main

NODE = "    affinity: {{nodeAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: {{nodeSelectorTerms: [{term}]}}}}}}\n"
POD = "    affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{term}]}}}}\n"
ZONE = "topologyKey: topology.kubernetes.io/zone"


def _expr(key: str, operator: str, values: str | None = None) -> str:
    return f"{{matchExpressions: [{{key: {key}, operator: {operator}" + (f", values: {values}" if values is not None else "") + "}]}"


# (serving lines, the key whose value the error points at (or the list entry), words) -- refused
REFUSED = {
    "node-in-without-values": (NODE.format(term=_expr("gpu", "In")), "operator", "`In` needs a non-empty `values`"),
    "node-notin-empty-values": (NODE.format(term=_expr("gpu", "NotIn", "[]")), "operator", "`NotIn` needs a non-empty"),
    "node-exists-with-values": (NODE.format(term=_expr("gpu", "Exists", "[a100]")), "values", "`Exists` takes no `values`"),
    "node-gt-not-an-integer": (NODE.format(term=_expr("cores", "Gt", "['4.5']")), "'4.5'", "`4.5` is not one"),
    "node-lt-two-values": (NODE.format(term=_expr("cores", "Lt", "['4', '8']")), "operator", "exactly one value"),
    "node-key-with-a-space": (NODE.format(term=_expr("'gpu type'", "Exists")), "key", "is not a node label key"),
    "node-match-fields-other-field": (NODE.format(term="{matchFields: [{key: metadata.uid, operator: In, values: [x]}]}"),
                                      "key", "supports only `metadata.name`"),
    "pod-in-without-values": (POD.format(term=f"{{labelSelector: {_expr('app', 'In')}, {ZONE}}}"), "operator",
                              "`In` needs a non-empty"),
    "pod-doesnotexist-with-values": (POD.format(term=f"{{labelSelector: {_expr('app', 'DoesNotExist', '[x]')}, {ZONE}}}"),
                                     "values", "`DoesNotExist` takes no `values`"),
    "pod-bad-namespace": (POD.format(term=f"{{namespaces: [ok, Bad_NS], {ZONE}}}"), "Bad_NS", "is not a namespace name"),
}
# the nearest valid neighbour of each
ACCEPTED = {
    "node-in-with-values": NODE.format(term=_expr("gpu", "In", "[a100]")),
    "node-exists-without-values": NODE.format(term=_expr("gpu", "Exists")),
    "node-gt-an-integer": NODE.format(term=_expr("cores", "Gt", "['4']")),
    "node-lt-negative-integer": NODE.format(term=_expr("cores", "Lt", "['-4']")),
    "node-prefixed-key": NODE.format(term=_expr("nvidia.com/gpu.product", "Exists")),
    "node-match-fields-name": NODE.format(term="{matchFields: [{key: metadata.name, operator: In, values: [n1]}]}"),
    "pod-in-with-values": POD.format(term=f"{{labelSelector: {_expr('app', 'In', '[x]')}, {ZONE}}}"),
    "pod-good-namespaces": POD.format(term=f"{{namespaces: [ok, ml-serving], {ZONE}}}"),
}


def _validate(tmp_path, serving: str, replicas: int = 3):
    return CliRunner().invoke(main, ["validate", _spec(tmp_path, replicas, serving=serving)])


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_affinity_the_api_server_rejects_is_a_positioned_error(tmp_path, case):
    serving, where, words = REFUSED[case]
    result = _validate(tmp_path, serving)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    text = (tmp_path / "s.mlspec.yaml").read_text().splitlines()
    row = next(i for i, t in enumerate(text, 1) if "affinity:" in t)
    line_text = text[row - 1]  # at the value of the key `where` (or at the list entry `where`)
    col = line_text.index(f"{where}: ") + len(where) + 3 if f"{where}: " in line_text else line_text.index(where) + 1
    assert line.startswith(f"{tmp_path / 's.mlspec.yaml'}:{row}:{col}: error: "), (line, col)
    assert words in line and "Traceback" not in result.output


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_the_valid_neighbour_of_each_builds(tmp_path, case):
    result = _validate(tmp_path, ACCEPTED[case])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("budget, replicas", [
    ("{maxUnavailable: 0}", 3), ('{maxUnavailable: "0%"}', 3), ('{minAvailable: "100%"}', 3),
    ("{minAvailable: 3}", 3), ("{minAvailable: 4}", 3), ('{minAvailable: "90%"}', 2),  # 90% of 2 rounds up to 2
])
def test_a_budget_that_blocks_every_drain_is_refused(tmp_path, budget, replicas):
    result = _validate(tmp_path, f"    disruptionBudget: {budget}\n", replicas)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert ": error: " in line and "allows no eviction: it blocks every node drain" in line


@pytest.mark.parametrize("budget, replicas", [
    ("{maxUnavailable: 1}", 3), ('{maxUnavailable: "1%"}', 3), ('{minAvailable: "99%"}', 200),
    ("{minAvailable: 2}", 3), ('{minAvailable: "50%"}', 2), ("false", 1),
])
def test_a_budget_one_step_short_of_blocking_builds(tmp_path, budget, replicas):
    result = _validate(tmp_path, f"    disruptionBudget: {budget}\n", replicas)
    assert result.exit_code == 0, result.output


def test_an_autoscalers_fewest_pods_judge_the_budget(tmp_path):
    scaling = "    autoscaling: {{minReplicas: {}, maxReplicas: 6, metrics: [{{cpu: 70}}]}}\n"
    for fewest, code in ((2, 1), (3, 0)):
        path = tmp_path / f"m{fewest}"
        path.mkdir()
        spec = _spec(path, 1, serving=scaling.format(fewest) + "    disruptionBudget: {minAvailable: 2}\n")
        spec_text = open(spec).read().replace("    replicas: 1\n", "")
        open(spec, "w").write(spec_text)
        result = CliRunner().invoke(main, ["validate", spec])
        assert result.exit_code == code, result.output


def test_zero_replicas_are_refused_as_a_zero_autoscaler_minimum_is(tmp_path):
    (tmp_path / "zero").mkdir()
    (tmp_path / "one").mkdir()
    zero = _validate(tmp_path / "zero", "", replicas=0)
    assert zero.exit_code == 1 and ": error: `spec.serving.replicas`: input should be greater than or equal to 1" in zero.stderr
    one = _validate(tmp_path / "one", "", replicas=1)
    assert one.exit_code == 0, one.output
    scaled = tmp_path / "scaled"
    scaled.mkdir()
    spec = _spec(scaled, 1, serving="    autoscaling: {minReplicas: 0, maxReplicas: 2, metrics: [{cpu: 70}]}\n")
    text = open(spec).read()
    open(spec, "w").write(text.replace("    replicas: 1\n", ""))
    result = CliRunner().invoke(main, ["validate", spec])
    assert result.exit_code == 1 and "`spec.serving.autoscaling.minReplicas`: input should be greater than or equal to 1" in result.stderr
