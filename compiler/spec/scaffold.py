"""`mlspec init`: a commented starter spec whose placeholders validate."""

from __future__ import annotations

import os
import re
import string
from importlib import resources
from pathlib import Path

from mlspec.files import safepath
from mlspec.spec.fields import DNS_LABEL_RE

MAX_NAME = 47
# Where `init` keeps the editor schema: one copy per repository, beside `.git`.
SCHEMA_HOME = Path(".mlspec") / "schema.json"


def schema_home(spec_path: Path) -> Path:
    """The repository's schema copy: `.mlspec/schema.json` in the nearest directory
    holding `.git` above the spec, else beside the spec."""
    start = spec_path.absolute().parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory / SCHEMA_HOME
    return start / SCHEMA_HOME


def modeline_ref(spec_path: Path, schema_path: Path) -> str:
    """`schema_path` relative to the spec's directory, as yaml-language-server resolves it."""
    rel = Path(os.path.relpath(schema_path.absolute(), spec_path.absolute().parent)).as_posix()
    return rel if rel.startswith("../") else "./" + rel


def check_name(name: str) -> None:
    if len(name) > MAX_NAME or not re.fullmatch(DNS_LABEL_RE, name):
        raise ValueError(f"NAME {name!r} must be a DNS-1123 label of at most {MAX_NAME} characters "
                         "(lowercase letters, digits and `-`)")


def spec(name: str, schema_ref: str) -> str:
    check_name(name)
    if any(c.isspace() for c in schema_ref):
        raise ValueError("--schema must not contain white space")
    template = resources.files("mlspec.templates").joinpath("init.yaml.tmpl").read_text(encoding="utf-8")
    return string.Template(template).substitute(name=name, schema=schema_ref)


def with_namespace(text: str, name: str) -> str:
    """The scaffold with `metadata.namespace`, which the platform's `layout: namespaced`
    places a model by (so the scaffold still builds there)."""
    head, sep, rest = text.partition("\nmetadata:\n")
    first, newline, others = rest.partition("\n")  # `name:` is the first field of `metadata`
    line = f"  namespace: {name}" + " " * max(1, 30 - len(name)) + "# TODO: where it runs (layout: namespaced)"
    return head + sep + first + newline + line + "\n" + others


def exists(root: str, rel: str) -> bool:
    """Whether `rel` below `root` names anything (a link counts: it is never followed)."""
    try:
        directory, name = safepath.parent_and_name(root, rel)
    except (FileNotFoundError, NotADirectoryError):
        return False
    with directory:
        return directory.kind(name) is not None


def create(root: str, rel: str, text: str) -> bool:
    """Write `text` to a new file `rel` below `root`, making missing directories (never
    through a link); False (and nothing written) when it exists."""
    directory, name = safepath.parent_and_name(root, rel, created=[])
    with directory:
        return directory.create(name, text.encode("utf-8"))


def refresh_schema(home: Path, text: str) -> None:
    """Write the repository's schema copy unless it already holds `text`. Below the
    repository (`.mlspec/`, `schema.json`) nothing is followed."""
    repository, data = home.parent.parent, text.encode("utf-8")
    try:
        directory, name = safepath.parent_and_name(repository, SCHEMA_HOME.as_posix())
        with directory:
            if directory.head(name, len(data) + 1) == data:
                return
    except (FileNotFoundError, NotADirectoryError):
        pass
    safepath.write(repository, SCHEMA_HOME.as_posix(), data)
