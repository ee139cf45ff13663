"""Which platform file is in force: the one of the repository holding the spec, found
with real Git. A submodule (Argo CD checks submodules out) belongs to its superproject,
so its `.git` file does not start a repository of its own; a linked worktree's does.
A platform file below the one in force is an error, never silently ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_platform import PLATFORM, SPEC, run

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
       "-c", "protocol.file.allow=always"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _commit_all(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")


def _models_repo(root: Path, owner: bool = False) -> Path:
    """A repository of specs alone (no platform file); its spec has no owner unless asked."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    spec = SPEC.replace("NAME", "churn")
    if not owner:
        spec = spec.replace("  owner: team-a\n", "")
    (root / "churn.yaml").write_text(spec)
    _commit_all(root)
    return root


def _superproject(tmp_path: Path, sub: Path) -> Path:
    top = tmp_path / "gitops"
    top.mkdir()
    git(top, "init", "-q")
    (top / ".mlspec").mkdir()
    (top / ".mlspec" / "platform.yaml").write_text(PLATFORM)  # requireOwner: true
    git(top, "submodule", "add", "-q", str(sub), "team")
    _commit_all(top)
    return top


def test_a_submodules_specs_are_built_under_the_superprojects_platform(tmp_path, monkeypatch):
    top = _superproject(tmp_path, _models_repo(tmp_path / "team-src"))
    assert (top / "team" / ".git").is_file()  # a real submodule: a .git file
    monkeypatch.chdir(top)
    result = run("build", "team/churn.yaml", "-o", "out")
    assert result.exit_code == 1, result.output
    assert "`metadata.owner` is required (policy requireOwner, .mlspec/platform.yaml:" in result.stderr
    assert not (top / "out").exists()


def test_a_submodules_spec_that_meets_the_superprojects_policy_builds(tmp_path, monkeypatch):
    top = _superproject(tmp_path, _models_repo(tmp_path / "team-src", owner=True))
    monkeypatch.chdir(top)
    result = run("build", "team/churn.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert "platform-digest" in (top / "out" / "prod" / "churn" / "configmap-lineage.yaml").read_text() or \
        "platformDigest" in (top / "out" / "prod" / "churn" / "configmap-lineage.yaml").read_text()


def test_a_second_platform_file_inside_a_submodule_is_an_error(tmp_path, monkeypatch):
    sub = _models_repo(tmp_path / "team-src", owner=True)
    (sub / ".mlspec").mkdir()
    (sub / ".mlspec" / "platform.yaml").write_text(PLATFORM.replace("    requireOwner: true\n", ""))
    _commit_all(sub)
    top = _superproject(tmp_path, sub)
    monkeypatch.chdir(top)
    result = run("build", "team/churn.yaml", "-o", "out")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("team/.mlspec/platform.yaml:1:1: error: a second platform file below the "
                                    "repository's (.mlspec/platform.yaml)"), result.stderr
    assert not (top / "out").exists()


def test_a_linked_worktree_is_a_repository_of_its_own(tmp_path, monkeypatch):
    # the neighbour of a submodule: a worktree's .git file points into .git/worktrees/
    main_repo = _models_repo(tmp_path / "main", owner=False)
    (main_repo / ".mlspec").mkdir()
    (main_repo / ".mlspec" / "platform.yaml").write_text(PLATFORM)
    _commit_all(main_repo)
    git(main_repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    wt = tmp_path / "wt"
    assert (wt / ".git").is_file()
    monkeypatch.chdir(wt)
    result = run("build", "churn.yaml", "-o", "out")
    assert result.exit_code == 1, result.output  # the worktree's own platform file applies
    assert "(policy requireOwner, .mlspec/platform.yaml:" in result.stderr


def test_a_platform_file_in_a_folder_of_a_repository_without_one_is_an_error(tmp_path, monkeypatch):
    repo = _models_repo(tmp_path / "repo")
    team = repo / "team-a"
    (team / ".mlspec").mkdir(parents=True)
    (team / ".mlspec" / "platform.yaml").write_text(PLATFORM)
    (team / "churn.yaml").write_text((repo / "churn.yaml").read_text())
    monkeypatch.chdir(repo)
    result = run("validate", "team-a/churn.yaml")
    assert result.exit_code == 1, result.output
    assert "team-a/.mlspec/platform.yaml:1:1: error: a platform file below the repository's root" in result.stderr
    # the neighbour: the same file at the repository's root is in force (its policy applies)
    (team / ".mlspec").rename(repo / ".mlspec")
    moved = run("validate", "team-a/churn.yaml")
    assert moved.exit_code == 1 and "below the repository" not in moved.stderr
    assert "`metadata.owner` is required (policy requireOwner, .mlspec/platform.yaml:" in moved.stderr
