"""`mlspec history`: the recorded releases of one model.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlspec.cli.common import model_name, output_dir
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.records import ledger, releases


@click.command("history")
@click.argument("name")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger (default: the platform file's `spec.output`, "
              "else deploy/ at the repository root).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_command(name: str, out: Path | None, fmt: str) -> None:
    """List the recorded releases of model NAME (newest last; * marks the current one)."""
    out = output_dir(out)
    lg = ledger.load(out, model_name(name))
    if not lg.releases:
        raise MlspecError([Diagnostic(str(out / ledger.relpath(name)), 1, 1, f"no releases of {name} recorded under {out}")])
    rows = releases.history(lg)
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else releases.history_table(rows))
