"""Issue 28: the GPU surge default never yields maxSurge 0 beside maxUnavailable 0."""

from __future__ import annotations

import pytest
from test_surge import GPU, _rollout, _spec, _validate


def _canary_and_note(tmp_path, rollout: str) -> tuple[dict, str]:
    path = _spec(tmp_path, 4, rollout, serving=GPU)
    canary = _rollout(path)["spec"]["strategy"]["canary"]
    [note] = [line for line in _validate(path).stderr.splitlines() if ": note: " in line]
    return canary, note


@pytest.mark.parametrize("zero", ["0", '"0%"'])
def test_gpu_with_only_max_unavailable_0_gets_a_surge_of_one(tmp_path, zero):
    canary, note = _canary_and_note(tmp_path, f"    maxUnavailable: {zero}\n")
    assert canary["maxSurge"] == 1 and str(canary["maxUnavailable"]).rstrip("%") == "0"
    assert "up to 5 pod(s) at once (4 replicas + 1 surge" in note and "10 nvidia.com/gpu" in note
    assert "so mlspec sets maxSurge: 1" in note


def test_neighbour_max_unavailable_1_alone_keeps_the_no_extra_gpu_default(tmp_path):
    canary, note = _canary_and_note(tmp_path, "    maxUnavailable: 1\n")
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (0, 1)
    assert "so mlspec sets maxSurge: 0" in note and "up to 4 pod(s)" in note


def test_neighbour_both_given_are_kept_and_nothing_is_chosen(tmp_path):
    canary, note = _canary_and_note(tmp_path, "    maxSurge: 1\n    maxUnavailable: 0\n")
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (1, 0)
    assert "mlspec sets" not in note
