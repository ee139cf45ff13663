"""`mlspec digest`: the artifact digest of files and directories (`mlspec.pod.digest`).
"""

from __future__ import annotations

import click

from mlspec.cli.common import EXIT_INVALID
from mlspec.files.text import log_safe


@click.command("digest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.pass_context
def digest_command(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Print the artifact digest of each file or directory (what `spec.model.artifact.digest` pins).

    One PATH prints the digest alone; several print `DIGEST  PATH` lines.

    \b
    Examples:
      mlspec digest ./model                    # sha256:...
      mlspec digest model.joblib data/ --format json
    """
    from mlspec.pod import digest

    failed = False
    for path in paths:
        try:
            value = digest.digest(path)
        except digest.DigestError as exc:
            click.echo(f"mlspec: error: {log_safe(str(exc))}", err=True)
            failed = True
            continue
        click.echo(value if len(paths) == 1 else f"{value}  {path}")
    if failed:
        ctx.exit(EXIT_INVALID)
