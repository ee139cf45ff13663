"""`mlspec digest`: the artifact digest of files and directories (`mlspec.pod.digest`).
"""

from __future__ import annotations

import json

import click

from mlspec.cli.common import EXIT_INVALID
from mlspec.files.text import log_safe


@click.command("digest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: a list of {path, digest} on stdout (schemas/output/digest.schema.json).")
@click.pass_context
def digest_command(ctx: click.Context, paths: tuple[str, ...], fmt: str) -> None:
    """Print the artifact digest of each file or directory (what `spec.model.artifact.digest` pins).

    One PATH prints the digest alone; several print `DIGEST  PATH` lines.

    \b
    Examples:
      mlspec digest ./model                    # sha256:...
      mlspec digest model.joblib data/ --format json
    """
    from mlspec.pod import digest

    failed = False
    found = []
    for path in paths:
        try:
            value = digest.digest(path)
        except digest.DigestError as exc:
            click.echo(f"mlspec: error: {log_safe(str(exc))}", err=True)
            failed = True
            continue
        found.append({"path": path, "digest": value})
        if fmt == "text":
            click.echo(value if len(paths) == 1 else f"{value}  {path}")
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))  # errors went to stderr; the exit code says whether any failed
    if failed:
        ctx.exit(EXIT_INVALID)
