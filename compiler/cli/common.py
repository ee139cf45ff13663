"""What every command shares: the group that turns exceptions into output and exit
codes (one place), the common options and the small helpers over paths and warnings.

Exit codes: 0 success; 1 invalid input, drift or a failed gate; 2 usage error;
3 internal error (a short message; the traceback only with `--debug`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mlspec.files import layout
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.files.text import log_safe

if TYPE_CHECKING:
    from mlspec.pipeline import resolve

EXIT_INVALID, EXIT_INTERNAL = 1, 3  # usage errors exit 2, as click does
# `report.FORMATS`, spelled here so `--help` loads no reporter (a test checks they agree).
FORMATS = ("text", "json", "github")


class Group(click.Group):
    """Turns every exception into output and an exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MlspecError as exc:
            # A failed gate or a loosened threshold has already said why: no diagnostics.
            if exc.diagnostics:
                from mlspec.cli import report

                fmt = ctx.meta.get("mlspec.format", "text")
                click.echo(report.render(exc.diagnostics, fmt), err=fmt == "text")
            ctx.exit(EXIT_INVALID)
        except BrokenPipeError:
            _quiet_pipe()
            ctx.exit(0)  # the reader has what it wanted (`| head -1`), as `git log | head` ends
        except KeyboardInterrupt:
            click.echo("mlspec: interrupted; nothing was written", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place internal errors are reported
            if ctx.meta.get("mlspec.debug"):
                import traceback

                traceback.print_exc()
            else:
                click.echo(f"mlspec: internal error: {type(exc).__name__}: {log_safe(str(exc))} (rerun with --debug for a traceback)",
                           err=True)
            ctx.exit(EXIT_INTERNAL)


def _quiet_pipe() -> None:
    """After the reader closed stdout: point it at /dev/null, so that the interpreter's
    last flush does not fail again ("Exception ignored ... BrokenPipeError")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test runner's buffer): nothing to flush
        pass


def fail_usage(message: str) -> NoReturn:
    raise click.UsageError(message)


strict_option = click.option("--strict", is_flag=True,
                       help="Treat warnings (e.g. canary weights pod counts cannot meet) as errors: exit 1, write nothing.")


def warnings_of(results: dict[str, Any], strict: bool) -> list[Diagnostic]:
    """Every warning once, in file order; with --strict they fail the command like errors."""
    warnings = sorted({w for result in results.values() for w in result.warnings})
    failing = [w for w in warnings if w.severity == "warning"]  # notes (capacity) inform only
    if strict and failing:
        raise MlspecError([replace(w, severity="error") for w in failing])
    return warnings


root_option = click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Every path given must stay inside DIR: relative to it, no `..`, no symbolic link on "
                     "the way (the Argo CD plugin passes `--root .`, the application directory).")


def confined(paths: tuple[str, ...], root: str | None) -> tuple[str, ...]:
    from mlspec.files import safepath

    return paths if root is None else tuple(safepath.confine(p, root) for p in paths)


def directory(path: Path | None, root: str | None) -> Path | None:
    """An output or ledger directory from the command line, no link on the way: below
    `--root`, or below the root `safepath.anchored` picks when none is given."""
    if path is None:
        return None
    from mlspec.files import safepath

    return Path(safepath.confine(str(path), root)) if root is not None else safepath.anchored(path)


DEFAULT_OUTPUT = "deploy"


def repository_of(path: Path) -> Path | None:
    """The root of the repository holding `path` (`mlspec.platform.lookup.repository_of`)."""
    from mlspec.platform import lookup

    return lookup.repository_of(path)


def output_dir(given: Path | None, root: str | None = None, specs: tuple[str, ...] | list[str] = (),
               platform_choice: str | None = None) -> Path:
    """The output directory of every command, resolved one way: `-o` when given; else the
    platform file's `spec.output`, else `deploy`, at the root of the repository holding
    the first spec (or the current directory). The same place from any subdirectory."""
    from mlspec.platform import platformfile

    if given is not None:
        out = directory(given, root)
        assert out is not None
        return out
    start = Path(specs[0]).absolute().parent if specs else Path.cwd()
    top = repository_of(start)
    if top is None:
        fail_usage(f"missing option -o/--output: no Git repository holds {_shown(start)}, so there is no default "
                   f"output directory (`{DEFAULT_OUTPUT}/` at the repository root, or the platform file's `spec.output`)")
    platform = platformfile.find(platform_choice, [str(specs[0]) if specs else str(start / "-")])
    rel = platform.output if platform is not None and platform.output else DEFAULT_OUTPUT
    path = top
    for part in Path(rel).parts:  # a link on the way would carry every write out of the repository
        path = path / part
        if os.path.islink(path):
            from mlspec.files import safepath

            assert platform is not None  # `deploy` itself is checked below, as `-o deploy` is
            source, (line, col) = platform.doc.locate(("spec", "output"), key=False)
            raise MlspecError([Diagnostic(source, line, col, f"`spec.output` {rel!r} passes {_shown(path)}, which "
                                          f"{safepath.LINK}: name a directory of the repository itself")])
    below = os.path.relpath(top / rel)  # written as the user would: relative when below the current directory
    out = directory(Path(below if not below.startswith("..") else top / rel), root)
    assert out is not None
    return out


def _shown(path: Path) -> str:
    """`path` as the user reads it: relative to the current directory when in its repository."""
    rel = os.path.relpath(path)
    same = not rel.startswith("..") or repository_of(Path.cwd()) == repository_of(Path(os.path.abspath(path)).parent)
    return rel if same else str(path)


def refuse_second_ledger(out: Path, keys: dict[str, str]) -> None:
    """A model recorded in another ledger of the repository gets no second one under
    `out` (`keys`: model key -> the spec that names it): two ledgers of one model
    disagree on what was released."""
    from mlspec.records import ledger

    top = repository_of(out)
    new = {key: spec for key, spec in keys.items() if not os.path.lexists(out / ledger.relpath(key))}
    if top is None or not new:
        return
    here = os.path.abspath(out)
    problems = []
    for directory_, names, _ in os.walk(top):  # links are not followed
        names[:] = sorted(n for n in names if not n.startswith(".") and n != ledger.LEDGER_DIR
                          and os.path.join(directory_, n) != here)
        if not os.path.isdir(os.path.join(directory_, ledger.LEDGER_DIR)):
            continue
        for key, spec in sorted(new.items()):
            other = Path(directory_) / ledger.relpath(key)
            if os.path.isfile(other) and not os.path.islink(other):
                problems.append(Diagnostic(spec, 1, 1, (
                    f"model `{key}` is already recorded in {_shown(other)}; a ledger under {_shown(out)} would be a "
                    f"second one: build into {_shown(Path(directory_))} (`-o {_shown(Path(directory_))}`, or the "
                    "platform file's `spec.output`), or move that ledger")))
    if problems:
        raise MlspecError(sorted(set(problems)))


def model_name(name: str) -> str:
    """NAME of history/rollback/ledger migrate: a model's key (NAME, or NAMESPACE/NAME in the
    namespaced layout), checked before it becomes part of a path."""
    if not layout.valid_key(name):
        fail_usage(f"NAME {name!r} is not a model name: NAME, or NAMESPACE/NAME in the namespaced layout (DNS-1123 "
                    "labels: lowercase letters, digits and `-`)")
    return name


platform_option = click.option("--platform", "platform_choice", metavar="FILE|none",
                         help="The platform file (defaults and policy). Default: .mlspec/platform.yaml at the "
                         "repository root (the directory holding .git); `none`: no platform file.")


def platform_context(choice: str | None, files: list[str], context: resolve.Context | None = None) -> resolve.Context:
    """The context of a command's specs: `context` carrying the chosen platform file."""
    from mlspec.pipeline.resolve import Context
    from mlspec.platform import platformfile

    return platformfile.with_platform(context or Context(), platformfile.find(choice, files))  # type: ignore[no-any-return]


format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                       help="How errors are reported: text, json, or GitHub Actions annotations.")


quiet_option = click.option("-q", "--quiet", is_flag=True,
                             help="Print no warnings or notes (errors still print; --strict still fails on warnings).")


def report_warnings(results: dict[str, Any], strict: bool, fmt: str, to_stderr: bool, quiet: bool = False) -> None:
    warnings = warnings_of(results, strict)
    if warnings and not quiet:
        from mlspec.cli import report

        click.echo(report.render(warnings, fmt), err=to_stderr)


def progress_counter() -> Any:
    """A one-line counter on stderr when it is a terminal; nothing in CI logs."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\rcompiling {done}/{total}", err=True, nl=done == total)

    return show
