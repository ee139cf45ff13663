"""The ported Argo Rollouts replica arithmetic against Argo's own unit tests
(argoproj/argo-rollouts 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d), and the exposure
warning against the ported counts."""

from __future__ import annotations

from fractions import Fraction

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mlspec.cli.main import main
from mlspec.pipeline import capacity
from mlspec.pipeline.traffic import TOLERANCE, pod_counts

# utils/replicaset/canary_test.go TestApproximateWeightedNewStableReplicaCounts, every row:
# (replicas, weight, maxWeight, maxSurge, expCanary, expStable)
ARGO_TABLE = [
    (0, 0, 100, 0, 0, 0), (0, 50, 100, 0, 0, 0), (0, 100, 100, 0, 0, 0), (0, 0, 100, 1, 0, 0),
    (0, 50, 100, 1, 0, 0), (0, 100, 100, 1, 0, 0), (1, 0, 100, 0, 0, 1), (1, 1, 100, 0, 0, 1),
    (1, 49, 100, 0, 0, 1), (1, 50, 100, 0, 1, 0), (1, 99, 100, 0, 1, 0), (1, 100, 100, 0, 1, 0),
    (1, 0, 100, 1, 0, 1), (1, 1, 100, 1, 1, 1), (1, 49, 100, 1, 1, 1), (1, 50, 100, 1, 1, 1),
    (1, 99, 100, 1, 1, 1), (1, 100, 100, 1, 1, 0), (2, 0, 100, 0, 0, 2), (2, 1, 100, 0, 1, 1),
    (2, 50, 100, 0, 1, 1), (2, 99, 100, 0, 1, 1), (2, 100, 100, 0, 2, 0), (2, 0, 100, 1, 0, 2),
    (2, 1, 100, 1, 1, 2), (2, 50, 100, 1, 1, 1), (2, 99, 100, 1, 2, 1), (2, 100, 100, 1, 2, 0),
    (3, 10, 100, 0, 1, 2), (3, 25, 100, 0, 1, 2), (3, 33, 100, 0, 1, 2), (3, 34, 100, 0, 1, 2),
    (3, 49, 100, 0, 1, 2), (3, 50, 100, 0, 2, 1), (3, 10, 100, 1, 1, 3), (3, 25, 100, 1, 1, 3),
    (3, 33, 100, 1, 1, 2), (3, 34, 100, 1, 1, 2), (3, 49, 100, 1, 2, 2), (3, 50, 100, 1, 2, 2),
    (10, 0, 100, 1, 0, 10), (10, 1, 100, 0, 1, 9), (10, 14, 100, 0, 1, 9), (10, 15, 100, 0, 2, 8),
    (10, 16, 100, 0, 2, 8), (10, 99, 100, 0, 9, 1), (10, 100, 100, 1, 10, 0), (10, 0, 100, 1, 0, 10),
    (10, 1, 100, 1, 1, 10), (10, 18, 100, 1, 2, 9), (10, 19, 100, 1, 2, 9), (10, 20, 100, 1, 2, 8),
    (10, 23, 100, 1, 2, 8), (10, 24, 100, 1, 3, 8), (10, 25, 100, 1, 3, 8), (10, 99, 100, 1, 10, 1),
    (10, 100, 100, 1, 10, 0),
]


@pytest.mark.parametrize("replicas, weight, max_weight, surge, canary, stable", ARGO_TABLE)
def test_argo_table(replicas, weight, max_weight, surge, canary, stable):
    assert capacity.canary_stable(replicas, weight, surge, max_weight) == (canary, stable)


# utils/replicaset/replicaset_test.go TestResolveFenceposts (the rows without a parse error)
@pytest.mark.parametrize("surge, unavailable, desired, expected", [
    ("0%", "0%", 0, (0, 1)), ("39%", "39%", 10, (4, 3)), (None, "39%", 10, (0, 3)),
    ("39%", None, 10, (4, 0)), (None, None, 10, (0, 1)),
    # TestMaxSurge: an int as is, a percentage rounded up
    (5, 1, 10, (5, 1)), ("50%", 1, 10, (5, 1)),
])
def test_argo_fenceposts(surge, unavailable, desired, expected):
    assert capacity.resolve_fenceposts(surge, unavailable, desired) == expected


def test_default_surge_is_a_quarter_rounded_up():
    # Argo's defaults ("25", read as 25%): one pod of surge from 1 to 4 replicas, two from 5 to 8.
    assert [capacity.resolve_fenceposts(capacity.DEFAULT_MAX_SURGE, capacity.DEFAULT_MAX_UNAVAILABLE, r)[0]
            for r in (1, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]


@pytest.mark.parametrize("replicas, weight, counts", [
    (2, 10, (1, 2)),   # the figures: 33%, where the old model said "about 50%"
    (3, 50, (2, 2)),   # exactly 50%, not 67%
    (6, 10, (1, 6)),   # 14.3%: within 5 points of 10, no warning due
])
def test_pod_counts_use_the_default_surge(replicas, weight, counts):
    assert pod_counts(replicas, weight) == counts


MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


def _warnings(tmp_path, replicas: int, weights: list[int]) -> list[str]:
    steps = ", ".join(f"{{setWeight: {w}}}" for w in weights)
    text = MINIMAL.replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n", 1)
    path = tmp_path / f"m{replicas}.mlspec.yaml"
    path.write_text(text + f"  rollout:\n    steps: [{steps}]\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    return [line for line in result.stderr.splitlines() if ": warning: " in line]


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5, 6, 8, 10])
def test_warning_states_the_ported_counts_for_every_weight(tmp_path, replicas):
    weights = [1, 5, 10, 15, 20, 25, 30, 33, 40, 50, 60, 75, 90, 99, 100]
    warned = {int(line.split("setWeight ")[1].split()[0]): line for line in _warnings(tmp_path, replicas, weights)}
    for weight in weights:
        canary, stable = pod_counts(replicas, weight)
        share = Fraction(100 * canary, canary + stable)
        due = abs(share - weight) > TOLERANCE
        assert (weight in warned) == due, (replicas, weight, canary, stable)
        if due:
            assert f"runs {canary} canary + {stable} stable pod(s)" in warned[weight]
            assert f"gets {round(float(share), 1):g}% of the traffic" in warned[weight]


def test_exactly_the_tolerance_off_is_no_warning(tmp_path):
    # 3 replicas at 20%: Argo runs 1 canary + 3 stable = 25%, exactly 5 points off -> no warning;
    # at 19% the same pods are 6 points off -> a warning.
    assert pod_counts(3, 19) == pod_counts(3, 20) == (1, 3)
    [warning] = _warnings(tmp_path, 3, [19, 20])
    assert "setWeight 19 " in warning and "runs 1 canary + 3 stable pod(s)" in warning
    assert "gets 25% of the traffic" in warning


def test_a_percentage_is_of_the_total_rounded_down_for_unavailability():
    # intstr.GetScaledValueFromIntOrPercent: 20% of 10 is exactly 2 (and 50% of 10 exactly 5)
    assert capacity.resolve_fenceposts("0%", "20%", 10) == (0, 2)
    assert capacity.resolve_fenceposts("50%", "50%", 10) == (5, 5)


def test_argo_defaults_fill_only_the_settings_a_rollout_leaves_unset():
    # defaults.GetMaxSurgeOrDefault / GetMaxUnavailableOrDefault: 25% each when unset
    assert capacity.fenceposts_or_default(None, None, 8) == (2, 2)
    assert capacity.fenceposts_or_default(None, 3, 8) == (2, 3)
    assert capacity.fenceposts_or_default(1, None, 8) == (1, 2)
    assert capacity.fenceposts_or_default(1, 0, 8) == (1, 0)


def test_a_traffic_routed_canary_is_not_aborted_unless_said():
    # the capacity note passes the router's weights without `abort`: no abort's arithmetic then
    routed = capacity.traffic_routed(10, 0, True, actual_weights=(60, 40))
    assert routed == capacity.traffic_routed(10, 0, True, actual_weights=(60, 40), abort=False)
    assert routed != capacity.traffic_routed(10, 0, True, actual_weights=(60, 40), abort=True)


def test_no_option_left_falls_back_to_zero_canary_pods_as_argo_does():
    # 2 replicas, setWeight 75, maxSurge 0: the ceiling (2) is all replicas, the floor (1) ties
    # with it, and there is no surge, so Argo's option list is empty and its "should not get
    # here" branch runs 0 canary + 2 stable (utils/replicaset/canary.go:257-259 at 9f8d111d).
    assert capacity.canary_stable(2, 75, 0) == (0, 2)
    assert capacity.canary_stable(2, 75, 1) != (0, 2)  # with a surge there is an option
