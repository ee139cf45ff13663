"""The gate at its boundaries: bounds of exactly 0, infinite and non-numeric metrics, decimal
drops, and the in-cluster entry point (`python3 gate.py`) with its exit codes."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from mlspec.pod import gate
from mlspec.pod.gate import GateInputError, Verdict, evaluate


def one(threshold: dict, metrics: dict, baseline: dict | None = None) -> Verdict:
    [verdict] = evaluate([{"metric": "m", **threshold}], metrics, baseline)
    return verdict


@pytest.mark.parametrize("check, value, passed", [
    ("min", 0.0, True), ("min", -1e-9, False), ("min", 1e-9, True),
    ("max", 0.0, True), ("max", 1e-9, False), ("max", -1e-9, True),
])
def test_a_bound_of_zero_is_honoured_at_and_beside_the_boundary(check, value, passed):
    verdict = one({check: 0}, {"m": value})
    assert (verdict.check, verdict.bound, verdict.candidate, verdict.passed) == (check, 0.0, value, passed)
    assert verdict.baseline is None
    assert (verdict.reason == "") is passed


def test_failure_reasons_name_the_values():
    assert one({"min": 0.8}, {"m": 0.79}).reason == "0.79 < 0.8"
    assert one({"max": 0.1}, {"m": 0.2}).reason == "0.2 > 0.1"
    assert one({"maxDrop": 0.01}, {"m": 0.9}, {"m": 0.95}).reason == "dropped 0.05 > 0.01"


@pytest.mark.parametrize("candidate, passed", [(0.9, True), (0.9 - 1e-9, False), (0.95, True)])
def test_max_drop_of_zero_allows_no_drop_at_all(candidate, passed):
    verdict = one({"maxDrop": 0}, {"m": candidate}, {"m": 0.9})
    assert (verdict.passed, verdict.baseline, verdict.candidate) == (passed, 0.9, candidate)


def test_drops_are_decimal_not_float():
    # in floats 0.93 - 0.925 is 0.005000000000000004, which would fail maxDrop 0.005
    assert one({"maxDrop": 0.005}, {"m": 0.925}, {"m": 0.93}).passed
    assert not one({"maxDrop": 0.005}, {"m": 0.9249}, {"m": 0.93}).passed
    assert one({"min": 0.3}, {"m": 0.1 + 0.2}).passed  # 0.30000000000000004 >= 0.3


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), True, False, "0.9", None, [0.9]])
def test_a_candidate_metric_that_is_not_a_finite_number_fails_every_bound(value):
    for threshold in ({"min": 0}, {"max": 1}, {"maxDrop": 1}):
        verdict = one(threshold, {"m": value}, {"m": 0.5})
        assert not verdict.passed
        assert verdict.candidate is None
        assert verdict.reason == f"candidate metric not a finite number ({value!r})"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), True, "0.9"])
def test_a_baseline_metric_that_is_not_a_finite_number_fails_max_drop(value):
    verdict = one({"maxDrop": 1}, {"m": 0.5}, {"m": value})
    assert not verdict.passed
    assert (verdict.candidate, verdict.baseline) == (0.5, None)
    assert verdict.reason == f"baseline metric not a finite number ({value!r})"


def test_missing_metrics_and_a_missing_baseline_fail():
    assert one({"min": 0}, {}).reason == "candidate metric missing"
    assert one({"maxDrop": 1}, {"m": 0.5}, {}).reason == "baseline metric missing"
    no_baseline = one({"maxDrop": 1}, {"m": 0.5}, None)
    assert (no_baseline.passed, no_baseline.reason) == (False, gate.no_baseline(None))
    assert "--baseline-metrics FILE" in no_baseline.reason and "spec.rollback.previous" in no_baseline.reason
    # with a baseline version: the message names it and both ways to give its metrics
    named = gate.evaluate([{"metric": "m", "maxDrop": 1}], {"m": 0.5}, None, "1.2.0")[0]
    assert named.reason == ("no metrics of baseline 1.2.0: give them with --baseline-metrics FILE, or record them "
                            "in the ledger with `mlspec gate --record` on the spec of release 1.2.0")
    # a baseline that is there but lacks the metric is a different problem, said differently
    assert gate.evaluate([{"metric": "m", "maxDrop": 1}], {"m": 0.5}, {}, "1.2.0")[0].reason == "baseline metric missing"
    # the baseline is read for maxDrop only: min and max pass without one
    assert one({"min": 0}, {"m": 0.5}, None).passed


def test_integers_are_numbers_and_every_bound_is_checked_in_order():
    verdicts = evaluate([{"metric": "m", "min": 1, "max": 3, "maxDrop": 0},
                         {"metric": "n", "max": 5, "min": None}], {"m": 2, "n": 5}, {"m": 2})
    assert [(v.metric, v.check, v.bound, v.candidate, v.baseline, v.passed) for v in verdicts] == [
        ("m", "min", 1.0, 2.0, None, True), ("m", "max", 3.0, 2.0, None, True),
        ("m", "maxDrop", 0.0, 2.0, 2.0, True), ("n", "max", 5.0, 5.0, None, True)]
    assert all(isinstance(v.candidate, float) for v in verdicts)
    assert evaluate([], {"m": 1}) == []


def test_table_and_json():
    verdicts = evaluate([{"metric": "auc", "min": 0.8, "maxDrop": 0.01}], {"auc": 0.85}, {"auc": 0.9})
    assert gate.table(verdicts) == (
        "metric  candidate  baseline  bound         verdict\n"
        "auc     0.85       -         >= 0.8        pass\n"
        "auc     0.85       0.9       drop <= 0.01  FAIL: dropped 0.05 > 0.01")
    assert gate.table(evaluate([{"metric": "x", "max": 1}], {})).splitlines()[1] == \
        "x       -          -         <= 1   FAIL: candidate metric missing"
    data = json.loads(gate.as_json(verdicts))
    assert data["passed"] is False
    assert [v["passed"] for v in data["verdicts"]] == [True, False]
    assert data["verdicts"][1] == {"metric": "auc", "check": "maxDrop", "bound": 0.01, "candidate": 0.85,
                                   "baseline": 0.9, "passed": False, "reason": "dropped 0.05 > 0.01"}
    assert json.loads(gate.as_json(verdicts[:1]))["passed"] is True


def test_format_table_pads_to_the_widest_cell_without_trailing_blanks():
    assert gate.format_table([("a", "bb", "c"), ("ccc", "d", "")]) == "a    bb  c\nccc  d"


def test_load_metrics_errors_are_positioned(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('{"auc": 0.9}')
    assert gate.load_metrics(str(good)) == {"auc": 0.9}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "auc": 0.9,\n}')
    with pytest.raises(GateInputError) as info:
        gate.load_metrics(str(bad))
    assert str(info.value).startswith(f"{bad}:3:1: invalid JSON: ")
    assert (info.value.line, info.value.col) == (3, 1)
    listed = tmp_path / "list.json"
    listed.write_text("[0.9]")
    with pytest.raises(GateInputError, match="list.json:1:1: metrics must be a JSON object"):
        gate.load_metrics(str(listed))
    with pytest.raises(GateInputError, match="missing.json:1:1: cannot read metrics: No such file"):
        gate.load_metrics(str(tmp_path / "missing.json"))


def _entry(tmp_path, config: dict, metrics: dict, *extra: str) -> list[str]:
    (tmp_path / "gate.json").write_text(json.dumps(config))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    return ["--config", str(tmp_path / "gate.json"), "--metrics", str(tmp_path / "metrics.json"), *extra]


def test_in_cluster_entry_point_exit_codes(tmp_path, capsys):
    thresholds = [{"metric": "auc", "min": 0.8, "maxDrop": 0.01}]
    config = {"thresholds": thresholds, "baseline": {"metrics": {"auc": 0.86}}}
    assert gate.main(_entry(tmp_path, config, {"auc": 0.85})) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split() == ["auc", "0.85", "0.86", "drop", "<=", "0.01", "pass"]
    assert gate.main(_entry(tmp_path, config, {"auc": 0.84}, "--format", "json")) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False
    # a baseline measured next to the candidate replaces the recorded one, when it was written
    (tmp_path / "base.json").write_text('{"auc": 0.845}')
    assert gate.main(_entry(tmp_path, config, {"auc": 0.84}, "--baseline-metrics", str(tmp_path / "base.json"))) == 0
    capsys.readouterr()
    assert gate.main(_entry(tmp_path, config, {"auc": 0.84}, "--baseline-metrics", str(tmp_path / "none.json"))) == 1
    assert "dropped 0.02 > 0.01" in capsys.readouterr().out
    # no baseline at all: maxDrop fails closed
    assert gate.main(_entry(tmp_path, {"thresholds": thresholds, "baseline": None}, {"auc": 0.9})) == 1
    assert "no baseline: a maxDrop compares with the previous release" in capsys.readouterr().out
    # a baseline version without metrics: named, with how to give them
    assert gate.main(_entry(tmp_path, {"thresholds": thresholds, "baseline": {"version": "0.9.0", "metrics": None}},
                            {"auc": 0.9})) == 1
    assert "no metrics of baseline 0.9.0: give them with --baseline-metrics FILE" in capsys.readouterr().out


def test_in_cluster_entry_point_unreadable_inputs_exit_1(tmp_path, capsys):
    args = _entry(tmp_path, {"thresholds": []}, {"auc": 0.9})
    (tmp_path / "metrics.json").write_text("not json")
    assert gate.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'metrics.json'}:1:1: invalid JSON")
    (tmp_path / "gate.json").write_text("{")
    assert gate.main(args) == 1
    assert capsys.readouterr().err.startswith("error: ")
    (tmp_path / "bad-base.json").write_text("[]")
    args = _entry(tmp_path, {"thresholds": []}, {"auc": 0.9}, "--baseline-metrics", str(tmp_path / "bad-base.json"))
    assert gate.main(args) == 1
    assert "metrics must be a JSON object" in capsys.readouterr().err


def test_json_is_canonical_text():
    verdicts = evaluate([{"metric": "auc", "min": 0.8}], {"auc": 0.85})
    assert gate.as_json(verdicts) == """{
  "passed": true,
  "verdicts": [
    {
      "baseline": null,
      "bound": 0.8,
      "candidate": 0.85,
      "check": "min",
      "metric": "auc",
      "passed": true,
      "reason": ""
    }
  ]
}"""


def test_a_header_only_table_and_the_required_options(tmp_path, capsys):
    assert gate.format_table([("metric", "bound")]) == "metric  bound"
    for argv in ([], ["--config", "gate.json"], ["--metrics", "m.json"]):
        with pytest.raises(SystemExit) as info:
            gate.main(argv)
        assert info.value.code == 2
    assert "the following arguments are required" in capsys.readouterr().err


def test_verdicts_are_immutable_values():
    import dataclasses

    verdict = one({"min": 0.5}, {"m": 0.6})
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.passed = False  # type: ignore[misc]
    assert {verdict, one({"min": 0.5}, {"m": 0.6})} == {verdict}  # hashable, equal by value


# Metrics files are input like any other: bounded, never through a link, never a FIFO.
def _gate_cli(tmp_path, metrics):
    from click.testing import CliRunner

    from mlspec.cli.main import main

    spec = tmp_path / "m.mlspec.yaml"
    spec.write_text((ROOT / "examples" / "minimal.yaml").read_text())
    return CliRunner().invoke(main, ["gate", str(spec), "--metrics", str(metrics)])


@pytest.mark.parametrize("content, message", [
    ('{"accuracy": ' + "9" * 5000 + "}", "a number of 5000 characters; a metric may have at most 100"),
    ('{"accuracy": 0.' + "9" * 200 + "}", "a number of 202 characters"),
    ('{"accuracy": ' + "[" * 100_000 + "]" * 100_000 + "}", "metrics nest too deeply"),
])
def test_hostile_metrics_are_positioned_errors_not_internal_ones(tmp_path, content, message):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(content)
    result = _gate_cli(tmp_path, metrics)
    assert result.exit_code == 1, result.output
    assert f"{metrics}:1:1: error: {message}" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_a_metrics_fifo_link_or_oversized_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "is not a regular file" in _gate_cli(tmp_path, fifo).stderr  # refused, not waited on
    real = tmp_path / "real.json"
    real.write_text('{"accuracy": 0.99}')
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = _gate_cli(tmp_path, link)
    assert result.exit_code == 1 and f"{link}:1:1: error: is a symbolic link" in result.stderr
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse
    result = _gate_cli(tmp_path, big)
    assert result.exit_code == 1 and "metrics file is larger than 1048576 bytes" in result.stderr


def test_the_in_cluster_gate_fails_closed_without_a_traceback(tmp_path):
    import subprocess
    import sys

    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": ' + "9" * 5000 + "}")
    config = tmp_path / "gate.json"
    config.write_text('{"thresholds": [{"metric": "accuracy", "min": 0.9}]}')
    proc = subprocess.run([sys.executable, str(ROOT / "compiler" / "pod" / "gate.py"), "--config", str(config),
                           "--metrics", str(metrics)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "a number of 5000 characters" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_metrics_file_of_1_mib_is_read_whole_and_one_byte_more_is_refused(tmp_path):
    # valid JSON padded with blanks: a reader that stopped at the limit would accept the longer one
    at_limit = tmp_path / "at.json"
    at_limit.write_bytes(b'{"auc": 0.9}'.ljust(1 << 20))
    assert gate.load_metrics(str(at_limit)) == {"auc": 0.9}
    over = tmp_path / "over.json"
    over.write_bytes(b'{"auc": 0.9}'.ljust((1 << 20) + 1))
    with pytest.raises(GateInputError) as info:
        gate.load_metrics(str(over))
    assert str(info.value) == f"{over}:1:1: metrics file is larger than 1048576 bytes"


def test_a_metric_may_have_100_characters_and_its_type_is_kept(tmp_path):
    metrics = tmp_path / "m.json"
    metrics.write_text('{"n": 1' + "0" * 99 + ', "f": 0.' + "5" * 98 + ', "e": 1e3, "E": 2E1, "i": 7}')
    data = gate.load_metrics(str(metrics))
    assert data["n"] == 10 ** 99 and type(data["n"]) is int
    assert data["f"] == float("0." + "5" * 98) and type(data["f"]) is float
    assert (data["e"], data["E"], data["i"]) == (1000.0, 20.0, 7)
    assert (type(data["e"]), type(data["E"]), type(data["i"])) == (float, float, int)
    metrics.write_text('{"n": 1' + "0" * 100 + "}")
    with pytest.raises(GateInputError) as info:
        gate.load_metrics(str(metrics))
    assert str(info.value) == f"{metrics}:1:1: a number of 101 characters; a metric may have at most 100"


def test_metrics_that_are_not_utf8_are_refused_at_the_byte(tmp_path):
    metrics = tmp_path / "m.json"
    metrics.write_bytes(b'{"auc": "\xff"}')
    with pytest.raises(GateInputError) as info:
        gate.load_metrics(str(metrics))
    assert str(info.value) == f"{metrics}:1:1: metrics are not UTF-8 (byte 9)"


def test_a_metrics_file_swapped_for_a_link_after_the_check_is_still_not_followed(tmp_path, monkeypatch):
    # the link check (lstat) and the open are two calls: a writer may swap the file for a link
    # between them. Simulated here by an lstat that still sees the regular file it checked.
    import os

    real = tmp_path / "real.json"
    real.write_text('{"auc": 0.99}')
    link = tmp_path / "metrics.json"
    link.symlink_to(real)
    checked = os.lstat(real)
    monkeypatch.setattr(gate.os, "lstat", lambda path: checked)
    with pytest.raises(GateInputError) as info:
        gate.load_metrics(str(link))
    assert str(info.value).startswith(f"{link}:1:1: cannot read metrics: ")
