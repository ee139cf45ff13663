"""Writes confined without `--root`: a committed link on the way to `build -o DIR` or
`gate --record -o DIR` (a parent of DIR, or DIR itself) carried every write out of the
repository. The root is then the current directory, or the repository that holds DIR.
Each attack asserts the refusal naming the link, exit 1, and nothing written anywhere."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from test_paths import LINK, MINIMAL, run, snapshot


@pytest.fixture()
def repo(tmp_path):
    """A Git repository whose `deploy` is a committed link to a directory outside it."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "churn.mlspec.yaml").write_text(MINIMAL)
    (root / "metrics.json").write_text(json.dumps({"f1": 0.9}))
    os.symlink("../outside", root / "deploy")
    return root


def assert_refused(result, shown: str, tmp_path, before: str) -> None:
    assert result.exit_code == 1, result.output
    assert f"{shown}:1:1: error: {LINK}" in result.stderr, result.stderr
    assert "Traceback" not in result.output and snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["deploy", "deploy/envs", "./deploy/envs/x"])
def test_build_and_gate_refuse_a_linked_parent_of_a_relative_output(repo, tmp_path, out):
    before = snapshot(tmp_path)
    for args in (["build", "churn.mlspec.yaml", "-o", out],
                 ["build", "churn.mlspec.yaml", "-o", out, "--check"],
                 ["gate", "churn.mlspec.yaml", "--metrics", "metrics.json", "--record", "-o", out],
                 ["ledger", "migrate", "-o", out], ["rollback", "churn", "--to", "1.0.0", "-o", out]):
        assert_refused(run(*args, cwd=repo), "deploy", tmp_path, before)


def test_an_absolute_output_is_checked_from_the_repository_holding_it(repo, tmp_path):
    """Run from outside the repository: the root is the directory holding `.git`."""
    before = snapshot(tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    before = snapshot(tmp_path)
    for args in (["build", repo / "churn.mlspec.yaml", "-o", repo / "deploy" / "envs"],
                 ["gate", repo / "churn.mlspec.yaml", "--metrics", repo / "metrics.json", "--record",
                  "-o", repo / "deploy" / "envs"]):
        assert_refused(run(*args, cwd=elsewhere), str(repo / "deploy"), tmp_path, before)


def test_gate_takes_root_like_build(repo, tmp_path):
    before = snapshot(tmp_path)
    result = run("gate", "churn.mlspec.yaml", "--metrics", "metrics.json", "--record", "-o", "deploy/x",
                 "--root", ".", cwd=repo)
    assert_refused(result, "deploy", tmp_path, before)
    result = run("gate", "../outside/m.yaml", "--metrics", "metrics.json", "--root", ".", cwd=repo)
    assert result.exit_code == 1 and "`..` is not allowed here" in result.stderr, result.output


def test_a_real_output_directory_in_the_repository_is_written(repo, tmp_path):
    os.unlink(repo / "deploy")
    result = run("build", "churn.mlspec.yaml", "-o", "deploy", cwd=repo)
    assert result.exit_code == 0, result.output
    assert (repo / "deploy" / "default" / "churn" / "kustomization.yaml").is_file()
    assert list((tmp_path / "outside").iterdir()) == []
