"""`mlspec init`: a commented starter spec whose placeholders validate."""

from __future__ import annotations

import os
import re
import string
from importlib import resources
from pathlib import Path

from mlspec.model import DNS_LABEL_RE

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


def spec(name: str, schema_ref: str) -> str:
    if len(name) > MAX_NAME or not re.fullmatch(DNS_LABEL_RE, name):
        raise ValueError(f"NAME {name!r} must be a DNS-1123 label of at most {MAX_NAME} characters "
                         "(lowercase letters, digits and `-`)")
    if any(c.isspace() for c in schema_ref):
        raise ValueError("--schema must not contain white space")
    template = resources.files("mlspec.templates").joinpath("init.yaml.tmpl").read_text(encoding="utf-8")
    return string.Template(template).substitute(name=name, schema=schema_ref)


def create(path: Path, text: str) -> bool:
    """Write `text` to a new file; False (and nothing written) when it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True
