"""The model quality gate: candidate metrics against thresholds.

This module is the single implementation of the gate. `mlspec gate` imports it,
and `mlspec build` ships its source unchanged in the `<name>-gate` ConfigMap,
where the evaluation Job runs it as `python3 gate.py` after the evaluator. So it
uses the standard library only and imports nothing from mlspec.

Comparisons use decimal arithmetic on the numbers' shortest text, so that
0.93 - 0.925 is 0.005 and a `maxDrop: 0.005` does not fail by float rounding.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Sequence


@dataclass(frozen=True)
class Verdict:
    metric: str
    check: str  # "min" | "max" | "maxDrop"
    bound: float
    candidate: float | None
    baseline: float | None
    passed: bool
    reason: str


class GateInputError(Exception):
    """A metrics or config file is unreadable or not of the expected shape."""

    def __init__(self, path: str, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(f"{path}:{line}:{col}: {message}")
        self.path, self.message, self.line, self.col = path, message, line, col


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _number(metrics: dict[str, Any] | None, name: str) -> tuple[float | None, str]:
    if metrics is None:
        return None, "no baseline metrics"
    if name not in metrics:
        return None, "missing"
    value = metrics[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"not a finite number ({value!r})"
    return float(value), ""


def no_baseline(version: str | None) -> str:
    """Why a `maxDrop` cannot be checked, and how to give what it needs."""
    if version is None:
        return ("no baseline: a maxDrop compares with the previous release (`spec.rollback.previous` or "
                "`spec.evaluation.baseline`); give its metrics with --baseline-metrics FILE")
    return (f"no metrics of baseline {version}: give them with --baseline-metrics FILE, or record them in the "
            f"ledger with `mlspec gate --record` on the spec of release {version}")


def evaluate(
    thresholds: list[dict[str, Any]],
    metrics: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    baseline_version: str | None = None,
) -> list[Verdict]:
    """Check every bound of every threshold; a relative bound without a baseline value
    fails, naming the baseline `baseline_version` and how to give its metrics."""
    verdicts = []
    for t in thresholds:
        name = t["metric"]
        candidate, why = _number(metrics, name)
        for check in ("min", "max", "maxDrop"):
            if t.get(check) is None:
                continue
            bound = float(t[check])
            base, base_why = _number(baseline, name) if check == "maxDrop" else (None, "")
            if candidate is None:
                verdicts.append(Verdict(name, check, bound, None, base, False, f"candidate metric {why}"))
            elif check == "min":
                ok = _dec(candidate) >= _dec(bound)
                verdicts.append(Verdict(name, check, bound, candidate, None, ok, "" if ok else f"{candidate} < {bound}"))
            elif check == "max":
                ok = _dec(candidate) <= _dec(bound)
                verdicts.append(Verdict(name, check, bound, candidate, None, ok, "" if ok else f"{candidate} > {bound}"))
            elif base is None:
                why_not = no_baseline(baseline_version) if baseline is None else f"baseline metric {base_why}"
                verdicts.append(Verdict(name, check, bound, candidate, None, False, why_not))
            else:
                drop = _dec(base) - _dec(candidate)
                ok = drop <= _dec(bound)
                verdicts.append(Verdict(name, check, bound, candidate, base, ok, "" if ok else f"dropped {drop} > {bound}"))
    return verdicts


# A metrics file comes from an evaluator (or a CI step): bounded like every input mlspec
# reads. Standard library only: this module also runs in the evaluation pod.
MAX_METRICS_BYTES = 1 << 20
MAX_NUMBER_CHARS = 100


def _read_bounded(path: str) -> bytes:
    """At most MAX_METRICS_BYTES of the regular file `path`: never through a symbolic
    link, never waiting on a FIFO."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise GateInputError(path, "is a symbolic link; mlspec does not follow links")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise GateInputError(path, f"cannot read metrics: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise GateInputError(path, "is not a regular file (a FIFO, device or socket); metrics are read from files")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_METRICS_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_METRICS_BYTES:
        raise GateInputError(path, f"metrics file is larger than {MAX_METRICS_BYTES} bytes")
    return b"".join(chunks)


def _bounded_number(text: str) -> float | int:
    if len(text) > MAX_NUMBER_CHARS:  # int() of a huge literal is quadratic, and capped by Python
        raise ValueError(f"a number of {len(text)} characters; a metric may have at most {MAX_NUMBER_CHARS}")
    return float(text) if any(c in text for c in ".eE") else int(text)


def load_metrics(path: str) -> dict[str, Any]:
    """A flat JSON object of metric name -> number."""
    raw = _read_bounded(path)
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_bounded_number, parse_float=_bounded_number)
    except UnicodeDecodeError as exc:
        raise GateInputError(path, f"metrics are not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise GateInputError(path, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise GateInputError(path, "metrics nest too deeply: a flat JSON object of name -> number is expected") from None
    except ValueError as exc:  # a number over the bound
        raise GateInputError(path, str(exc)) from None
    if not isinstance(data, dict):
        raise GateInputError(path, "metrics must be a JSON object of name -> number")
    return data


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def table(verdicts: list[Verdict]) -> str:
    """A fixed-width table: metric, candidate, baseline, bound, verdict."""
    rows = [("metric", "candidate", "baseline", "bound", "verdict")]
    for v in verdicts:
        bound = {"min": f">= {v.bound:g}", "max": f"<= {v.bound:g}", "maxDrop": f"drop <= {v.bound:g}"}[v.check]
        verdict = "pass" if v.passed else f"FAIL: {v.reason}"
        rows.append((v.metric, _fmt(v.candidate), _fmt(v.baseline), bound, verdict))
    return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def as_json(verdicts: list[Verdict]) -> str:
    passed = all(v.passed for v in verdicts)
    return json.dumps({"passed": passed, "verdicts": [asdict(v) for v in verdicts]}, indent=2, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    """In-cluster entry point: `python3 gate.py --config gate.json --metrics metrics.json`."""
    parser = argparse.ArgumentParser(description="mlspec evaluation gate")
    parser.add_argument("--config", required=True, help="gate.json written by mlspec build")
    parser.add_argument("--metrics", required=True, help="candidate metrics written by the evaluator")
    parser.add_argument("--baseline-metrics", help="baseline metrics written by the evaluator, if any")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
        metrics = load_metrics(args.metrics)
        baseline_section = config.get("baseline") or {}
        baseline = baseline_section.get("metrics")
        if args.baseline_metrics and os.path.exists(args.baseline_metrics):
            baseline = load_metrics(args.baseline_metrics)
    except (OSError, json.JSONDecodeError, GateInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verdicts = evaluate(config["thresholds"], metrics, baseline, baseline_section.get("version"))
    print(as_json(verdicts) if args.format == "json" else table(verdicts))
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
