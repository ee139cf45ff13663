"""The benchmark script still runs (tiny sizes, one run each). Nothing here is timed:
numbers come from `python3 benchmarks/run.py` and live in benchmarks/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_script_smoke_run(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    results = report["results"]
    assert {"build 1 spec (cold process)", "peer: kubectl kustomize of that output", "build 3 specs (fresh output)",
            "rebuild 3 unchanged specs", "build --check 3 unchanged specs"} <= results.keys()
    peers = [name for name in results if name.startswith("peer: bare process")]
    assert len(peers) == 2, results.keys()  # one writing, one reading the same files
    assert all(r["median_s"] > 0 and r["peak_mib"] > 0 for r in results.values())
    # the three ratios of issue 13, each a pair measured in the same run
    assert set(report["ratios"]) == {"cold build / kubectl kustomize",
                                     "fresh batch build / bare process writing the files",
                                     "build --check / bare process reading the files"}
    assert all(r > 0 for r in report["ratios"].values())
    assert report["peak_mib"] >= results["build 1 spec (cold process)"]["peak_mib"]
    for name in report["ratios"]:
        assert f"ratio {name}:" in proc.stdout


def test_generated_specs_are_valid_and_varied(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run as bench
    finally:
        sys.path.pop(0)
    from mlspec.pipeline.core import build

    results = [build(bench.spec(i), f"m{i}.yaml") for i in range(8)]
    assert {len(r.environments) for r in results} == {1, 2}
    runtimes = {json.loads(json.dumps(r.spec_record))["spec"]["serving"]["runtime"] for r in results}
    assert runtimes == {"mlserver", "triton", "torchserve", "custom"}


# Every refused case: the loader budget's, and the file layer's (a 400 MB file read only
# up to its bound, FIFOs refused unopened).
LOADER_CASES = ["alias string bomb", "empty environments", "ledger bomb", "damaged ledger", "base-60", "digit int",
                "timeout", "400 MB", "FIFO"]


def test_adversarial_cases_are_refused_with_positioned_errors(tmp_path):
    out = tmp_path / "adversarial.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--adversarial", "--smoke",
                           "--only", *LOADER_CASES, "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["adversarial"]
    assert len(rows) == 13 and all(word in " ".join(r["case"] for r in rows) for word in LOADER_CASES)
    assert [(r["case"], r["exit"], r["ok"], r["problem"]) for r in rows] == [(r["case"], 1, True, "") for r in rows]
    assert all(r["peak_mib"] > 0 for r in rows)  # measured, whatever the number
