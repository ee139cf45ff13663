"""`mlspec validate` and `mlspec build`: specs in, diagnostics or a written output tree out.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from mlspec.cli import report
from mlspec.cli.common import (
    confined,
    directory,
    fail_usage,
    format_option,
    output_dir,
    platform_context,
    platform_option,
    progress_counter,
    quiet_option,
    refuse_second_ledger,
    report_warnings,
    root_option,
    strict_option,
    warnings_of,
)
from mlspec.files.errors import Diagnostic, DriftError, MlspecError
from mlspec.records import releases
from mlspec.records.specfiles import Outcome, abandon, build_into, commit, compile_many, find_specs


@click.command()
@click.argument("specs", nargs=-1, required=True)
@format_option
@strict_option
@quiet_option
@root_option
@platform_option
@click.pass_context
def validate(ctx: click.Context, specs: tuple[str, ...], fmt: str, strict: bool, quiet: bool, root: str | None,
             platform_choice: str | None) -> None:
    """Validate SPEC files (or directories of them) without writing anything; a platform file
    (`kind: Platform`) given here is validated itself.

    \b
    Examples:
      mlspec validate models/                      # every spec below models/
      mlspec validate churn.mlspec.yaml --strict   # warnings fail too
      mlspec validate models/ --format github      # annotations in GitHub Actions
      mlspec validate models/ --quiet              # errors only
    """
    from mlspec.platform import platformfile

    ctx.meta["mlspec.format"] = fmt
    specs = confined(specs, root)
    platforms = [s for s in specs if platformfile.is_platform_file(s)]
    for path in platforms:
        platformfile.read(path)
    if platforms and len(platforms) == len(specs):
        if fmt == "text":
            click.echo(f"ok: {len(platforms)} platform file(s) valid", err=True)
        return
    files = find_specs(tuple(s for s in specs if s not in platforms))
    results = compile_many(files, env=None, context=platform_context(platform_choice, files), keep_files=False)
    count = sum(len(r.environments) for r in results.values())
    warnings = warnings_of(results, strict)  # --strict fails on them even when --quiet hides them
    shown = [] if quiet else warnings
    if fmt == "json" or shown:
        click.echo(report.render(shown, fmt), err=fmt == "text")
    if fmt == "text":
        click.echo(f"ok: {len(files)} spec(s), {count} environment(s) valid"
                   + "".join(f", {n} {kind}(s)" for kind in ("warning", "note")
                             if (n := sum(w.severity == kind for w in warnings))), err=True)


@click.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (default: the platform file's `spec.output`, else deploy/ at the repository root).")
@click.option("--env", help="Build only this environment.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output directory is not up to date.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print one environment as a multi-document YAML stream.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers (default: CPU count).")
@click.option("--verify", "full_verify", is_flag=True, help="Also validate against the Kubernetes strict schemas.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger (default: -o). Lets --stdout embed recorded baselines.")
@click.option("--attest-key", "attest_key", metavar="FILE", envvar="MLSPEC_ATTEST_KEY",
              help="Ed25519 private key (PEM) signing the release attestations under OUT/_attestations/ "
              "(env MLSPEC_ATTEST_KEY; docs/trust.md).")
@format_option
@strict_option
@quiet_option
@root_option
@platform_option
@click.pass_context
def build(ctx: click.Context, specs: tuple[str, ...], out: Path | None, env: str | None, check: bool,
          to_stdout: bool, jobs: int | None, full_verify: bool, ledger_dir: Path | None, attest_key: str | None,
          fmt: str, strict: bool, quiet: bool, root: str | None, platform_choice: str | None) -> None:
    """Compile SPEC files into OUT/<env>/<name>/ (one file per object + kustomization.yaml).

    \b
    Examples:
      mlspec build models/                             # every spec, every environment, into deploy/
      mlspec build churn.mlspec.yaml --env prod
      mlspec build models/ --check                     # CI: exit 1 and a diff if deploy/ is stale
      mlspec build churn.mlspec.yaml --stdout --env prod | kubectl apply --dry-run=client -f -
      mlspec build models/ --format json               # a summary for tools
    """
    ctx.meta["mlspec.format"] = fmt
    given = (specs, out, ledger_dir)  # as typed: the command `--check` prints repeats them
    if to_stdout and (check or out):
        fail_usage("--stdout prints instead of writing: do not combine it with -o or --check")
    ledger_dir = directory(ledger_dir, root)
    files = find_specs(confined(specs, root))
    if not to_stdout:
        out = output_dir(out, root, files, platform_choice)
    if full_verify:
        _check_verify_installed()
    progress = progress_counter() if len(files) > 1 else None
    context = platform_context(platform_choice, files)
    if to_stdout:
        context = replace(context, recorded_metrics=releases.RecordedMetrics(ledger_dir))
        results = compile_many(files, env=env, jobs=jobs, context=context, progress=progress, full_verify=full_verify)
        report_warnings(results, strict, "text", to_stderr=True, quiet=quiet)  # stdout carries the manifests
        envs = sorted({e for result in results.values() for e in result.environments})
        if len(envs) != 1:
            fail_usage(f"--stdout prints one environment, but this build has {', '.join(envs)}; select one with --env")
        for index, doc in enumerate(d for result in results.values() for d in result.documents(envs[0])):
            click.echo(("---\n" if index else "") + doc, nl=False)  # one at a time: no second copy of it all
        return
    assert out is not None
    if attest_key:  # one error for a bad key, before any worker reads it
        from mlspec.records import attest_keys

        attest_keys.signer(attest_key)
    outcomes = build_into(files, out, env=env, ledger_dir=ledger_dir, check=check, jobs=jobs, progress=progress,
                          full_verify=full_verify, plat=context.platform, attest_key=attest_key or None)
    if check:
        _report_check(outcomes, out, fmt, strict, quiet, _regenerate(given, env, platform_choice, root))
        return
    try:
        refuse_second_ledger(out, {o.key: path for path, o in outcomes.items()})  # one ledger per model
        warnings = warnings_of(outcomes, strict)  # --strict: warnings fail the build
        if fmt != "json":
            report_warnings(outcomes, False, fmt, to_stderr=fmt == "text", quiet=quiet)
    except BaseException:
        abandon(outcomes)  # nothing staged is swapped in
        raise
    try:
        commit(out, outcomes)
    except OSError as exc:  # the machine's problem, not mlspec's
        raise MlspecError([Diagnostic(str(exc.filename or out), 1, 1, f"cannot write: {exc.strerror}",
                                      rule="cannot-write")]) from None
    directories = {d for o in outcomes.values() for d in o.directories}
    if fmt == "json":
        click.echo(_summary(files, out, outcomes, [] if quiet else warnings, written=True))
        return
    click.echo(f"built {len(files)} spec(s) into {len(directories)} director{'y' if len(directories) == 1 else 'ies'} "
               f"under {out} ({sum(o.count for o in outcomes.values())} files)", err=True)


def _regenerate(given: tuple[tuple[str, ...], Path | None, Path | None], env: str | None, platform: str | None,
                root: str | None) -> list[str]:
    """The command `--check` prints: this one's arguments as typed, without `--check`."""
    from mlspec.cli import checkreport

    specs, out, ledger_dir = given
    return checkreport.regenerate(specs, None if out is None else str(out), env, platform, root,
                                  None if ledger_dir is None else str(ledger_dir))


def _report_check(outcomes: dict[str, Outcome], out: Path, fmt: str, strict: bool, quiet: bool,
                  argv: list[str]) -> None:
    """`--check`: exit 0 when the tree is what the build writes, else say what differs, how
    (the first lines of each diff) and the command that regenerates it; exit 1."""
    from mlspec.cli import checkreport

    warnings = warnings_of(outcomes, strict)  # --strict: warnings fail, as in a build
    shown = [] if quiet else warnings
    drift = [d for o in outcomes.values() for d in o.drift]
    if fmt == "json":  # one document on stdout: the warnings are in it
        click.echo(checkreport.as_json(drift, out, argv, shown))
    else:
        if shown:
            click.echo(report.render(shown, fmt), err=fmt == "text")
        if drift:
            click.echo((checkreport.text if fmt == "text" else checkreport.github)(drift, out, argv), err=fmt == "text")
    if drift:
        raise DriftError([])  # said above
    if fmt != "json":
        click.echo(f"up to date: {sum(o.count for o in outcomes.values())} file(s) under {out}", err=True)


def _summary(files: list[str], out: Path, outcomes: dict[str, Any], warnings: list[Diagnostic], written: bool) -> str:
    """`build --format json` (schemas/output/build.schema.json)."""
    return json.dumps({
        "specs": len(files), "output": str(out), "written": written,
        "directories": sorted({str(d) for o in outcomes.values() for d in o.directories}),
        "files": sum(o.count for o in outcomes.values()),
        "warnings": report.as_data(warnings),
    }, indent=2)


def _check_verify_installed() -> None:
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        fail_usage("--verify needs kubernetes-validate: install mlspec with the extra `verify` "
                   "(its wheel or Git URL with `[verify]`; README.md, Install)")
