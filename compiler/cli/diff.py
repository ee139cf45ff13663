"""`mlspec diff`: what a spec or platform change does to the output, with the ledger's
recorded evaluations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mlspec.cli.common import fail_usage, output_dir, platform_context, repository_of
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.pipeline import core
from mlspec.records import ledger
from mlspec.records.specfiles import find_specs, read_spec


@click.command("diff")
@click.argument("specs", nargs=-1)
@click.option("--base", default=None, help="Git ref to compare each SPEC (file or directory) against  [default: HEAD]. "
              "Without it, two files are OLD NEW.")
@click.option("--env", help="Compare only this environment's manifests.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "text"]), default="text", show_default=True)
@click.option("--fail-on-loosened", is_flag=True,
              help="Exit 1 when a threshold is loosened or removed, the evaluation dataset or image changed, or a "
              "recorded metric changed in the ledger.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything changed, 0 when nothing did (as `git diff`).")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger, compared with its state at --base "
              "(default: the platform file's `spec.output`, else deploy/ at the repository root, when it holds this "
              "model's ledger).")
@click.option("--platform", "platform_choice", is_flag=False, flag_value="", default=None, metavar="[FILE|none]",
              help="Alone: list the models and objects the platform file's change since --base changes (SPECs: "
              "the specs to compile, default the repository's). With FILE|none: the platform both sides use.")
def diff_command(specs: tuple[str, ...], base: str | None, env: str | None, fmt: str, fail_on_loosened: bool,
                 exit_code: bool, ledger_dir: Path | None, platform_choice: str | None) -> None:
    """Compare specs (files or directories) with their version at a Git ref, or two specs (OLD NEW): ML summary,
    then manifests.

    Several specs or a directory give one document (in markdown: one pull-request comment of at most 60,000
    characters).

    \b
    Examples:
      mlspec diff models/churn.mlspec.yaml                     # against HEAD
      mlspec diff models/ --base origin/main --format markdown # the pull-request comment
      mlspec diff old.mlspec.yaml new.mlspec.yaml --fail-on-loosened
      mlspec diff models/ --base origin/main --exit-code       # exit 1 when anything changed
      mlspec diff --platform --base origin/main                # what a platform change does
    """
    from mlspec.records import diff as diff_module

    if platform_choice == "":
        changed = _diff_platform(specs, base or "HEAD", env, fmt)
        _exit(exit_code and changed)
        return
    if not specs:
        fail_usage("missing argument SPEC (or `--platform` alone, to diff the platform file)")
    pair = base is None and len(specs) == 2 and not any(os.path.isdir(s) for s in specs)
    several = not pair and (len(specs) > 1 or any(os.path.isdir(s) for s in specs))
    base = base or "HEAD"
    files = [specs[1]] if pair else (list(specs) if not several else find_specs(specs))
    context = platform_context(platform_choice, files)  # both sides: the working tree's platform file
    results, problems = [], []
    for new_source in files:
        try:
            results.append(_one(specs[0] if pair else None, new_source, base, env, context, ledger_dir, platform_choice))
        except MlspecError as exc:  # every spec's problems, reported once
            problems.extend(exc.diagnostics)
    if problems:
        raise MlspecError(problems)
    command = _command(list(specs), None if pair else base, env, platform_choice)
    click.echo(diff_module.render_document(fmt, results, command, several), nl=False)
    loosened = [r for r in results if r.loosened]
    if fail_on_loosened and loosened:
        for result in loosened:
            click.echo(f"{len(result.warnings)} threshold(s) loosened or removed, {len(result.judged)} evaluation "
                       f"input(s) changed, {len(result.recorded)} recorded evaluation(s) changed in the ledger"
                       + (f" ({result.name})" if several else ""), err=True)
        raise MlspecError([])
    _exit(exit_code and any(r.changed for r in results))


def _exit(changed: bool) -> None:
    if changed:
        click.get_current_context().exit(1)


def _one(old_path: str | None, new_source: str, base: str, env: str | None, context: Any,
         ledger_dir: Path | None, platform_choice: str | None = None) -> Any:
    """One spec compared: with OLD (`old_path`), or with itself (or what Git saw it renamed from) at `base`."""
    from mlspec.records import diff as diff_module
    from mlspec.records.specfiles import git_show

    renamed = None
    if old_path is not None:
        old_text: bytes | None = read_spec(old_path)
        old_source = old_path
    else:
        old_text, old_source = git_show(base, new_source), f"{base}:{new_source}"
        if old_text is None:
            renamed = _renamed_from(base, new_source)
            if renamed is not None:
                old_text, old_source = git_show(base, renamed[1]), f"{base}:{renamed[0]}"
    new = core.compile_document(read_spec(new_source), new_source, env, context)
    old = core.compile_document(old_text, old_source, env, context) if old_text is not None else None
    if ledger_dir is None and old_path is None and repository_of(Path(new_source).absolute().parent) is not None:
        ledger_dir = output_dir(None, None, [new_source], platform_choice)  # as every command finds it
    recorded = _ledger_changes(base, new_source, new.key, ledger_dir) if old_path is None else []
    return diff_module.compare(old, new, recorded, renamed[0] if renamed else None)


def _renamed_from(base: str, path: str) -> tuple[str, str] | None:
    """(path in the repository, path on disk) of the file Git sees `path` renamed from since `base`."""
    import subprocess

    top = _git_toplevel(path)
    if top is None:
        return None
    try:
        proc = subprocess.run(["git", "-C", str(top), "diff", "-M", "--name-status", "-z", "--end-of-options", base,
                               "--"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0") if proc.returncode == 0 else []
    here = os.path.relpath(os.path.realpath(path), os.path.realpath(top)).replace(os.sep, "/")
    for i, status in enumerate(fields[:-2]):
        if status.startswith("R") and fields[i + 2] == here:
            return fields[i + 1], str(top / fields[i + 1])
    return None


def _command(specs: list[str], base: str | None, env: str | None, platform_choice: str | None) -> str:
    """The command that shows everything (text format), short enough to quote in a comment."""
    import shlex

    options = (["--base", base] if base else []) + (["--env", env] if env else []) + \
        (["--platform", platform_choice] if platform_choice else [])
    command = shlex.join(["mlspec", "diff", *specs, *options])
    if len(command) > 2_000:  # many files: their directories show the same and more
        dirs = sorted({os.path.dirname(s) or "." for s in specs})
        command = shlex.join(["mlspec", "diff", *dirs, *options])
        if len(command) > 2_000:
            command = shlex.join(["mlspec", "diff", os.path.commonpath([os.path.abspath(d) for d in dirs]), *options])
    return command


def _ledger_changes(base: str, spec: str, name: str, ledger_dir: Path | None) -> list[Any]:
    """What changed in the ledger of `name` (a model's key) since `base`: recorded evaluations,
    and every rewrite of an entry that existed there (`ledger_history`)."""
    from mlspec.files.loader import load_data
    from mlspec.records import ledger_history
    from mlspec.records.specfiles import git_show

    if ledger_dir is None:
        top = _git_toplevel(spec)
        if top is None:
            return []
        ledger_dir = top / "deploy"
    path = ledger_dir / ledger.relpath(name)
    # Git removes a directory with its last file (a namespace's only ledger): only a
    # missing ledger directory means nothing is recorded here.
    old_text = git_show(base, str(path)) if ledger_dir.is_dir() else None
    if old_text is None:
        return []  # no ledger at the base ref: nothing was recorded that could have changed
    old_data = load_data(old_text, f"{base}:{path}")  # the ledger budget; a damaged one is a positioned error
    now = ledger.load(ledger_dir, name)
    from mlspec.platform import platformfile

    home = platformfile.repo_file(spec)  # with attestation keys trusted there, as `build` judges the entries
    keys = platformfile.read(str(home)).attestation_keys if home is not None else []
    if keys:
        from mlspec.files.errors import LedgerError
        from mlspec.records import attest, attest_keys

        problems = attest.check_ledger(ledger_dir, now, attest_keys.trusted(keys), str(path))
        if problems:
            raise LedgerError(problems)
    return ledger_history.changes(old_data, now)


def _git_toplevel(path: str) -> Path | None:
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(path)), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def _diff_platform(specs: tuple[str, ...], base: str, env: str | None, fmt: str) -> bool:
    """`mlspec diff --platform`: compile every spec with the platform file at `base` and as it is now."""
    from mlspec.platform import platformfile
    from mlspec.records import platformdiff
    from mlspec.records.specfiles import git_show

    home = platformfile.repo_file(str(Path(specs[0] if specs else ".").absolute() / "x"))
    if home is None:
        raise MlspecError([Diagnostic(str(platformfile.HOME), 1, 1, "no platform file in this repository")])
    files = find_specs(specs or (str(home.parent.parent),))
    old_text = git_show(base, str(home))
    old = platformfile.parse(old_text, f"{base}:{platformfile.HOME}") if old_text is not None else None
    result = platformdiff.compare([(f, read_spec(f)) for f in files], old, platformfile.read(str(home)), base, env)
    click.echo(platformdiff.render_json(result) if fmt == "json" else platformdiff.render(result), nl=False)
    return bool(result.models or result.failing)
