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
from typing import Any

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
        lg = ledger.load(target, name, unsealed_ok=True)  # an edited seal stays refused
        if names and not lg.releases:
            raise MlspecError([Diagnostic(where, 1, 1, f"no releases of {name} recorded under {target}")])
        migrated, sealed = ledger.migrate(lg)
        for entry in sealed:
            metrics = ", ".join(f"{k}={v:g}" for k, v in entry.get("metrics", {}).items()) or "none"
            click.echo(log_safe(f"{name} {entry['version']}: gate {entry.get('gate') or '-'}, metrics {metrics}"))
            for line in vouched_pins(entry):  # what the seal vouches for: every pin, per environment
                click.echo(log_safe(f"  {line}"))
        if sealed or (lg.releases and lg.seal != ledger.ledger_seal(lg)):
            if lg.seal != ledger.ledger_seal(lg):
                click.echo(log_safe(f"{name}: current release {lg.current or '-'} (the ledger's seal)"))
            files[ledger.relpath(name)] = ledger.dump(migrated)
            count += len(sealed)
    if dry_run or not files:
        if dry_run and files and not count:
            click.echo(f"would seal {len(files)} ledger(s) (their current release)", err=True)
            return
        click.echo(f"{'would seal' if files else 'nothing to seal:'} {count} entr{'y' if count == 1 else 'ies'}"
                   f"{' in ' + str(len(files)) + ' ledger(s)' if files else ' (every entry carries its digest)'}", err=True)
        return
    outtree.write_tree(target, files)
    if not count:
        click.echo(f"sealed {len(files)} ledger(s) under {target}; review the diff of _ledger/, then commit it", err=True)
        return
    click.echo(f"sealed {count} entr{'y' if count == 1 else 'ies'} in {len(files)} ledger(s) under {target}; review "
               "the diff of _ledger/ against its Git history, then commit it", err=True)


def vouched_pins(entry: dict[str, Any]) -> list[str]:
    """Every pin a sealed `entry` records, one `key: value` line each: the base's, then each
    environment's that differs (what `migrate` vouches for, for the reviewer to check)."""
    lines = [f"pins {k}: {v}" for k, v in ledger.flat(entry["pins"]).items()]
    for env, pins in sorted((entry.get("environmentPins") or {}).items()):
        lines += [f"pins in environment {env} {k}: {v}" for k, v in ledger.flat(pins).items()]
    return lines + [f"specDigest: {entry.get('specDigest')}"]
