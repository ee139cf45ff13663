"""`mlspec history`: the recorded releases of one model.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlspec.cli.common import directory, model_name
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.records import ledger, releases


@click.command("history")
@click.argument("name")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_command(name: str, out: Path, fmt: str) -> None:
    """List the recorded releases of model NAME (newest last; * marks the current one).

    \b
    Examples:
      mlspec history churn -o deploy/
      mlspec history risk/fraud -o deploy/     # the namespaced layout
      mlspec history churn -o deploy/ --format json
    """
    out = directory(out, None) or out
    lg = ledger.load(out, model_name(name))
    if not lg.releases:
        raise MlspecError([Diagnostic(str(out / ledger.relpath(name)), 1, 1, f"no releases of {name} recorded under {out}")])
    rows = releases.history(lg)
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else releases.history_table(rows))
