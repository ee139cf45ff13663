"""`mlspec ledger migrate`: seal the entries of a ledger an earlier mlspec wrote.

Every command that reads a ledger refuses an entry without `digest`: removing the seal
would otherwise pass a hand edit of recorded metrics off as an old entry, which the next
build or `gate --record` then sealed as genuine. Sealing is therefore a step of its own,
run on purpose: it lists every entry it seals with the verdict and metrics it vouches
for, changes nothing else, and its diff of `_ledger/` is what a reviewer checks against
the ledger's Git history. An entry that carries a digest it no longer matches stays
refused: migrating never re-seals an edit."""

from __future__ import annotations

from pathlib import Path

import click

from mlspec.cli.common import directory, model_name, root_option
from mlspec.files import outtree
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.files.text import log_safe
from mlspec.records import ledger


@click.group("ledger")
def ledger_group() -> None:
    """Maintain the release ledgers under an output directory.

    \b
    Examples:
      mlspec ledger migrate -o deploy/ --dry-run
      mlspec ledger migrate churn -o deploy/
    """


@ledger_group.command("migrate")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledgers.")
@click.option("--dry-run", is_flag=True, help="List the entries that would be sealed; write nothing.")
@root_option
def migrate_command(names: tuple[str, ...], out: Path, dry_run: bool, root: str | None) -> None:
    """Seal the entries without `digest` in the ledgers of NAMEs (default: every model under OUT).

    Check each listed entry against the ledger's Git history first: sealing vouches for it.

    \b
    Examples:
      mlspec ledger migrate -o deploy/ --dry-run   # list what would be sealed
      mlspec ledger migrate churn -o deploy/
    """
    target = directory(out, root)
    assert target is not None
    chosen = [model_name(n) for n in names] or ledger.names(target)
    files: dict[str, str] = {}
    count = 0
    for name in chosen:
        where = str(target / ledger.relpath(name))
        lg = ledger.verified(ledger.load(target, name), where, unsealed_ok=True)  # an edited seal stays refused
        if names and not lg.releases:
            raise MlspecError([Diagnostic(where, 1, 1, f"no releases of {name} recorded under {target}")])
        migrated, sealed = ledger.migrate(lg)
        for entry in sealed:
            metrics = ", ".join(f"{k}={v:g}" for k, v in entry.get("metrics", {}).items()) or "none"
            click.echo(log_safe(f"{name} {entry['version']}: gate {entry.get('gate') or '-'}, metrics {metrics}"))
        if sealed:
            files[ledger.relpath(name)] = ledger.dump(migrated)
            count += len(sealed)
    if dry_run or not files:
        click.echo(f"{'would seal' if files else 'nothing to seal:'} {count} entr{'y' if count == 1 else 'ies'}"
                   f"{' in ' + str(len(files)) + ' ledger(s)' if files else ' (every entry carries its digest)'}", err=True)
        return
    outtree.write_tree(target, files)
    click.echo(f"sealed {count} entr{'y' if count == 1 else 'ies'} in {len(files)} ledger(s) under {target}; review "
               "the diff of _ledger/ against its Git history, then commit it", err=True)
