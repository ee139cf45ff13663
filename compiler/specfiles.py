"""Finding, reading and compiling many spec files (the batch around the core)."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TypeVar

from mlspec import emit, ledger, platform
from mlspec.core import Built, build
from mlspec.errors import Diagnostic, MlspecError, SpecError
from mlspec.releases import RecordedMetrics
from mlspec.resolve import NO_CONTEXT, Context

_KIND = re.compile(rb"^kind:\s*[\"']?ModelDeployment[\"']?\s*(#.*)?$", re.MULTILINE)
SPEC_SUFFIXES = (".yaml", ".yml")
# Below this many specs a process pool costs more than it saves (measured: see benchmarks/).
PARALLEL_FROM = 8


def find_specs(args: tuple[str, ...] | list[str]) -> list[str]:
    """Expand files, directories (recursive, `kind: ModelDeployment` only) and globs."""
    found: list[str] = []
    problems = []
    for arg in args:
        if os.path.isdir(arg):
            for root, dirs, names in os.walk(arg):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    path = os.path.join(root, name)
                    if name.endswith(SPEC_SUFFIXES) and _is_spec(path):
                        found.append(path)
        elif os.path.exists(arg):
            found.append(arg)
        elif glob.has_magic(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m) and _is_spec(m))
            found.extend(matches)
            if not matches:
                problems.append(Diagnostic(arg, 1, 1, "no spec matches this pattern"))
        else:
            problems.append(Diagnostic(arg, 1, 1, "no such file or directory"))
    if problems:
        raise MlspecError(problems)
    if not found:
        raise MlspecError([Diagnostic(a, 1, 1, "no ModelDeployment spec found here") for a in args])
    return list(dict.fromkeys(os.path.normpath(f) for f in found))


def _is_spec(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return bool(_KIND.search(handle.read(64 * 1024)))
    except OSError:
        return False


def read_spec(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SpecError.at(path, 1, 1, f"cannot read: {exc.strerror}") from None


def _build_one(path: str, env: str | None, context: Context, full_verify: bool) -> tuple[Built | None, list[Diagnostic]]:
    try:
        return build(read_spec(path), path, env, context, full_verify), []
    except MlspecError as exc:
        return None, exc.diagnostics


class _Result(Protocol):
    name: str
    environments: dict[str, str]


R = TypeVar("R", bound=_Result)


def _run(work: Callable[..., tuple[R | None, list[Diagnostic]]], paths: list[str], args: Sequence[Any],
         jobs: int | None, progress: Callable[[int, int], None] | None) -> tuple[dict[str, R], list[Diagnostic]]:
    """`work(path, *args)` for every spec, in worker processes for a batch: the results,
    and every error of every spec (two specs building the same directory is one)."""
    workers = min(jobs or os.cpu_count() or 1, len(paths))
    outcomes = []
    if workers > 1 and len(paths) >= PARALLEL_FROM:
        from concurrent.futures import ProcessPoolExecutor  # only batches pay for multiprocessing

        with ProcessPoolExecutor(max_workers=workers) as pool:
            columns = [[arg] * len(paths) for arg in args]
            for outcome in pool.map(work, paths, *columns, chunksize=max(1, len(paths) // (workers * 4))):
                outcomes.append(outcome)
                if progress:
                    progress(len(outcomes), len(paths))
    else:
        for path in paths:
            outcomes.append(work(path, *args))
            if progress:
                progress(len(outcomes), len(paths))
    problems = [d for _, diags in outcomes for d in diags]
    results = {p: result for p, (result, _) in zip(paths, outcomes) if result is not None}
    owners: dict[str, str] = {}
    for path, result in results.items():
        for env_name in result.environments:
            directory = f"{env_name}/{result.name}"
            other = owners.setdefault(directory, path)
            if other != path:
                problems.append(Diagnostic(path, 1, 1, f"`{directory}` is also built by {other}; "
                                           "model names must be unique per environment"))
    return results, problems


def compile_many(paths: list[str], env: str | None, jobs: int | None = None,
                 context: Context = NO_CONTEXT, progress: Callable[[int, int], None] | None = None,
                 full_verify: bool = False) -> dict[str, Built]:
    """Compile every spec; collect every error of every spec before raising."""
    results, problems = _run(_build_one, paths, (env, context, full_verify), jobs, progress)
    if problems:
        raise MlspecError(problems)
    return results


@dataclass
class Outcome:
    """What `build_into` keeps of one spec: small, so a batch's parent holds little."""

    name: str
    environments: dict[str, str]
    warnings: list[Diagnostic]
    directories: list[str]                                    # output directories the spec owns
    count: int                                                # files in them (ledger included)
    staged: list[tuple[Path, Path]] = field(default_factory=list)  # build: (stage, target) to swap in
    created: list[Path] = field(default_factory=list)         # build: parent directories made for them
    ledger: dict[str, str] = field(default_factory=dict)      # build: the ledger file, when it changed
    drift: list[tuple[str, str]] = field(default_factory=list)  # --check: what differs on disk


def _build_into(path: str, env: str | None, metrics: RecordedMetrics, out: Path, check: bool,
                full_verify: bool, plat: platform.Platform | None = None) -> tuple[Outcome | None, list[Diagnostic]]:
    """Compile one spec, record it in its ledger and compare the result with `out`; when
    building, also write the spec's changed directories into staging directories. All
    in the worker: the parent receives no file text, and writing overlaps compiling."""
    try:
        context = platform.with_platform(Context(recorded_metrics=metrics), plat)
        result = build(read_spec(path), path, env, context, full_verify)
        ledger_file = ledger.relpath(result.name)
        files = dict(result.files)
        files[ledger_file] = ledger.dump(ledger.record(metrics.ledger(result.name), result))
    except MlspecError as exc:
        return None, exc.diagnostics
    files = emit.list_foreign_resources(out, files)
    groups = emit.group_by_directory(files)
    outcome = Outcome(name=result.name, environments=result.environments, warnings=result.warnings,
                      directories=sorted(groups), count=len(files))
    if check:
        outcome.drift = emit.drift(out, files)
        return outcome, []
    del groups[emit.LEDGER_DIR]  # the ledger directory is shared by every model: the parent writes ledgers
    outcome.ledger = emit.changed_files(out, {ledger_file: files[ledger_file]})
    try:
        for directory, contents in sorted(groups.items()):
            stage = emit.stage_directory(out / directory, contents, outcome.created)
            if stage is not None:
                outcome.staged.append(stage)
    except OSError as exc:
        emit.discard(outcome.staged, outcome.created)
        return None, [Diagnostic(str(exc.filename or out), 1, 1, f"cannot write: {exc.strerror}")]
    return outcome, []


def build_into(paths: list[str], out: Path, env: str | None = None, ledger_dir: Path | None = None,
               check: bool = False, jobs: int | None = None, progress: Callable[[int, int], None] | None = None,
               full_verify: bool = False, plat: platform.Platform | None = None) -> dict[str, Outcome]:
    """Compile every spec for the output directory `out` (ledgers read from `ledger_dir`,
    default `out`). With `check`, each outcome says what differs on disk; otherwise the
    changed directories are staged beside their targets, for `commit`. On any error of
    any spec, every stage is removed again and `MlspecError` raised: nothing is written."""
    metrics = RecordedMetrics(ledger_dir or out)
    results, problems = _run(_build_into, paths, (env, metrics, out, check, full_verify, plat), jobs, progress)
    if problems:
        abandon(results)
        raise MlspecError(problems)
    return results


def abandon(outcomes: dict[str, Outcome]) -> None:
    """Remove what `build_into` staged (the build is not going ahead)."""
    emit.discard([s for o in outcomes.values() for s in o.staged], [c for o in outcomes.values() for c in o.created])


def commit(out: Path, outcomes: dict[str, Outcome]) -> None:
    """Swap every staged directory in, write the changed ledgers, then remove what a killed
    build left beside the output directories (one listing per environment directory)."""
    emit.swap_in([s for o in outcomes.values() for s in o.staged])
    emit.write_tree(out, {rel: text for o in outcomes.values() for rel, text in o.ledger.items()})
    emit.remove_leftovers((out / directory).parent for o in outcomes.values() for directory in o.directories)


def git_show(ref: str, path: str) -> bytes | None:
    """`path` as it is at Git `ref`; None when it did not exist there."""
    import subprocess

    directory, name = os.path.split(os.path.abspath(path))
    try:
        proc = subprocess.run(["git", "-C", directory, "show", f"{ref}:./{name}"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MlspecError([Diagnostic(path, 1, 1, f"cannot run git: {exc}")]) from None
    if proc.returncode == 0:
        return proc.stdout
    message = proc.stderr.decode(errors="replace").strip()
    if "does not exist in" in message or "exists on disk, but not in" in message:
        return None  # a new spec: everything is added
    raise MlspecError([Diagnostic(path, 1, 1, f"cannot read it at {ref}: {message.splitlines()[-1] if message else 'git failed'}")])
