"""The cost of the credential and text scan (`scan.text_problems`) per example spec, in
process: CPU time of the fastest of 15 passes of 100 scans each (noise only adds), in
microseconds. Set PYTHONPATH to another checkout's package to compare two versions.

    .venv/bin/python benchmarks/secret_scan.py
"""

from __future__ import annotations

import time
from pathlib import Path

from mlspec.files import loader
from mlspec.spec.check import text_problems  # the scan `check.validate` runs (before: defined in check)

ROOT = Path(__file__).resolve().parent.parent
PASSES, SCANS = 15, 100


def scan_cost(path: Path) -> float:
    """Microseconds of one scan of the spec at `path` (the fastest pass)."""
    doc = loader.load(path.read_bytes(), str(path))
    best = float("inf")
    for _ in range(PASSES):
        start = time.process_time()
        for _ in range(SCANS):
            found = list(text_problems(doc))
        best = min(best, (time.process_time() - start) / SCANS)
    assert not found, found  # the examples carry no credential: the scan's common case
    return best * 1e6


def main() -> None:
    rows = [(p.name, scan_cost(p)) for p in sorted((ROOT / "examples").glob("*.yaml"))]
    width = max(len(name) for name, _ in rows)
    for name, cost in rows:
        print(f"{name:{width}}  {cost:8.1f} µs")
    print(f"{'total':{width}}  {sum(c for _, c in rows):8.1f} µs")


if __name__ == "__main__":
    main()
