"""`mlspec rollback`: regenerate a recorded release with its data context.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlspec.cli.common import directory, model_name
from mlspec.files import outtree
from mlspec.records import ledger, releases


@click.command("rollback")
@click.argument("name")
@click.option("--to", "to", required=True, help="The recorded version to return to.")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the manifests and the release ledger.")
@click.option("--env", help="Roll back only this environment.")
@click.option("--accept-feature-mismatch", is_flag=True,
              help="Roll back even though the feature schema differs (recorded in the lineage).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: what was rolled back, on stdout (schemas/output/rollback.schema.json).")
def rollback_command(name: str, to: str, out: Path, env: str | None, accept_feature_mismatch: bool, fmt: str) -> None:
    """Regenerate release VERSION of NAME from the ledger: its artifact, data and feature context.

    \b
    Examples:
      mlspec history churn -o deploy/         # find the version
      mlspec rollback churn --to 1.2.0 -o deploy/
      mlspec rollback churn --to 1.2.0 -o deploy/ --env prod --format json
    """
    model_name(name)
    out = directory(out, None) or out  # it writes manifests there: no link on the way
    ledgers = ledger.load_all(out)
    # A key with no ledger goes through `load`, which names the other layout's ledgers of that name.
    lg = ledgers[name] if name in ledgers else ledger.load(out, name)
    files = releases.rollback(lg, to, env, accept_feature_mismatch, ledgers, str(out / ledger.relpath(name)))
    outtree.write_tree(out, outtree.list_foreign_resources(out, files), owner=name)
    if fmt == "json":
        click.echo(json.dumps({"model": name, "from": lg.current, "to": to, "output": str(out),
                               "files": sorted(files)}, indent=2))
        return
    click.echo(f"rolled {name} back to {to} under {out}; revert the spec in Git too, or the next build "
               f"brings back {lg.current}", err=True)
