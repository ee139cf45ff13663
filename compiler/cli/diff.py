"""`mlspec diff`: what a spec or platform change does to the output, with the ledger's
recorded evaluations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mlspec.cli.common import fail_usage, platform_context
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.pipeline import core
from mlspec.records import ledger
from mlspec.records.specfiles import find_specs, read_spec


@click.command("diff")
@click.argument("specs", nargs=-1)
@click.option("--base", default="HEAD", show_default=True, help="Git ref to compare SPEC against (one SPEC only).")
@click.option("--env", help="Compare only this environment's manifests.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "text"]), default="text", show_default=True)
@click.option("--fail-on-loosened", is_flag=True,
              help="Exit 1 when a threshold is loosened or removed, the evaluation dataset or image changed, or a "
              "recorded metric changed in the ledger.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory holding the release ledger, compared with its state at --base "
              "(default: deploy/ at the repository root, when it holds this model's ledger).")
@click.option("--platform", "platform_choice", is_flag=False, flag_value="", default=None, metavar="[FILE|none]",
              help="Alone: list the models and objects the platform file's change since --base changes (SPECs: "
              "the specs to compile, default the repository's). With FILE|none: the platform both sides use.")
def diff_command(specs: tuple[str, ...], base: str, env: str | None, fmt: str,
                 fail_on_loosened: bool, ledger_dir: Path | None, platform_choice: str | None) -> None:
    """Compare a spec with its version at a Git ref (SPEC) or two specs (OLD NEW): ML summary, then manifests.

    \b
    Examples:
      mlspec diff models/churn.mlspec.yaml                     # against HEAD
      mlspec diff models/churn.mlspec.yaml --base origin/main --format markdown
      mlspec diff old.mlspec.yaml new.mlspec.yaml --fail-on-loosened
      mlspec diff --platform --base origin/main               # what a platform change does
    """
    from mlspec.records import diff as diff_module
    from mlspec.records.specfiles import git_show

    if platform_choice == "":
        _diff_platform(specs, base, env, fmt)
        return
    if not specs:
        fail_usage("missing argument SPEC (or `--platform` alone, to diff the platform file)")
    if len(specs) > 2:
        fail_usage("diff takes SPEC (against --base) or OLD NEW")
    if len(specs) == 2:
        old_text: bytes | None = read_spec(specs[0])
        old_source, new_source = specs
    else:
        old_text, old_source, new_source = git_show(base, specs[0]), f"{base}:{specs[0]}", specs[0]
    context = platform_context(platform_choice, [new_source])  # both sides: the working tree's platform file
    new = core.compile_document(read_spec(new_source), new_source, env, context)
    old = core.compile_document(old_text, old_source, env, context) if old_text is not None else None
    recorded = _ledger_changes(base, new_source, new.key, ledger_dir) if len(specs) == 1 else []
    result = diff_module.compare(old, new, recorded)
    click.echo(diff_module.RENDERERS[fmt](result), nl=False)
    if fail_on_loosened and result.loosened:
        click.echo(f"{len(result.warnings)} threshold(s) loosened or removed, {len(result.judged)} evaluation "
                   f"input(s) changed, {len(result.recorded)} recorded evaluation(s) changed in the ledger", err=True)
        raise MlspecError([])


def _ledger_changes(base: str, spec: str, name: str, ledger_dir: Path | None) -> list[Any]:
    """What changed in the recorded evaluations of the ledger of `name` (a model's key) since `base`."""
    from mlspec.files.loader import load_data
    from mlspec.records import diff as diff_module
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
    return diff_module.recorded_changes(old_data, ledger.load(ledger_dir, name))


def _git_toplevel(path: str) -> Path | None:
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(path)), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def _diff_platform(specs: tuple[str, ...], base: str, env: str | None, fmt: str) -> None:
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
