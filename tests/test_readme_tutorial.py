"""README.md's tutorial, run verbatim: every ```sh block under "## Tutorial", in order, in a
fresh Git repository, with the installed `mlspec` on the PATH. A block exits 0 unless its
marker says `(exits N)`; the happy path prints no warning; and what each step claims to
leave behind (manifests, ledger entries, the released spec, the PR comment, the rollback)
is checked in the files it really wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_docs import shell_blocks

README = ROOT / "README.md"


def tutorial_blocks(page: Path = README) -> list[tuple[int, int, str]]:
    """(line, expected exit code, code) of each tested block in the Tutorial section."""
    lines = page.read_text().splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.startswith("## Tutorial"))
    end = next((i for i, line in enumerate(lines, 1) if i > start and line.startswith("## ")), len(lines) + 1)
    out = []
    for line, kind, marker, code in shell_blocks(page):
        if start < line < end:
            assert kind == "tested" and marker.startswith("tests/test_readme_tutorial.py"), (line, marker)
            exits = re.search(r"\(exits (\d+)\)", marker)
            out.append((line, int(exits.group(1)) if exits else 0, code))
    return out


def run_tutorial(repo: Path, blocks: list[tuple[int, int, str]]) -> list[tuple[int, float, str, str]]:
    """Run each block; fail at the first whose exit code is not the one the README promises."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
           "GIT_AUTHOR_NAME": "ml", "GIT_AUTHOR_EMAIL": "ml@example.com",
           "GIT_COMMITTER_NAME": "ml", "GIT_COMMITTER_EMAIL": "ml@example.com"}
    results = []
    for line, exit_code, code in blocks:
        began = time.monotonic()
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=repo, capture_output=True, text=True,
                              env=env, timeout=300)
        if done.returncode != exit_code:
            raise AssertionError(f"README.md:{line}: exit {done.returncode}, expected {exit_code}\n"
                                 f"{done.stdout}{done.stderr}")
        results.append((line, time.monotonic() - began, done.stdout, done.stderr))
    return results


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "gitops"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    return root


def _ledger(repo: Path) -> dict:
    return yaml.safe_load((repo / "deploy" / "_ledger" / "churn.yaml").read_text())


def test_the_readme_tutorial_runs_verbatim_and_does_what_it_says(repo: Path):
    blocks = tutorial_blocks()
    assert [exit_code for _, exit_code, _ in blocks] == [0, 0, 0, 0, 0, 0, 1, 0]
    results = run_tutorial(repo, blocks)
    for line, seconds, _, _ in results:
        print(f"README.md:{line}: {seconds:.2f} s")
    stderr = "".join(err for *_, err in results)
    assert "warning:" not in stderr and "internal error" not in stderr, stderr
    # 2: the digest printed is the one the spec pins, computed from the file the tutorial wrote.
    printed = results[1][2].strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", printed)
    # 5-6: release 1.1.0 replaced the pins and remembered 1.0.0; the PR comment says so first.
    comment = (repo / "pr-comment.md").read_text()
    assert "| model version | `1.0.0` | `1.1.0` |" in comment and "| rollback target | `(none)` | `1.0.0` |" in comment
    # 7: the failed verdict is recorded; 8: history showed both releases with their verdicts.
    releases = {r["version"]: r for r in _ledger(repo)["releases"]}
    assert (releases["1.0.0"]["gate"], releases["1.1.0"]["gate"]) == ("passed", "failed")
    assert releases["1.0.0"]["pins"]["artifact"]["digest"] == printed
    history = results[7][2]
    assert re.search(r"^\s+1\.0\.0 .* passed ", history, re.M) and re.search(r"^\*\s+1\.1\.0 .* failed ", history, re.M)
    # 8: back to 1.0.0, spec and manifests alike, everything committed.
    assert _ledger(repo)["current"] == "1.0.0"
    spec = yaml.safe_load((repo / "models" / "churn.mlspec.yaml").read_text())
    assert spec["spec"]["model"]["version"] == "1.0.0"
    assert spec["spec"]["rollback"]["previous"]["version"] == "1.1.0"  # the release left, as `release` records one
    assert _ledger(repo)["rollbacks"][-1]["to"] == "1.0.0" and _ledger(repo)["rollbacks"][-1]["from"] == "1.1.0"
    rollout = yaml.safe_load((repo / "deploy" / "default" / "churn" / "rollout.yaml").read_text())
    assert rollout["metadata"]["annotations"]["mlspec.dev/artifact-digest"] == printed
    status = subprocess.run(["git", "status", "--porcelain", "--", "models", "deploy", ".mlspec"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    assert status == ""


def test_a_block_that_exits_otherwise_than_promised_stops_the_tutorial(repo: Path, tmp_path: Path):
    # The nearest wrong neighbours: a block promised to fail that succeeds, and one promised to succeed that fails.
    page = tmp_path / "page.md"
    page.write_text("## Tutorial\n\n<!-- tested: tests/test_readme_tutorial.py (exits 1) -->\n```sh\ntrue\n```\n\n"
                    "<!-- tested: tests/test_readme_tutorial.py -->\n```sh\nfalse\n```\n\n## After\n\n"
                    "<!-- tested: tests/test_readme_tutorial.py -->\n```sh\nexit 3\n```\n")
    blocks = tutorial_blocks(page=page)
    assert [(exit_code, code) for _, exit_code, code in blocks] == [(1, "true\n"), (0, "false\n")]  # not the block after
    with pytest.raises(AssertionError, match=r"exit 0, expected 1"):
        run_tutorial(repo, blocks[:1])
    with pytest.raises(AssertionError, match=r"exit 1, expected 0"):
        run_tutorial(repo, blocks[1:])
