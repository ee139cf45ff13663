"""Round-trip edits of a user's YAML file: new values in, every comment, blank line,
key order, quoting and flow/block style kept, so a `git diff` shows only the values
that changed. ruamel.yaml is imported here and only here (by `mlspec release`):
`mlspec build` never pays for it.
"""

from __future__ import annotations

import difflib
import io
import re
from typing import Any

from mlspec.files import emit
from mlspec.files.loader import Path

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
        self._original = text.replace("\r\n", "\n")
        self._identity = self._dump()  # how ruamel writes the file unchanged

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

    def _dump(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.data, out)
        return out.getvalue()

    def text(self) -> str:
        """The edited file. ruamel rewrites a few things it does not keep (extra spaces
        after a colon, `---`, a plain scalar folded over lines, `~`): its edits are merged
        onto the original lines, so a line no edit touched stays byte-identical."""
        text = merge(self._original, self._identity, self._dump())
        return text.replace("\n", "\r\n") if self._crlf else text


Hunk = tuple[int, int, list[str]]  # base lines [start, end) become these lines


def _hunks(base: list[str], other: list[str]) -> list[Hunk]:
    hunks: list[Hunk] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, base, other, autojunk=False).get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:  # line for line: each line its own change
            hunks += [(i1 + k, i1 + k + 1, [other[j1 + k]]) for k in range(i2 - i1)]
        elif tag != "equal":
            hunks.append((i1, i2, other[j1:j2]))
    return hunks


def _conflict(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two changes of base lines touch the same lines (an insertion at a range's
    boundary does not: it goes before or after it)."""
    (s1, e1), (s2, e2) = a, b
    if s1 == e1 and s2 == e2:
        return s1 == s2
    if s1 == e1:
        return s2 < s1 < e2
    if s2 == e2:
        return s1 < s2 < e1
    return s1 < e2 and s2 < e1


def merge(original: str, identity: str, edited: str) -> str:
    """A three-way merge over lines: base `identity` (ruamel's copy of `original`), ours
    `original` (the user's formatting), theirs `edited` (the new values). Where both
    changed the same lines, the edit wins (those lines are written as ruamel does)."""
    base, ours, theirs = identity.splitlines(True), original.splitlines(True), edited.splitlines(True)
    changes = sorted([(h, "layout") for h in _hunks(base, ours)] + [(h, "value") for h in _hunks(base, theirs)],
                     key=lambda c: (c[0][0], c[0][1]))
    groups: list[list[tuple[Hunk, str]]] = []
    for change in changes:
        (s, e, _), _side = change
        if groups and _conflict((groups[-1][0][0][0], max(h[1] for h, _ in groups[-1])), (s, e)):
            groups[-1].append(change)
        else:
            groups.append([change])
    out: list[str] = []
    at = 0
    for group in groups:
        start, end = group[0][0][0], max(h[1] for h, _ in group)
        winner = "value" if any(side == "value" for _, side in group) else "layout"
        out += base[at:start]
        position = start
        for (i1, i2, lines), side in group:
            if side == winner:
                out += base[position:i1] + lines
                position = i2
        out += base[position:end]
        at = end
    return "".join(out + base[at:])


def styled_like(old: Any, value: Any) -> Any:
    """`value` written the way `old` was: quoted when it was quoted, plain when it was
    plain and plain is safe for every YAML 1.1 and 1.2 reader (else double-quoted).
    Safe means what mlspec's own emitter writes plain (`emit._encode_scalar`)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString, SingleQuotedScalarString

    if not isinstance(value, str):
        return value
    if old is None and isinstance(value, ScalarString):
        return value  # a value moved from elsewhere in the file, with nothing here to follow: its own style
    plain_safe = emit._encode_scalar(value) == value
    # single quotes cannot escape anything: a control character needs double quotes
    needs_escape = bool(emit._NEEDS_ESCAPE.search(value)) or any(c in value for c in "\n\r\t\x85")
    if isinstance(old, SingleQuotedScalarString) and not needs_escape:
        return SingleQuotedScalarString(value)
    if isinstance(old, (DoubleQuotedScalarString, SingleQuotedScalarString)) or not plain_safe:
        return DoubleQuotedScalarString(value)
    return str(value)  # a plain str: ruamel writes it plain


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
