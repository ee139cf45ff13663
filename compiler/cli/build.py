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
    platform_context,
    platform_option,
    progress_counter,
    quiet_option,
    report_warnings,
    root_option,
    strict_option,
    warnings_of,
)
from mlspec.files.errors import Diagnostic, DriftError, MlspecError
from mlspec.records import releases
from mlspec.records.specfiles import abandon, build_into, commit, compile_many, find_specs


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
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--env", help="Build only this environment.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output directory is not up to date.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print one environment as a multi-document YAML stream.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers (default: CPU count).")
@click.option("--verify", "full_verify", is_flag=True, help="Also validate against the Kubernetes strict schemas.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger (default: -o). Lets --stdout embed recorded baselines.")
@format_option
@strict_option
@quiet_option
@root_option
@platform_option
@click.pass_context
def build(ctx: click.Context, specs: tuple[str, ...], out: Path | None, env: str | None, check: bool,
          to_stdout: bool, jobs: int | None, full_verify: bool, ledger_dir: Path | None, fmt: str,
          strict: bool, quiet: bool, root: str | None, platform_choice: str | None) -> None:
    """Compile SPEC files into OUT/<env>/<name>/ (one file per object + kustomization.yaml).

    \b
    Examples:
      mlspec build models/ -o deploy/                  # every spec, every environment
      mlspec build churn.mlspec.yaml -o deploy/ --env prod
      mlspec build models/ -o deploy/ --check          # CI: exit 1 if deploy/ is stale
      mlspec build churn.mlspec.yaml --stdout --env prod | kubectl apply --dry-run=client -f -
      mlspec build models/ -o deploy/ --format json    # a summary for tools
    """
    ctx.meta["mlspec.format"] = fmt
    if to_stdout and (check or out):
        fail_usage("--stdout prints instead of writing: do not combine it with -o or --check")
    if not to_stdout and out is None:
        fail_usage("missing option -o/--output (or use --stdout)")
    out, ledger_dir = directory(out, root), directory(ledger_dir, root)
    files = find_specs(confined(specs, root))
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
    outcomes = build_into(files, out, env=env, ledger_dir=ledger_dir, check=check, jobs=jobs, progress=progress,
                          full_verify=full_verify, plat=context.platform)
    try:
        warnings = warnings_of(outcomes, strict)  # --strict: warnings fail the build
        if fmt != "json":
            report_warnings(outcomes, False, fmt, to_stderr=fmt == "text", quiet=quiet)
    except BaseException:
        abandon(outcomes)  # nothing staged is swapped in
        raise
    if check:
        drift = sorted(d for o in outcomes.values() for d in o.drift)
        if drift:
            raise DriftError([Diagnostic(str(out / rel), 1, 1, message) for rel, message in drift])
        if fmt == "json":
            click.echo(_summary(files, out, outcomes, [] if quiet else warnings, written=False))
        else:
            click.echo(f"up to date: {sum(o.count for o in outcomes.values())} file(s) under {out}", err=True)
        return
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
        fail_usage("--verify needs the optional extra: pip install kubernetes-validate (or the extra 'mlspec-gitops[verify]')")
