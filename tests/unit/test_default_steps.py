"""Defaults that agree (issue 26, item 2): the default canary steps are ones the pods
really give, so the default rollout is honest about its exposure and the examples and
the scaffold validate without a warning; steps a spec sets that pods cannot meet still
warn. Shares are computed by Argo's own arithmetic (`traffic.pod_counts`), never by hand."""

from __future__ import annotations

import copy
import re
from fractions import Fraction

import pytest
import yaml
from click.testing import CliRunner
from conftest import EXAMPLES, PLATFORM_DIR, PLATFORM_EXAMPLES, ROOT

from mlspec.cli.main import main
from mlspec.pipeline import strategy, traffic
from mlspec.pipeline.traffic import TOLERANCE, exposure, pod_counts
from mlspec.spec.model import ModelDeployment

MINIMAL = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
ROUTER = {"trafficRouting": {"nginx": {"host": "churn.example.com"}}}


def spec(replicas: int, rollout: dict | None = None, surge: int | str | None = None):
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["serving"]["replicas"] = replicas
    doc["spec"]["rollout"] = dict(rollout or {})
    if surge is not None:
        doc["spec"]["rollout"]["maxSurge"] = surge
    return ModelDeployment.model_validate(doc).spec


def weights(steps: list[dict]) -> list[int]:
    return [s["setWeight"] for s in steps if "setWeight" in s]


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("surge", [None, 0, 1, "50%"])
@pytest.mark.parametrize("replicas", range(1, 26))
def test_every_default_weight_is_the_share_the_pods_really_give(replicas: int, surge) -> None:
    s = spec(replicas, surge=surge)
    unavailable = 1 if surge == 0 else None  # Argo needs one of the two above zero
    if unavailable is not None:
        s = spec(replicas, {"maxUnavailable": 1}, surge=surge)
    steps = strategy.default_steps(s, s.rollout.max_surge, s.rollout.max_unavailable)
    written = weights(steps)
    assert written == sorted(set(written))  # rising, each stage once
    for weight in written:
        canary, stable = pod_counts(replicas, weight, s.rollout.max_surge, s.rollout.max_unavailable)
        assert abs(Fraction(100 * canary, canary + stable) - weight) <= TOLERANCE, (replicas, surge, weight)
    assert list(exposure(s, steps, s.rollout.max_surge, s.rollout.max_unavailable)) == []
    # a pause follows every weight, as in the stages (docs/defaults.md)
    assert [next(iter(x)) for x in steps] == ["setWeight", "pause"] * len(written)


def test_two_pods_get_33_then_50_and_the_classic_steps_stay_where_pods_can_meet_them() -> None:
    assert weights(strategy.default_steps(spec(2))) == [33, 50]  # 1+2 pods, then 1+1
    assert weights(strategy.default_steps(spec(3))) == [25, 50]  # 1+3, then 2+2
    classic = weights(strategy.DEFAULT_STEPS)
    assert weights(strategy.default_steps(spec(2, ROUTER))) == classic  # a router gives exact weights
    assert weights(strategy.default_steps(spec(traffic.CLOSE_ENOUGH))) == classic
    assert strategy.default_steps(spec(2, {"strategy": "blueGreen"})) == strategy.DEFAULT_STEPS


def test_one_pod_without_surge_can_give_no_share_so_the_default_has_no_weighted_step() -> None:
    s = spec(1, {"maxUnavailable": 1}, surge=0)
    assert pod_counts(1, 50, 0, 1) in ((1, 0), (0, 1))  # the pod takes all the traffic or none
    assert weights(strategy.default_steps(s, 0, 1)) == []
    assert weights(strategy.default_steps(spec(1))) == [50]  # the neighbour: with surge, 1+1 pods


def test_steps_a_spec_sets_that_the_pods_cannot_meet_still_warn() -> None:
    [(at, message)] = list(exposure(spec(2, {"steps": [{"setWeight": 10}, {"pause": "5m"}]}), strategy.DEFAULT_STEPS))
    assert at == ("spec", "rollout", "steps", 0, "setWeight") and "33.3%" in message
    assert list(exposure(spec(2, {"steps": [{"setWeight": 33}, {"pause": "5m"}]}), strategy.DEFAULT_STEPS)) == []


def test_the_cli_warns_at_a_set_step_and_not_at_the_default(tmp_path) -> None:
    text = (ROOT / "examples" / "minimal.yaml").read_text().replace("  serving:\n", "  serving:\n    replicas: 2\n", 1)
    (tmp_path / "default.yaml").write_text(text)
    (tmp_path / "set.yaml").write_text(text.replace("  serving:\n", "  rollout: {steps: [{setWeight: 10}]}\n  serving:\n", 1)
                                       .replace("name: churn", "name: churn-set"))
    quiet = run("validate", tmp_path / "default.yaml")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr, quiet.stderr
    loud = run("validate", tmp_path / "set.yaml")
    assert loud.exit_code == 0 and re.search(r"set\.yaml:\d+:\d+: warning: setWeight 10 cannot be met", loud.stderr)


def test_every_example_validates_and_builds_with_zero_warnings(tmp_path) -> None:
    plat = PLATFORM_DIR / ".mlspec" / "platform.yaml"
    for args in ([*EXAMPLES], [*PLATFORM_EXAMPLES, "--platform", plat]):
        checked = run("validate", *args)
        assert checked.exit_code == 0 and "warning" not in checked.stderr, checked.stderr
        built = run("build", *args, "-o", tmp_path / "out" / str(len(args)))
        assert built.exit_code == 0 and "warning" not in built.stderr, built.stderr


def test_the_untouched_scaffold_warns_only_at_its_placeholders(tmp_path) -> None:
    spec_file = tmp_path / "churn.mlspec.yaml"
    assert run("init", "churn", "-o", spec_file).exit_code == 0
    checked = run("validate", spec_file)
    found = re.findall(r": warning: (.*)", checked.stderr)
    assert checked.exit_code == 0 and found and all("is a placeholder" in w for w in found), checked.stderr
    rendered = run("build", spec_file, "--stdout")  # the default canary of its 2 replicas: 33% then 50%
    rollout = next(d for d in yaml.safe_load_all(rendered.stdout) if d["kind"] == "Rollout")
    assert weights(rollout["spec"]["strategy"]["canary"]["steps"]) == [33, 50]


@pytest.mark.parametrize(("replicas", "refused"), [(2, True), (4, False)])
def test_max_first_step_weight_checks_the_real_default_first_weight(tmp_path, replicas: int, refused: bool) -> None:
    plat = tmp_path / "platform.yaml"
    plat.write_text("apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  policy: {maxFirstStepWeight: 25}\n")
    spec_file = tmp_path / "churn.yaml"
    spec_file.write_text((ROOT / "examples" / "minimal.yaml").read_text()
                         .replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n", 1))
    result = run("validate", spec_file, "--platform", plat)
    assert (result.exit_code == 1) is refused, result.output
    if refused:  # 2 pods: the default first step is 33%, not the 10% it aims at
        assert "the default first canary step sends 33%" in result.stderr and "maxFirstStepWeight" in result.stderr
