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


def test_dot_dot_after_a_committed_link_is_written_where_it_was_checked(repo, tmp_path):
    """`-o models/../deploy`: checked lexically as `deploy`, it must not be written
    where the kernel resolves it (`models` a link: beside the link's target)."""
    os.unlink(repo / "deploy")
    (tmp_path / "outside" / "sub").mkdir()
    os.symlink("../outside/sub", repo / "models")
    result = run("build", "churn.mlspec.yaml", "-o", "models/../deploy", cwd=repo)
    assert result.exit_code == 0, result.output
    assert (repo / "deploy" / "default" / "churn" / "kustomization.yaml").is_file()
    assert [p.name for p in (tmp_path / "outside").iterdir()] == ["sub"]


def test_dot_dot_from_a_current_directory_reached_through_a_link_is_refused(repo, tmp_path, monkeypatch):
    """`cd models && mlspec build . -o ../deploy`, `models` a committed link: the
    shell's `..` is the repository, the kernel's the link target's parent."""
    os.unlink(repo / "deploy")
    (tmp_path / "outside" / "real").mkdir()
    (tmp_path / "outside" / "real" / "churn.mlspec.yaml").write_text(MINIMAL)
    os.symlink("../outside/real", repo / "models")
    monkeypatch.setenv("PWD", str(repo / "models"))  # what a shell's `cd models` sets
    before = snapshot(tmp_path)
    for args in (["build", "churn.mlspec.yaml", "-o", "../deploy"],
                 ["gate", "churn.mlspec.yaml", "--metrics", "../metrics.json", "--record", "-o", "../deploy"]):
        result = run(*args, cwd=repo / "models")
        assert result.exit_code == 1, result.output
        assert f"../deploy:1:1: error: leads to {tmp_path / 'outside' / 'deploy'}, not to {repo / 'deploy'}" in (
            result.stderr)
        assert "Traceback" not in result.output and snapshot(tmp_path) == before


def test_a_git_worktree_checkout_builds_into_its_own_deploy(repo, tmp_path):
    """A worktree's `.git` is a file (`gitdir: …`): it still marks the repository."""
    os.unlink(repo / "deploy")
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "add", "churn.mlspec.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], check=True)
    subprocess.run([*git, "worktree", "add", "-q", str(tmp_path / "wt")], check=True, capture_output=True)
    worktree, elsewhere = tmp_path / "wt", tmp_path / "cwd"
    elsewhere.mkdir()
    assert (worktree / ".git").is_file()
    assert run("build", "churn.mlspec.yaml", "-o", "deploy", cwd=worktree).exit_code == 0
    result = run("build", worktree / "churn.mlspec.yaml", "-o", worktree / "deploy", "--check", cwd=elsewhere)
    assert result.exit_code == 0, result.output  # from outside: the root is the worktree
    os.symlink("../outside", worktree / "linked")
    before = snapshot(tmp_path)
    result = run("build", worktree / "churn.mlspec.yaml", "-o", worktree / "linked" / "deploy", cwd=elsewhere)
    assert_refused(result, str(worktree / "linked"), tmp_path, before)
