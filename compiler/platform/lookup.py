"""Which platform file is in force for a spec: the one at the root of the repository
holding it. Git submodules belong to their superproject (Argo CD checks them out with it);
a linked worktree is a repository of its own; a platform file met below the one in force
is an error, never silently ignored."""

from __future__ import annotations

import os
from pathlib import Path

from mlspec.files.errors import Diagnostic, SpecError

HOME = Path(".mlspec") / "platform.yaml"


def repo_file(spec_path: str) -> Path | None:
    """`.mlspec/platform.yaml` of the repository holding the spec: the nearest directory
    above it with a `.git` directory, or a `.git` file that is not a submodule's (a linked
    worktree's). A submodule is part of its superproject's repository (Argo CD checks it
    out with it), so its `.git` file does not stop the search; a platform file met on the
    way below the one in force is an error (one repository, one platform file)."""
    start = Path(spec_path).absolute().parent
    met: list[Path] = []
    for directory in (start, *start.parents):
        candidate = directory / HOME
        if candidate.is_file():
            met.append(candidate)
        git = directory / ".git"
        if git.is_dir() or (git.is_file() and not _submodule(git)):
            below = [m for m in met if m != candidate]  # below the repository's root: not the one in force
            if below:
                raise SpecError([Diagnostic(display(below[0]), 1, 1, (
                    f"a second platform file below the repository's ({display(candidate)}): a repository has one "
                    "platform file, its submodules and folders included; move what differs into the repository's "
                    "`spec.environments`, or remove this one") if candidate.is_file() else (
                    f"a platform file below the repository's root ({display(directory)}), which has none: it would "
                    f"not apply; move it to {display(candidate)}"))])
            return candidate if candidate.is_file() else None
    return None


def _submodule(git_file: Path) -> bool:
    """A `.git` file of a submodule: its `gitdir:` lies in a superproject's `.git/modules/`
    (a linked worktree's lies in `.git/worktrees/`)."""
    try:
        with open(git_file, "rb") as handle:
            first = handle.read(4096).split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return False
    if not first.startswith("gitdir:"):
        return False
    target = (git_file.parent / first[len("gitdir:"):].strip()).resolve()
    parts = target.parts
    return any(parts[i] == ".git" and parts[i + 1] == "modules" for i in range(len(parts) - 1))


def display(path: Path) -> str:
    """`path` as the user would write it: relative when below the current directory."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def repository_of(path: Path) -> Path | None:
    """The root of the repository holding `path`, as `repo_file` finds it (a submodule's
    is its superproject's), never through a link: where `deploy/` and the platform file are."""
    start = Path(os.path.abspath(path))
    for directory in (start, *start.parents):
        if os.path.islink(directory):
            continue
        git = directory / ".git"
        if git.is_dir() or (git.is_file() and not _submodule(git)):
            return directory
    return None
