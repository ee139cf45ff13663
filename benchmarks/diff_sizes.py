#!/usr/bin/env python3
"""Size of `mlspec diff --format markdown` (the pull-request comment) for the shapes of
issue 25, each in a fresh Git repository:

  * release-2env:  the same release of examples/fraud-detector.yaml as it is;
  * release-3env:  an ordinary release (version, digest, commit, data version and
                   digest) of examples/fraud-detector.yaml with a third environment;
  * pr-20-specs:   a pull request releasing 20 specs (`run.spec`), one document;
  * every-object:  the 3-environment spec with a label every object carries changed;
  * envs-64:       a release of a spec with 64 environments.

    python3 benchmarks/diff_sizes.py              # one `mlspec diff` for all specs
    python3 benchmarks/diff_sizes.py --per-spec   # the old workflow: one call per spec, concatenated
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import spec as bench_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRAUD = (ROOT / "examples" / "fraud-detector.yaml").read_text()
THREE_ENVS = FRAUD.replace("    prod: {serving: {replicas: 6}}",
                           "    prod: {serving: {replicas: 6}}\n    canary-eu: {namespace: risk-eu, serving: {replicas: 2}}")


def release(text: str) -> str:
    """The pins an ordinary release changes: version, artifact digest, code commit, data version and digest."""
    out = text
    for old, new in (('version: "2026.11.3"', 'version: "2026.12.1"'), ("2026.11.3/", "2026.12.1/"),
                     ("sha256:2256f9ef1ae0295c618e35848c3ec45dbfe05851c00d6325d8677b1f1055572e",
                      "sha256:" + "ab" * 32),
                     ("b4a5847b0ba6971a6e05431b7091325e73c03017", "c" * 40),
                     ('version: "v42"', 'version: "v43"'),
                     ("sha256:6867541c230c6db9ce565b9e9d6502bbd18d394d18db6ec47341767109a16bc0", "sha256:" + "cd" * 32)):
        assert old in out, old
        out = out.replace(old, new)
    return out


def release_bench(i: int, text: str) -> str:
    """A release of `run.spec(i)`: a new version and artifact digest, new data version."""
    return (text.replace(f'version: "2026.11.{i}"', f'version: "2026.12.{i}"')
                .replace(f"/2026.11.{i}/", f"/2026.12.{i}/")
                .replace(f'version: "v{i}"', f'version: "v{i}b"'))


def envs_64(text: str) -> str:
    lines = "\n".join(f"    env-{n:02d}: {{namespace: risk-{n:02d}, serving: {{replicas: {2 + n % 5}}}}}" for n in range(62))
    return text.replace("    prod: {serving: {replicas: 6}}", "    prod: {serving: {replicas: 6}}\n" + lines)


def shapes() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """name -> (files at the base commit, files at the head commit), paths under models/."""
    bench = {f"model-{i:04d}.mlspec.yaml": bench_spec(i) for i in range(20)}
    return {
        "release-2env": ({"fraud.mlspec.yaml": FRAUD}, {"fraud.mlspec.yaml": release(FRAUD)}),
        "release-3env": ({"fraud.mlspec.yaml": THREE_ENVS}, {"fraud.mlspec.yaml": release(THREE_ENVS)}),
        "pr-20-specs": (bench, {k: release_bench(int(k[6:10]), v) for k, v in bench.items()}),
        "every-object": ({"fraud.mlspec.yaml": THREE_ENVS},
                         {"fraud.mlspec.yaml": THREE_ENVS.replace("labels: {team: risk}", "labels: {team: fraud}")}),
        "envs-64": ({"fraud.mlspec.yaml": envs_64(FRAUD)}, {"fraud.mlspec.yaml": release(envs_64(FRAUD))}),
    }


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.com", *args],
                   check=True, capture_output=True)


def make_repo(repo: Path, base: dict[str, str], head: dict[str, str]) -> None:
    """A repository whose HEAD holds `base` and whose working tree holds `head`."""
    (repo / "models").mkdir(parents=True)
    git(repo, "init", "-q")
    for name, text in base.items():
        (repo / "models" / name).write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    for name, text in head.items():
        (repo / "models" / name).write_text(text)


def markdown(repo: Path, per_spec: bool) -> str:
    mlspec = [os.path.abspath(os.environ.get("MLSPEC") or str(Path(sys.executable).parent / "mlspec"))]
    specs = sorted(str(p.relative_to(repo)) for p in (repo / "models").glob("*.yaml"))
    runs = [[s] for s in specs] if per_spec else [specs]
    out = []
    for args in runs:
        proc = subprocess.run([*mlspec, "diff", *args, "--base", "HEAD", "--format", "markdown"], cwd=repo,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout)
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-spec", action="store_true")
    args = parser.parse_args()
    sizes = {}
    for name, (base, head) in shapes().items():
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "repo"
            make_repo(repo, base, head)
            sizes[name] = len(markdown(repo, args.per_spec))
    print(json.dumps(sizes, indent=2))


if __name__ == "__main__":
    main()
