"""`mlspec init` (a commented spec, or the platform file) and `mlspec schema`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from mlspec.cli.common import fail_usage
from mlspec.files import layout, outtree, safepath
from mlspec.files.errors import Diagnostic, MlspecError


@click.command("init")
@click.argument("name", required=False)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (default: NAME.mlspec.yaml). An existing file is never overwritten.")
@click.option("--schema", "schema_ref",
              help="Schema path or URL for the editor modeline. Default: write (or refresh) the repository's "
              "copy at .mlspec/schema.json beside .git and point the modeline at it relatively.")
@click.option("--platform", "platform_choice", is_flag=False, flag_value="", default=None, metavar="[FILE|none]",
              help="Alone (no NAME): scaffold the repository's .mlspec/platform.yaml. With NAME: the platform "
              "file the spec is checked with (default: the repository's; `none`: none).")
def init_command(name: str | None, out: Path | None, schema_ref: str | None, platform_choice: str | None) -> None:
    """Scaffold a commented spec that validates, with a schema modeline that works offline
    (or, with `--platform` alone, the repository's platform file).

    \b
    Examples:
      mlspec init churn                        # writes churn.mlspec.yaml
      mlspec init churn -o models/churn.mlspec.yaml
      mlspec init --platform                   # .mlspec/platform.yaml at the repository root
    """
    from mlspec.platform import platformfile
    from mlspec.spec import scaffold, schema

    if name is None:
        if platform_choice != "":
            fail_usage("missing argument NAME (or `--platform` alone, to scaffold the platform file)")
        _init_platform(out)
        return
    try:
        scaffold.check_name(name)  # before NAME becomes a file name
    except ValueError as exc:
        fail_usage(str(exc) + suggest_name(name, scaffold.check_name))
    out = out or Path(f"{name}.mlspec.yaml")
    root, rel = safepath.named(out, climb=False)  # a relative -o stays below the current directory
    home = scaffold.schema_home(out) if schema_ref is None else None
    ref = scaffold.modeline_ref(out, home) if home is not None else schema_ref or ""
    try:
        text = scaffold.spec(name, ref)
    except ValueError as exc:
        fail_usage(str(exc))
    found = platformfile.find(platform_choice or None, [str(out)])
    if found is not None:  # what the platform provides, the spec does not repeat
        text = platformfile.omit_provided(text, found)
        if found.layout == layout.NAMESPACED:
            text = scaffold.with_namespace(text, name)
    if scaffold.exists(root, rel):
        raise MlspecError([Diagnostic(str(out), 1, 1, "file exists; refusing to overwrite it", rule="file-exists")])
    if home is not None:
        scaffold.refresh_schema(home, schema.schema_text())
        if (home.parent / platformfile.HOME.name).is_file():  # the platform file's editor schema, beside the spec's
            _refresh(home.parent / platformfile.SCHEMA_NAME, platformfile.schema_text())
    if not scaffold.create(root, rel, text):
        raise MlspecError([Diagnostic(str(out), 1, 1, "file exists; refusing to overwrite it", rule="file-exists")])
    # A hint that works where it is printed: in a repository, build finds its output directory itself.
    from mlspec.cli.common import repository_of

    build = f"mlspec build {out}" + ("" if repository_of(out.absolute().parent) else " -o deploy/")
    click.echo(f"wrote {out}: replace its placeholders (`mlspec validate {out}` lists each one and how to get the "
               f"real value), then run `{build}`", err=True)
    if home is not None:
        click.echo(f"editor schema: {home} (refresh it after upgrading mlspec: `mlspec schema -o {home}`)", err=True)


def suggest_name(name: str, check: Callable[[str], None]) -> str:
    """`; did you mean `mlspec init my-model`?` for `My_Model`: lowercase, every run of
    other characters one `-`, trimmed; nothing when that is no valid name either."""
    import re

    guess = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    try:
        check(guess)
    except ValueError:
        return ""
    return f"; did you mean `mlspec init {guess}`?"


def _refresh(path: Path, text: str) -> None:
    """Write an editor schema beside the spec's (atomically, never through a link)."""
    root, rel = safepath.named(path)
    safepath.write(root, rel, text.encode("utf-8"))


def _init_platform(out: Path | None) -> None:
    """`mlspec init --platform`: the repository's platform file, with its schema beside it."""
    from mlspec.platform import platformfile
    from mlspec.spec import scaffold

    target = out or scaffold.schema_home(Path("spec.yaml")).parent / platformfile.HOME.name
    schema_path = target.parent / platformfile.SCHEMA_NAME
    root, rel = safepath.named(target)
    if scaffold.exists(root, rel):
        raise MlspecError([Diagnostic(str(target), 1, 1, "file exists; refusing to overwrite it", rule="file-exists")])
    _refresh(schema_path, platformfile.schema_text())
    if not scaffold.create(root, rel, platformfile.scaffold(scaffold.modeline_ref(target, schema_path))):
        raise MlspecError([Diagnostic(str(target), 1, 1, "file exists; refusing to overwrite it", rule="file-exists")])
    click.echo(f"wrote {target} (editor schema: {schema_path}); `mlspec validate {target}` checks it", err=True)


@click.command("schema")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--record", "of_record", is_flag=True, help="The training record's schema (`release --from-record`).")
@click.option("--platform", "of_platform", is_flag=True, help="The platform file's schema (`.mlspec/platform.yaml`).")
def schema_command(out: Path | None, of_record: bool, of_platform: bool) -> None:
    """Print the JSON Schema of the spec (or of the training record, or of the platform file), for editors.

    \b
    Examples:
      mlspec schema -o .mlspec/schema.json
      mlspec schema --platform -o .mlspec/platform.schema.json
      mlspec schema --record                   # what `release --from-record` reads
    """
    from mlspec.platform import platformfile
    from mlspec.records import record
    from mlspec.spec import schema

    text = record.schema_text() if of_record else platformfile.schema_text() if of_platform else schema.schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        root, rel = safepath.named(out)
        outtree.write_file(Path(root), rel, text)


# The commands over a model's records register themselves on `main` (gate, diff, digest,
# history, rollback, release, ledger): imported last, when everything they use from here exists.
