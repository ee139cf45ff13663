"""The command line: click parses, one function per command calls the core.

Exit codes: 0 success; 1 invalid input, drift or a failed gate; 2 usage error;
3 internal error (a short message; the traceback only with `--debug`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from mlspec import __version__, core, layout, ledger, model, outtree, releases, report, safepath
from mlspec.errors import Diagnostic, MlspecError
from mlspec.resolve import Context
from mlspec.text import log_safe
from mlspec.specfiles import abandon, build_into, commit, compile_many, find_specs

EXIT_INVALID, EXIT_INTERNAL = 1, 3  # usage errors exit 2, as click does


class _Group(click.Group):
    """Turns every exception into output and an exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MlspecError as exc:
            # A failed gate or a loosened threshold has already said why: no diagnostics.
            if exc.diagnostics:
                fmt = ctx.meta.get("mlspec.format", "text")
                click.echo(report.render(exc.diagnostics, fmt), err=fmt == "text")
            ctx.exit(EXIT_INVALID)
        except KeyboardInterrupt:
            click.echo("mlspec: interrupted; nothing was written", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place internal errors are reported
            if ctx.meta.get("mlspec.debug"):
                traceback.print_exc()
            else:
                click.echo(f"mlspec: internal error: {type(exc).__name__}: {log_safe(str(exc))} (rerun with --debug for a traceback)",
                           err=True)
            ctx.exit(EXIT_INTERNAL)


def _fail_usage(message: str) -> NoReturn:
    raise click.UsageError(message)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlspec")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Compile ML model specs into GitOps manifests (Argo Rollouts, Argo CD, Flux)."""
    ctx.meta["mlspec.debug"] = debug


_strict = click.option("--strict", is_flag=True,
                       help="Treat warnings (e.g. canary weights pod counts cannot meet) as errors: exit 1, write nothing.")


def _warnings(results: dict[str, Any], strict: bool) -> list[Diagnostic]:
    """Every warning once, in file order; with --strict they fail the command like errors."""
    warnings = sorted({w for result in results.values() for w in result.warnings})
    failing = [w for w in warnings if w.severity == "warning"]  # notes (capacity) inform only
    if strict and failing:
        raise MlspecError([replace(w, severity="error") for w in failing])
    return warnings


_root = click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Every path given must stay inside DIR: relative to it, no `..`, no symbolic link on "
                     "the way (the Argo CD plugin passes `--root .`, the application directory).")


def _confined(paths: tuple[str, ...], root: str | None) -> tuple[str, ...]:
    return paths if root is None else tuple(safepath.confine(p, root) for p in paths)


def _directory(path: Path | None, root: str | None) -> Path | None:
    """An output or ledger directory from the command line, no link on the way: below
    `--root`, or below the root `safepath.anchored` picks when none is given."""
    if path is None:
        return None
    return Path(safepath.confine(str(path), root)) if root is not None else safepath.anchored(path)


def _model_name(name: str) -> str:
    """NAME of history/rollback/ledger migrate: a model's key (NAME, or NAMESPACE/NAME in the
    namespaced layout), checked before it becomes part of a path."""
    if not layout.valid_key(name):
        _fail_usage(f"NAME {name!r} is not a model name: NAME, or NAMESPACE/NAME in the namespaced layout (DNS-1123 "
                    "labels: lowercase letters, digits and `-`)")
    return name


_platform = click.option("--platform", "platform_choice", metavar="FILE|none",
                         help="The platform file (defaults and policy). Default: .mlspec/platform.yaml at the "
                         "repository root (the directory holding .git); `none`: no platform file.")


def _platform_context(choice: str | None, files: list[str], context: Context | None = None) -> Context:
    """The context of a command's specs: `context` carrying the chosen platform file."""
    from mlspec import platform

    return platform.with_platform(context or Context(), platform.find(choice, files))  # type: ignore[no-any-return]


_format = click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="text", show_default=True,
                       help="How errors are reported: text, json, or GitHub Actions annotations.")


@main.command()
@click.argument("specs", nargs=-1, required=True)
@_format
@_strict
@_root
@_platform
@click.pass_context
def validate(ctx: click.Context, specs: tuple[str, ...], fmt: str, strict: bool, root: str | None,
             platform_choice: str | None) -> None:
    """Validate SPEC files (or directories of them) without writing anything; a platform file
    (`kind: Platform`) given here is validated itself."""
    from mlspec import platform

    ctx.meta["mlspec.format"] = fmt
    specs = _confined(specs, root)
    platforms = [s for s in specs if platform.is_platform_file(s)]
    for path in platforms:
        platform.read(path)
    if platforms and len(platforms) == len(specs):
        if fmt == "text":
            click.echo(f"ok: {len(platforms)} platform file(s) valid", err=True)
        return
    files = find_specs(tuple(s for s in specs if s not in platforms))
    results = compile_many(files, env=None, context=_platform_context(platform_choice, files), keep_files=False)
    count = sum(len(r.environments) for r in results.values())
    warnings = _warnings(results, strict)
    if fmt == "json" or warnings:
        click.echo(report.render(warnings, fmt), err=fmt == "text")
    if fmt == "text":
        click.echo(f"ok: {len(files)} spec(s), {count} environment(s) valid"
                   + "".join(f", {n} {kind}(s)" for kind in ("warning", "note")
                             if (n := sum(w.severity == kind for w in warnings))), err=True)


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--env", help="Build only this environment.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output directory is not up to date.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print one environment as a multi-document YAML stream.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers (default: CPU count).")
@click.option("--verify", "full_verify", is_flag=True, help="Also validate against the Kubernetes strict schemas.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger (default: -o). Lets --stdout embed recorded baselines.")
@_format
@_strict
@_root
@_platform
@click.pass_context
def build(ctx: click.Context, specs: tuple[str, ...], out: Path | None, env: str | None, check: bool,
          to_stdout: bool, jobs: int | None, full_verify: bool, ledger_dir: Path | None, fmt: str,
          strict: bool, root: str | None, platform_choice: str | None) -> None:
    """Compile SPEC files into OUT/<env>/<name>/ (one file per object + kustomization.yaml)."""
    ctx.meta["mlspec.format"] = fmt
    if to_stdout and (check or out):
        _fail_usage("--stdout prints instead of writing: do not combine it with -o or --check")
    if not to_stdout and out is None:
        _fail_usage("missing option -o/--output (or use --stdout)")
    out, ledger_dir = _directory(out, root), _directory(ledger_dir, root)
    files = find_specs(_confined(specs, root))
    if full_verify:
        _check_verify_installed()
    progress = _progress() if len(files) > 1 else None
    context = _platform_context(platform_choice, files)
    if to_stdout:
        context = replace(context, recorded_metrics=releases.RecordedMetrics(ledger_dir))
        results = compile_many(files, env=env, jobs=jobs, context=context, progress=progress, full_verify=full_verify)
        _report_warnings(results, strict, "text", to_stderr=True)  # stdout carries the manifests
        envs = sorted({e for result in results.values() for e in result.environments})
        if len(envs) != 1:
            _fail_usage(f"--stdout prints one environment, but this build has {', '.join(envs)}; select one with --env")
        for index, doc in enumerate(d for result in results.values() for d in result.documents(envs[0])):
            click.echo(("---\n" if index else "") + doc, nl=False)  # one at a time: no second copy of it all
        return
    assert out is not None
    outcomes = build_into(files, out, env=env, ledger_dir=ledger_dir, check=check, jobs=jobs, progress=progress,
                          full_verify=full_verify, plat=context.platform)
    try:
        _report_warnings(outcomes, strict, fmt, to_stderr=fmt == "text")  # --strict: warnings fail the build
    except BaseException:
        abandon(outcomes)  # nothing staged is swapped in
        raise
    if check:
        drift = sorted(d for o in outcomes.values() for d in o.drift)
        if drift:
            raise MlspecError([Diagnostic(str(out / rel), 1, 1, message) for rel, message in drift])
        click.echo(f"up to date: {sum(o.count for o in outcomes.values())} file(s) under {out}", err=True)
        return
    try:
        commit(out, outcomes)
    except OSError as exc:  # the machine's problem, not mlspec's
        raise MlspecError([Diagnostic(str(exc.filename or out), 1, 1, f"cannot write: {exc.strerror}")]) from None
    directories = {d for o in outcomes.values() for d in o.directories}
    click.echo(f"built {len(files)} spec(s) into {len(directories)} director{'y' if len(directories) == 1 else 'ies'} "
               f"under {out} ({sum(o.count for o in outcomes.values())} files)", err=True)


def _report_warnings(results: dict[str, Any], strict: bool, fmt: str, to_stderr: bool) -> None:
    warnings = _warnings(results, strict)
    if warnings:
        click.echo(report.render(warnings, fmt), err=to_stderr)


def _progress() -> Any:
    """A one-line counter on stderr when it is a terminal; nothing in CI logs."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\rcompiling {done}/{total}", err=True, nl=done == total)

    return show


def _check_verify_installed() -> None:
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        _fail_usage("--verify needs the optional extra: pip install kubernetes-validate (or the extra 'mlspec-gitops[verify]')")


@main.command("init")
@click.argument("name", required=False)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (default: NAME.mlspec.yaml). An existing file is never overwritten.")
@click.option("--schema", "schema_ref",
              help="Schema path or URL for the editor modeline. Default: write (or refresh) the repository's "
              "copy at .mlspec/schema.json beside .git and point the modeline at it relatively.")
@click.option("--platform", "platform_choice", is_flag=False, flag_value="", default=None, metavar="[FILE|none]",
              help="Alone (no NAME): scaffold the repository's .mlspec/platform.yaml. With NAME: the platform "
              "file the spec is checked with (default: the repository's; `none`: none).")
def init_command(name: str | None, out: Path | None, schema_ref: str | None, platform_choice: str | None) -> None:
    """Scaffold a commented spec that validates, with a schema modeline that works offline
    (or, with `--platform` alone, the repository's platform file)."""
    from mlspec import platform, scaffold, schema

    if name is None:
        if platform_choice != "":
            _fail_usage("missing argument NAME (or `--platform` alone, to scaffold the platform file)")
        _init_platform(out)
        return
    try:
        scaffold.check_name(name)  # before NAME becomes a file name
    except ValueError as exc:
        _fail_usage(str(exc))
    out = out or Path(f"{name}.mlspec.yaml")
    root, rel = safepath.named(out, climb=False)  # a relative -o stays below the current directory
    home = scaffold.schema_home(out) if schema_ref is None else None
    ref = scaffold.modeline_ref(out, home) if home is not None else schema_ref or ""
    try:
        text = scaffold.spec(name, ref)
    except ValueError as exc:
        _fail_usage(str(exc))
    found = platform.find(platform_choice or None, [str(out)])
    if found is not None:  # what the platform provides, the spec does not repeat
        text = platform.omit_provided(text, found)
        if found.layout == layout.NAMESPACED:
            text = scaffold.with_namespace(text, name)
    if scaffold.exists(root, rel):
        raise MlspecError([Diagnostic(str(out), 1, 1, "file exists; refusing to overwrite it")])
    if home is not None:
        scaffold.refresh_schema(home, schema.schema_text())
        if (home.parent / platform.HOME.name).is_file():  # the platform file's editor schema, beside the spec's
            _refresh(home.parent / platform.SCHEMA_NAME, platform.schema_text())
    if not scaffold.create(root, rel, text):
        raise MlspecError([Diagnostic(str(out), 1, 1, "file exists; refusing to overwrite it")])
    click.echo(f"wrote {out}: replace the TODO placeholders, then run `mlspec build {out} -o deploy/`", err=True)
    if home is not None:
        click.echo(f"editor schema: {home} (refresh it after upgrading mlspec: `mlspec schema -o {home}`)", err=True)


def _refresh(path: Path, text: str) -> None:
    """Write an editor schema beside the spec's (atomically, never through a link)."""
    root, rel = safepath.named(path)
    safepath.write(root, rel, text.encode("utf-8"))


def _init_platform(out: Path | None) -> None:
    """`mlspec init --platform`: the repository's platform file, with its schema beside it."""
    from mlspec import platform, scaffold

    target = out or scaffold.schema_home(Path("spec.yaml")).parent / platform.HOME.name
    schema_path = target.parent / platform.SCHEMA_NAME
    root, rel = safepath.named(target)
    if scaffold.exists(root, rel):
        raise MlspecError([Diagnostic(str(target), 1, 1, "file exists; refusing to overwrite it")])
    _refresh(schema_path, platform.schema_text())
    if not scaffold.create(root, rel, platform.scaffold(scaffold.modeline_ref(target, schema_path))):
        raise MlspecError([Diagnostic(str(target), 1, 1, "file exists; refusing to overwrite it")])
    click.echo(f"wrote {target} (editor schema: {schema_path}); `mlspec validate {target}` checks it", err=True)


@main.command("schema")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--record", "of_record", is_flag=True, help="The training record's schema (`release --from-record`).")
@click.option("--platform", "of_platform", is_flag=True, help="The platform file's schema (`.mlspec/platform.yaml`).")
def schema_command(out: Path | None, of_record: bool, of_platform: bool) -> None:
    """Print the JSON Schema of the spec (or of the training record, or of the platform file), for editors."""
    from mlspec import platform, record, schema

    text = record.schema_text() if of_record else platform.schema_text() if of_platform else schema.schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        root, rel = safepath.named(out)
        outtree.write_file(Path(root), rel, text)


# The commands over a model's records register themselves on `main` (gate, diff, digest,
# history, rollback, release, ledger): imported last, when everything they use from here exists.
from mlspec import cli_ledger, cli_records  # noqa: E402,F401


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
