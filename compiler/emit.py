"""Stage 6: canonical YAML text, and the only code that writes output.

Text: block style, keys in template order, multi-line strings as literal
blocks, no line folding, so output is byte-identical on every machine whether
or not libyaml is present.

Disk: each output directory `OUT/<env>/<name>/` is staged next to its target
and swapped in with one rename (an atomic exchange where Linux offers it), so a
failed or killed build leaves the previous output as it was. Files mlspec owns
are listed in `.mlspec-owned`; other files in the directory are carried over
untouched (hard links) and never deleted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover - depends on the machine
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]

OWNED = ".mlspec-owned"
LEDGER_DIR = "_ledger"
KUSTOMIZATION = "kustomization.yaml"


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(obj: Any, header: str = "") -> str:
    body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1_000_000, indent=2)
    return header + body


def kustomization(filenames: list[str], header: str = "") -> str:
    return dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(f for f in filenames if f != KUSTOMIZATION),
    }, header)


def owned_files(directory: Path) -> set[str]:
    """Files a previous build wrote into `directory` (empty when none)."""
    try:
        text = (directory / OWNED).read_text(encoding="utf-8")
    except OSError:
        return set()
    return {line for line in text.splitlines() if line and "/" not in line and line not in (".", "..")}


def group_by_directory(files: dict[str, str]) -> dict[str, dict[str, str]]:
    """`{"env/name/file": text}` -> `{"env/name": {"file": text}}`."""
    out: dict[str, dict[str, str]] = {}
    for rel, text in files.items():
        directory, _, filename = rel.rpartition("/")
        out.setdefault(directory, {})[filename] = text
    return out


def write_tree(out: Path, files: dict[str, str]) -> list[str]:
    """Write every output directory atomically. Returns the directories written."""
    groups = group_by_directory(files)
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []  # parent directories this call made, removed again on failure
    try:
        for directory, contents in sorted(groups.items()):
            target = out / directory
            created.extend(_make_parents(target.parent))
            _remove_leftovers(target)
            stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.mlspec-", dir=target.parent))
            staged.append((stage, target))
            _fill(stage, target, contents)
    except BaseException:
        for stage, _ in staged:
            shutil.rmtree(stage, ignore_errors=True)
        for directory in reversed(created):
            _remove_if_empty(directory)
        raise
    try:
        for stage, target in staged:
            _swap(stage, target)
    finally:
        for stage, _ in staged:
            shutil.rmtree(stage, ignore_errors=True)
    return sorted(groups)


def _remove_leftovers(target: Path) -> None:
    """Staging directories of an earlier build of `target` that was killed."""
    for leftover in target.parent.glob(f".{target.name}.mlspec-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _make_parents(directory: Path) -> list[Path]:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return list(reversed(missing))


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def _fill(stage: Path, target: Path, contents: dict[str, str]) -> None:
    # The ledger directory holds one file per model, each written by its own
    # builds: nothing there is ever pruned.
    pruning = target.name != LEDGER_DIR
    owned = owned_files(target) if pruning else set()
    if target.is_dir():
        for entry in os.scandir(target):
            if entry.name in owned or (entry.name == OWNED and pruning) or entry.name in contents:
                continue
            # Someone else's file: keep it exactly (same inode).
            if entry.is_file(follow_symlinks=False):
                os.link(entry.path, stage / entry.name)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry.path), stage / entry.name)
            else:
                shutil.copytree(entry.path, stage / entry.name, symlinks=True, copy_function=os.link)
    for filename, text in sorted(contents.items()):
        (stage / filename).write_text(text, encoding="utf-8")
    if pruning:
        (stage / OWNED).write_text("".join(f"{name}\n" for name in sorted(contents)), encoding="utf-8")
    os.chmod(stage, 0o755)


_RENAME_EXCHANGE = 2
_libc: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False when unsupported."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name, use_errno=True) if name else False
    if not _libc or not hasattr(_libc, "renameat2"):
        return False
    at_fdcwd = -100
    rc = _libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        return  # `stage` now holds the old output and is removed by the caller
    old = target.with_name(f".{target.name}.mlspec-old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def drift(out: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    """What differs between `out` and `files`: changed, missing and stale owned files."""
    found: list[tuple[str, str]] = []
    for rel, text in sorted(files.items()):
        try:
            current = (out / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            found.append((rel, "missing: run `mlspec build` to create it"))
            continue
        except OSError as exc:
            found.append((rel, f"unreadable: {exc.strerror}"))
            continue
        if current != text:
            found.append((rel, "changed: differs from what the spec compiles to"))
    for directory, contents in group_by_directory(files).items():
        for name in sorted(owned_files(out / directory) - set(contents)):
            if (out / directory / name).exists():
                found.append((f"{directory}/{name}", "stale: built before but no longer produced"))
    return found


def write_file(path: Path, text: str) -> None:
    """Write one file atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def list_foreign_resources(out: Path, files: dict[str, str]) -> dict[str, str]:
    """Make each kustomization.yaml list exactly what its directory will hold: mlspec's
    objects plus YAML files others put there (which a rebuild keeps)."""
    result = dict(files)
    for directory, contents in group_by_directory(files).items():
        if KUSTOMIZATION not in contents or not (out / directory).is_dir():
            continue
        owned = owned_files(out / directory)
        foreign = sorted(e.name for e in os.scandir(out / directory)
                         if e.is_file() and e.name.endswith((".yaml", ".yml")) and not e.name.startswith(".")
                         and e.name not in owned and e.name not in contents)
        if foreign:
            text = contents[KUSTOMIZATION]
            header = text[:text.index("apiVersion:")]
            result[f"{directory}/{KUSTOMIZATION}"] = kustomization(list(contents) + foreign, header)
    return result
