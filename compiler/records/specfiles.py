"""Finding, reading and compiling many spec files (the batch around the core)."""

from __future__ import annotations

import difflib
import glob
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TypeVar

from mlspec.files import layout, loader, outtree, safepath
from mlspec.files.drift import Drift
from mlspec.files.errors import Diagnostic, MlspecError, SpecError
from mlspec.pipeline.core import Built, build
from mlspec.pipeline.resolve import NO_CONTEXT, Context
from mlspec.platform import platformfile
from mlspec.records import attest, ledger
from mlspec.records.releases import RecordedMetrics

_KIND = re.compile(rb"^kind:\s*[\"']?ModelDeployment[\"']?\s*(#.*)?$", re.MULTILINE)
SPEC_SUFFIXES = (".yaml", ".yml")
PLACEHOLDER_REFUSAL = "; a ledger never records a placeholder: replace it first (`build --stdout` renders it as it is)"
# Below this many specs a process pool costs more than it saves (measured: see benchmarks/).
PARALLEL_FROM = 8


def find_specs(args: tuple[str, ...] | list[str]) -> list[str]:
    """Expand files, directories (recursive, `kind: ModelDeployment` only) and globs.
    Nothing is followed: a link where discovery looks is an error (see `safepath`)."""
    found: list[str] = []
    problems = []
    for arg in args:
        root, rel = safepath.named(arg)
        kind = _kind(root, rel)
        if kind == "dir":
            with safepath.open_dir(root, rel) as top:
                found.extend(_walk(top))
        elif kind == "file":
            found.append(os.path.join(root, rel))
        elif kind in ("link", "other"):
            raise safepath.refusal(arg, safepath.LINK if kind == "link" else safepath.NOT_REGULAR)
        elif glob.has_magic(arg):
            matches = _glob(arg)
            found.extend(matches)
            if not matches:
                problems.append(Diagnostic(arg, 1, 1, "no spec matches this pattern", rule="no-such-file"))
        else:
            problems.append(missing(arg))
    if problems:
        raise MlspecError(problems)
    if not found:
        raise MlspecError([Diagnostic(a, 1, 1, "no ModelDeployment spec found here") for a in args])
    return list(dict.fromkeys(os.path.normpath(f) for f in found))


def _kind(root: str, rel: str) -> str | None:
    if not rel:
        return "dir" if os.path.isdir(root) else None  # a directory the caller named
    try:
        directory, name = safepath.parent_and_name(root, rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with directory:
        return directory.kind(name)


def _walk(top: safepath.Dir) -> list[str]:
    """Every spec below `top` (hidden directories skipped). A link that could change
    what is built (a spec-named one, or one to a directory) or a spec-named FIFO is an
    error, so a pull request cannot point discovery elsewhere."""
    found = []
    for directory, entries in safepath.walk(top):
        for name, kind in entries:
            if kind == "file" and name.endswith(SPEC_SUFFIXES) and _is_spec(directory, name):
                found.append(directory.show(name))
            elif kind == "link" and (name.endswith(SPEC_SUFFIXES)
                                     or (not name.startswith(".") and _to_directory(directory, name))):
                raise safepath.refusal(directory.show(name), safepath.LINK)
            elif kind == "other" and name.endswith(SPEC_SUFFIXES):
                raise safepath.refusal(directory.show(name), safepath.NOT_REGULAR)
    return found


def _to_directory(directory: safepath.Dir, name: str) -> bool:
    """Whether a link points at a directory (its target's type only; nothing is read)."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=directory.fd).st_mode)
    except OSError:
        return False


def _glob(pattern: str) -> list[str]:
    """Specs matching a shell pattern (`*`, `?`, `[...]`, `**` for any depth), matched
    here over a walk that never follows a link: `glob.glob` follows them, so two
    `-> .` links made `**` enumerate for ever. A link the pattern reaches is an error."""
    parts = pattern.replace(os.sep, "/").split("/")
    literal = 0
    while literal < len(parts) - 1 and not glob.has_magic(parts[literal]):
        literal += 1
    prefix = "/".join(parts[:literal]) or ("/" if pattern.startswith("/") else ".")
    root, rel = safepath.named(prefix)
    kind = _kind(root, rel)
    if kind == "link":
        raise safepath.refusal(prefix, safepath.LINK)
    if kind != "dir":
        return []
    found: list[str] = []
    with safepath.open_dir(root, rel) as top:
        _match(top, [p for p in parts[literal:] if p not in ("", ".")], found)
    return sorted(found)


def _match(directory: safepath.Dir, parts: list[str], found: list[str]) -> None:
    import fnmatch

    head, rest = parts[0], parts[1:]
    if head == "..":
        raise safepath.refusal(directory.show(head), "`..` is not allowed in a pattern")
    entries = directory.entries()
    if head == "**":
        if rest:
            _match(directory, rest, found)
        for name, kind in entries:
            if name.startswith("."):
                continue
            if kind == "dir":
                with directory.sub(name) as child:
                    _match(child, parts, found)
            elif kind == "link" and _to_directory(directory, name):
                raise safepath.refusal(directory.show(name), safepath.LINK)
            elif not rest and kind == "file" and _is_spec(directory, name):
                found.append(directory.show(name))
        return
    for name, kind in entries:
        if not fnmatch.fnmatchcase(name, head) or (name.startswith(".") and not head.startswith(".")):
            continue
        if kind == "link" and (not rest or _to_directory(directory, name)):
            raise safepath.refusal(directory.show(name), safepath.LINK)
        if rest and kind == "dir":
            with directory.sub(name) as child:
                _match(child, rest, found)
        elif not rest and kind == "file" and _is_spec(directory, name):
            found.append(directory.show(name))
        elif not rest and kind == "other":
            raise safepath.refusal(directory.show(name), safepath.NOT_REGULAR)


def _is_spec(directory: safepath.Dir, name: str) -> bool:
    try:
        return bool(_KIND.search(directory.head(name, 64 * 1024)))
    except OSError:
        return False


def read_spec(path: str) -> bytes:
    """The spec file `path`, bounded, never through a link (see `safepath.named`)."""
    root, rel = safepath.named(path)
    try:
        return safepath.read(root, rel, loader.MAX_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        raise MlspecError([missing(path)]) from None
    except OSError as exc:
        raise SpecError.at(path, 1, 1, f"cannot read: {exc.strerror}") from None


def missing(path: str) -> Diagnostic:
    """`error: no such file: PATH` (no position: there is no line to point at), with the
    nearest spec file of the same directory when one is close (`churn.mlspec.yml`)."""
    parent, name = os.path.split(path)
    try:
        siblings = sorted(n for n in os.listdir(parent or ".") if n.endswith(SPEC_SUFFIXES) and not n.startswith("."))
    except OSError:
        siblings = []
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    hint = f"; did you mean {os.path.join(parent, close[0])}?" if close else ""
    return Diagnostic(path, 0, 0, f"no such file: {path}{hint}", rule="no-such-file")


def _build_one(path: str, env: str | None, context: Context, full_verify: bool,
               keep_files: bool = True) -> tuple[Built | None, list[Diagnostic]]:
    try:
        result = build(read_spec(path), path, env, context, full_verify)
    except MlspecError as exc:
        return None, exc.diagnostics
    if not keep_files:  # `validate`: a batch must not hold every spec's manifests
        result.files = {}
    return result, []


class _Result(Protocol):
    name: str
    key: str
    environments: dict[str, str]
    env_dirs: dict[str, str]


R = TypeVar("R", bound=_Result)


def _run(work: Callable[..., tuple[R | None, list[Diagnostic]]], paths: list[str], args: Sequence[Any],
         jobs: int | None, progress: Callable[[int, int], None] | None) -> tuple[dict[str, R], list[Diagnostic]]:
    """`work(path, *args)` for every spec, in worker processes for a batch: the results,
    and every error of every spec (two specs building the same directory is one)."""
    workers = min(jobs or os.cpu_count() or 1, len(paths))
    outcomes: list[tuple[R | None, list[Diagnostic]]] = []
    held = 0

    def keep(outcome: tuple[R | None, list[Diagnostic]]) -> bool:
        # What the parent holds of every result, against one budget for the command.
        nonlocal held
        path = paths[len(outcomes)]
        files = getattr(outcome[0], "files", None)
        held += sum(len(text) for text in files.values()) if isinstance(files, dict) else 0
        if held > loader.MAX_HELD_CHARS:
            outcomes.append((None, [_over_held(path, held)]))
            return False
        outcomes.append(outcome)
        if progress:
            progress(len(outcomes), len(paths))
        return True

    if workers > 1 and len(paths) >= PARALLEL_FROM:
        from concurrent.futures import ProcessPoolExecutor  # only batches pay for multiprocessing

        with ProcessPoolExecutor(max_workers=workers) as pool:
            columns = [[arg] * len(paths) for arg in args]
            for outcome in pool.map(work, paths, *columns, chunksize=max(1, len(paths) // (workers * 4))):
                if not keep(outcome):
                    pool.shutdown(cancel_futures=True)  # what has not started never runs
                    break
    else:
        for path in paths:
            if not keep(work(path, *args)):
                break
    problems = [d for _, diags in outcomes for d in diags]
    results = {p: result for p, (result, _) in zip(paths, outcomes) if result is not None}
    problems.extend(_collisions(results))
    return results, problems


def _collisions(results: dict[str, Any]) -> list[Diagnostic]:
    """Two specs of one model (one key: one ledger) or building one output directory
    would overwrite each other: an error of the second."""
    problems = []
    models: dict[str, str] = {}
    owners: dict[str, str] = {}
    for path, result in results.items():
        other = models.setdefault(result.key, path)
        if other != path:
            problems.append(Diagnostic(path, 1, 1, f"model `{result.key}` is also defined by {other}: one spec per model "
                                       f"(its environments are `spec.environments`){_LAYOUT_HINT[layout.of_key(result.key)]}"))
            continue
        for directory in result.env_dirs.values():
            other = owners.setdefault(directory, path)
            if other != path:
                problems.append(Diagnostic(path, 1, 1, f"`{directory}` is also built by {other}: two models of one "
                                           "name in one namespace would overwrite each other's objects"))
    return problems


_LAYOUT_HINT = {
    layout.FLAT: "; models of one name in different namespaces need the platform file's `layout: namespaced` "
                 "(docs/platform.md: Monorepo layout)",
    layout.NAMESPACED: "",
}


def _over_held(path: str, held: int) -> Diagnostic:
    return Diagnostic(path, 1, 1, f"the manifests of the specs up to this one hold over {loader.MAX_HELD_CHARS} "
                      f"characters ({held}), the most one command holds before printing them: build fewer specs "
                      "per command (or one environment with --env), or write them with -o, which holds none")


def compile_many(paths: list[str], env: str | None, jobs: int | None = None,
                 context: Context = NO_CONTEXT, progress: Callable[[int, int], None] | None = None,
                 full_verify: bool = False, keep_files: bool = True) -> dict[str, Built]:
    """Compile every spec; collect every error of every spec before raising. Without
    `keep_files` the results carry no file text (what `validate` needs)."""
    results, problems = _run(_build_one, paths, (env, context, full_verify, keep_files), jobs, progress)
    if problems:
        raise MlspecError(problems)
    return results


@dataclass
class Outcome:
    """What `build_into` keeps of one spec: small, so a batch's parent holds little."""

    name: str
    key: str                                                  # the model's key (`mlspec.layout`)
    environments: dict[str, str]
    warnings: list[Diagnostic]
    directories: list[str]                                    # output directories the spec owns
    env_dirs: dict[str, str]                                  # environment -> its output directory
    count: int                                                # files in them (ledger included)
    staged: list[outtree.Staged] = field(default_factory=list)  # build: stages to swap in
    created: list[Path] = field(default_factory=list)         # build: parent directories made for them
    ledger: dict[str, str] = field(default_factory=dict)      # build: the ledger file, when it changed
    drift: list[Drift] = field(default_factory=list)        # --check: what differs on disk


def _build_into(path: str, env: str | None, metrics: RecordedMetrics, out: Path, check: bool,
                full_verify: bool, plat: platformfile.Platform | None = None,
                attest_key: str | None = None, text: bytes | None = None,
                model_layout: str | None = None) -> tuple[Outcome | None, list[Diagnostic]]:
    """Compile one spec, record it in its ledger and compare the result with `out`; when
    building, also write the spec's changed directories into staging directories. All
    in the worker: the parent receives no file text, and writing overlaps compiling."""
    try:
        context = platformfile.with_platform(Context(recorded_metrics=metrics), plat)
        if model_layout is not None:  # `rollback`: the layout the model's ledger was recorded in
            context = replace(context, layout=model_layout)
        result = build(read_spec(path) if text is None else text, path, env, context, full_verify)
        if result.placeholders:  # a ledger records pins for good: never what `init` wrote for the user to replace
            return None, [replace(d, severity="error", message=d.message + PLACEHOLDER_REFUSAL)
                          for d in result.placeholders]
        ledger_file = ledger.relpath(result.key)
        files = dict(result.files)
        recorded = ledger.record(metrics.ledger(result.key), result)
        files[ledger_file] = ledger.dump(recorded)
        files.update(attest.for_build(out, recorded, result.version, attest_key, plat,
                                      str((metrics.directory or out) / ledger_file)))
    except MlspecError as exc:
        return None, exc.diagnostics
    outcome = Outcome(name=result.name, key=result.key, environments=result.environments, warnings=result.warnings,
                      directories=[], env_dirs=result.env_dirs, count=len(files))
    try:
        files = outtree.list_foreign_resources(out, files)
        groups = outtree.group_by_directory(files)
        outcome.directories = sorted(groups)
        if check:
            outcome.drift = outtree.drift(out, files, result.key)
            return outcome, []
        # Ledger directories are shared by models, and attestations accumulate: the parent writes both.
        kept = {rel: text for rel, text in files.items() if rel == ledger_file or rel.startswith(attest.ATTEST_DIR + "/")}
        for rel in kept:
            groups.pop(outtree.parent_of(rel), None)
        outcome.ledger = outtree.changed_files(out, kept)
        for directory, contents in sorted(groups.items()):
            stage = outtree.stage_directory(out, directory, contents, outcome.created, result.key)
            if stage is not None:
                outcome.staged.append(stage)
    except MlspecError as exc:  # a link, a FIFO or a hand-written file in the output tree
        outtree.discard(outcome.staged, outcome.created)
        return None, exc.diagnostics
    except OSError as exc:
        outtree.discard(outcome.staged, outcome.created)
        return None, [Diagnostic(str(exc.filename or out), 1, 1, f"cannot write: {exc.strerror}")]
    return outcome, []


def build_into(paths: list[str], out: Path, env: str | None = None, ledger_dir: Path | None = None,
               check: bool = False, jobs: int | None = None, progress: Callable[[int, int], None] | None = None,
               full_verify: bool = False, plat: platformfile.Platform | None = None,
               attest_key: str | None = None) -> dict[str, Outcome]:
    """Compile every spec for the output directory `out` (ledgers read from `ledger_dir`,
    default `out`). With `check`, each outcome says what differs on disk; otherwise the
    changed directories are staged beside their targets, for `commit`. On any error of
    any spec, every stage is removed again and `MlspecError` raised: nothing is written."""
    metrics = RecordedMetrics(ledger_dir or out)
    results, problems = _run(_build_into, paths, (env, metrics, out, check, full_verify, plat, attest_key), jobs, progress)
    if problems:
        abandon(results)
        raise MlspecError(problems)
    return results


def build_one(path: str, text: bytes, out: Path, metrics: RecordedMetrics, env: str | None = None,
              plat: platformfile.Platform | None = None, model_layout: str | None = None) -> Outcome:
    """`text`, the spec `path` is about to hold, through `build_into`'s path (`rollback`:
    the bytes are what `build` writes for it). Staged only; `commit` or `abandon` it."""
    outcome, problems = _build_into(path, env, metrics, out, False, False, plat, text=text, model_layout=model_layout)
    if problems or outcome is None:
        raise MlspecError(problems)
    return outcome


def abandon(outcomes: dict[str, Outcome]) -> None:
    """Remove what `build_into` staged (the build is not going ahead)."""
    outtree.discard([s for o in outcomes.values() for s in o.staged], [c for o in outcomes.values() for c in o.created])


def commit(out: Path, outcomes: dict[str, Outcome]) -> None:
    """Swap every staged directory in, write the changed ledgers, then remove what a killed
    build left beside the output directories (one listing per environment directory)."""
    outtree.swap_in([s for o in outcomes.values() for s in o.staged])
    outtree.write_tree(out, {rel: text for o in outcomes.values() for rel, text in o.ledger.items()})
    outtree.remove_leftovers(out, (outtree.parent_of(d) for o in outcomes.values() for d in o.directories))


def git_show(ref: str, path: str) -> bytes | None:
    """`path` as it is at Git `ref`; None when it did not exist there. `ref` never
    reaches Git as an option (`--end-of-options`; one starting with `-` is refused),
    and the blob is read bounded like a spec file."""
    import subprocess

    if ref.startswith("-"):
        raise MlspecError([Diagnostic(path, 1, 1, f"--base {ref!r} is not a Git revision (it starts with `-`)")])
    directory, name = os.path.split(os.path.abspath(path))
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        # Git removes a directory with its last file (a namespace's only ledger): the
        # file is still read at `ref`, from the nearest directory that exists.
        directory, missing = os.path.split(directory)
        name = f"{missing}/{name}"
    command = ["git", "-C", directory, "show", "--end-of-options", f"{ref}:./{name}"]
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            text = proc.stdout.read(loader.MAX_BYTES + 1)
            if len(text) > loader.MAX_BYTES:
                proc.kill()
                raise MlspecError([Diagnostic(f"{ref}:{path}", 1, 1, f"file is larger than {loader.MAX_BYTES} bytes, "
                                              "the most mlspec reads from one file")])
            stderr = proc.stderr.read(64 * 1024)
            returncode = proc.wait(timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MlspecError([Diagnostic(path, 1, 1, f"cannot run git: {exc}")]) from None
    if returncode == 0:
        return text
    message = stderr.decode(errors="replace").strip()
    if "does not exist in" in message or "exists on disk, but not in" in message:
        return None  # a new spec: everything is added
    raise MlspecError([Diagnostic(path, 1, 1, f"cannot read it at {ref}: {message.splitlines()[-1] if message else 'git failed'}")])
