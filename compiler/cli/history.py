"""`mlspec history`: the recorded releases of one model.

Like `helm history`, each row says when and by whom a release was recorded: the Git
commit that added its entry to the ledger (`git log` on the ledger file), blank when
the ledger is not in a Git repository or the entry is not committed yet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import click

from mlspec.cli.common import model_name, output_dir
from mlspec.files.errors import Diagnostic, MlspecError
from mlspec.files.text import log_safe
from mlspec.records import ledger, releases

# An entry starts at column 0 of the ledger (`- version: '1.2.0'`); `git log -p` prefixes
# an added line with `+`. A commit's header line is `\x01` + hash, date, author.
_ADDED_ENTRY = re.compile(r"^\+- version: (?P<q>['\"]?)(?P<version>[^'\"]+)(?P=q)\s*$")
_HEADER = "\x01"


@click.command("history")
@click.argument("name")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="GitOps output directory holding the release ledger (default: the platform file's `spec.output`, "
              "else deploy/ at the repository root).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_command(name: str, out: Path | None, fmt: str) -> None:
    """List the recorded releases of model NAME (newest last; * marks the current one).

    \b
    Examples:
      mlspec history churn                     # the repository's output directory
      mlspec history risk/fraud                # the namespaced layout
      mlspec history churn --format json
    """
    out = output_dir(out)
    lg = ledger.load(out, model_name(name))
    if not lg.releases:
        known = ", ".join(ledger.names(out)) or "none"
        raise MlspecError([Diagnostic(str(out / ledger.relpath(name)), 1, 1,
                                      f"no releases of {name} recorded under {out}; recorded models: {known}",
                                      rule="unknown-model")])
    rows = releases.history(lg, recorded_by(out / ledger.relpath(name)))
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else releases.history_table(rows))


def recorded_by(ledger_file: Path) -> dict[str, dict[str, str]]:
    """Per version, the oldest commit whose change to `ledger_file` added its entry:
    {"date": ISO 8601, "author": name, "commit": full hash}. Empty outside Git."""
    command = ["git", "-C", str(ledger_file.parent), "log", "--reverse", "--no-color", "--no-ext-diff", "-p",
               "--unified=0", f"--format={_HEADER}%H%x09%aI%x09%an", "--", ledger_file.name]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False,
                              env={**os.environ, "GIT_PAGER": "cat", "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:  # not a repository, or git missing: blank columns
        return {}
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(_HEADER):
            commit, date, author = (line[1:].split("\t", 2) + ["", ""])[:3]
            current = {"date": date, "author": log_safe(author), "commit": commit}
            continue
        match = _ADDED_ENTRY.match(line)
        if match and current and match["version"] not in found:
            found[match["version"]] = current
    return found
