"""Round-trip edits of a user's YAML file: new values in, every comment, blank line,
key order, quoting and flow/block style kept, so a `git diff` shows only the values
that changed. ruamel.yaml is imported here and only here (by `mlspec release`):
`mlspec build` never pays for it.
"""

from __future__ import annotations

import io
import re
from typing import Any

from mlspec import emit
from mlspec.loader import Path

_KEY_LINE = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")


class Editor:
    """One YAML document, loaded for editing; `text()` dumps it back."""

    def __init__(self, text: str) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.util import load_yaml_guess_indent

        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 1 << 16  # never fold a long line the user wrote on one line
        self.data, sequence, offset = load_yaml_guess_indent(text, yaml=self._yaml)
        mapping = _mapping_indent(text)
        offset = offset or 0
        self._yaml.indent(mapping=mapping, sequence=sequence or mapping + offset, offset=offset)
        self._crlf = "\r\n" in text

    def get(self, path: Path) -> Any:
        node = self.data
        for key in path:
            node = node[key]
        return node

    def has(self, path: Path) -> bool:
        node = self.data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    def set(self, path: Path, value: Any, *, position: int | None = None) -> None:
        """Replace the value at `path` in the style the old one was written in (a
        double-quoted version stays double-quoted), or add the key: at `position`
        in its mapping, else last. Missing mappings on the way are made (block style)."""
        parent = self.data
        for key in path[:-1]:
            if key not in parent:
                parent.insert(len(parent), key, self.mapping())
            parent = parent[key]
        key = path[-1]
        styled = styled_like(parent[key] if key in parent else None, value)
        if key in parent:
            parent[key] = styled
        else:
            parent.insert(len(parent) if position is None else min(position, len(parent)), key, styled)

    def insert_before(self, path: Path, before: str, key: str, value: Any) -> None:
        """Add `key: value` to the mapping at `path`, before its key `before` (or last)."""
        parent = self.get(path)
        keys = list(parent)
        parent.insert(keys.index(before) if before in keys else len(keys), key, value)

    def delete(self, path: Path) -> None:
        parent = self.get(path[:-1])
        if path[-1] in parent:
            del parent[path[-1]]

    def mapping(self, items: dict[str, Any] | None = None) -> Any:
        """A new block-style mapping of (styled) values."""
        from ruamel.yaml.comments import CommentedMap

        new = CommentedMap()
        for key, value in (items or {}).items():
            new[key] = value if isinstance(value, dict) else styled_like(None, value)
        return new

    def text(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.data, out)
        text = out.getvalue()
        return text.replace("\n", "\r\n") if self._crlf else text


def styled_like(old: Any, value: Any) -> Any:
    """`value` written the way `old` was: quoted when it was quoted, plain when it was
    plain and plain is safe for every YAML 1.1 and 1.2 reader (else double-quoted)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if not isinstance(value, str):
        return value
    plain_safe = emit._encode_scalar(value) == value
    # single quotes cannot escape anything: a control character needs double quotes
    needs_escape = bool(emit._NEEDS_ESCAPE.search(value)) or any(c in value for c in "\n\r\t\x85")
    if isinstance(old, SingleQuotedScalarString) and not needs_escape:
        return SingleQuotedScalarString(value)
    if isinstance(old, (DoubleQuotedScalarString, SingleQuotedScalarString)) or not plain_safe:
        return DoubleQuotedScalarString(value)
    return value  # a plain str: ruamel writes it plain


def _mapping_indent(text: str) -> int:
    """The indentation step of nested mappings: the first `key:` line followed by a
    deeper key line (2 when there is none)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:]):
        head = _KEY_LINE.match(line)
        if head and not following.lstrip().startswith("-"):
            step = (len(following) - len(following.lstrip(" "))) - len(head.group(1))
            if step > 0:
                return step
    return 2
