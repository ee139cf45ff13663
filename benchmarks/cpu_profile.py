#!/usr/bin/env python3
"""Where the per-spec CPU goes: compile the benchmark's specs in one process under cProfile.

    python3 benchmarks/cpu_profile.py              # 200 specs, top 30 functions by own time
    python3 benchmarks/cpu_profile.py -n 50 --sort cumulative --top 40

Prints the time per spec without the profiler first (the fastest of 5 passes: noise only adds) (the profiler itself slows
Python code down several times), then the profile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402

from mlspec.pipeline.core import build  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="specs to compile (default 200)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime)")
    parser.add_argument("--top", type=int, default=30, help="functions to show (default 30)")
    args = parser.parse_args()
    texts = [(bench.spec(i), f"model-{i:04d}.mlspec.yaml") for i in range(args.n)]
    build(*texts[0])  # first use builds validators and compiles templates: not per-spec cost
    passes = []
    for _ in range(5):
        start = time.perf_counter()
        for text, source in texts:
            build(text, source)
        passes.append(time.perf_counter() - start)
    print(f"{args.n} specs: {min(passes) * 1000 / args.n:.2f} ms per spec (fastest of 5 passes, no profiler)")
    profiler = cProfile.Profile()
    profiler.enable()
    for text, source in texts:
        build(text, source)
    profiler.disable()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
