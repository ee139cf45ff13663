"""Round-trip edits of a user's YAML file: new values in, every comment, blank line,
key order, quoting and flow/block style kept, so a `git diff` shows only the values
that changed. ruamel.yaml is imported here and only here (by `mlspec release`):
`mlspec build` never pays for it.

ruamel reads YAML 1.2 and mlspec reads YAML 1.1 (`files.loader`): the two disagree on
plain scalars (`+.5e-3`, `-1_0`, `1:20`, `017`, `yes`, timestamps). So the editor types
nothing: every plain scalar is loaded as its text and written back as that text (on a
line an edit rewrites, the neighbours' values are the characters the user wrote, which
mlspec reads as it did before). New values are written as mlspec's own emitter would:
strings plain only when plain reads as that string in YAML 1.1 and 1.2, numbers plain.
"""

from __future__ import annotations

import difflib
import io
import math
import re
from typing import Any, Iterator

from mlspec.files import emit, loader
from mlspec.files.errors import SpecError
from mlspec.files.loader import Path

_KEY_LINE = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")


class Editor:
    """One YAML document, loaded for editing; `text()` dumps it back."""

    def __init__(self, text: str, source: str = "<string>") -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError
        from ruamel.yaml.util import load_yaml_guess_indent

        self._yaml = YAML(typ="rt")
        self._yaml.Resolver = _text_resolver()
        for kind in (bool, int):  # the only non-text values an edit writes (a seed)
            self._yaml.representer.add_representer(kind, _plain_text)
        self._yaml.representer.add_representer(str, _text)
        self._yaml.preserve_quotes = True
        self._yaml.width = 1 << 16  # never fold a long line the user wrote on one line
        self.source = source
        self._crlf = "\r\n" in text
        text = self._original = text.replace("\r\n", "\n")  # ruamel keeps a `\r` in a comment: edit LF lines
        self.written: list[Path] = []  # what the edits set, added or deleted: every other value must read the same
        try:
            self.data, sequence, offset = load_yaml_guess_indent(_tabs_as_spaces(text, self._yaml), yaml=self._yaml)
        except MarkedYAMLError as exc:  # YAML mlspec reads (the caller checked) that the editor cannot
            mark = exc.problem_mark or exc.context_mark
            raise SpecError.at(source, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                               f"the YAML editor cannot read this file ({exc.problem}); write this line in "
                               "block style without tabs, then try again", rule="cannot-edit") from None
        mapping = _mapping_indent(text)
        offset = offset or 0
        self._yaml.indent(mapping=mapping, sequence=sequence or mapping + offset, offset=offset)
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
        self.written.append(path)
        key = path[-1]
        styled = styled_like(parent[key] if key in parent else None, value)
        if key in parent:
            parent[key] = styled
        else:
            parent.insert(len(parent) if position is None else min(position, len(parent)), key, styled)

    def insert_before(self, path: Path, before: str, key: str, value: Any) -> None:
        """Add `key: value` to the mapping at `path`, before its key `before` (or last)."""
        parent = self.get(path)
        self.written.append((*path, key))
        keys = list(parent)
        parent.insert(keys.index(before) if before in keys else len(keys), key, value)

    def delete(self, path: Path) -> None:
        parent = self.get(path[:-1])
        self.written.append(path)
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
        self._check(text)
        return text.replace("\n", "\r\n") if self._crlf else text

    def _check(self, text: str) -> None:
        """Every value no edit wrote reads back, with mlspec's reader, as it read before
        (type and value): the guarantee above, checked rather than hoped for."""
        before = loader.load(self._original, self.source)
        after = dict(_leaves(loader.load(text, self.source).data))
        old = dict(_leaves(before.data))
        for path in sorted(old.keys() ^ after.keys() | {p for p in old.keys() & after.keys()
                                                          if not _same(old[p], after[p])}, key=str):
            if not any(path[:len(w)] == w for w in self.written):
                line, col = before.position(path, key=False)
                raise SpecError.at(self.source, line, col, f"editing this file would change `{loader.dotted(path)}` "
                                   f"from {old.get(path)!r} to {after.get(path)!r}, which no edit sets; write that "
                                   "value on a line of its own (block style), then try again", rule="cannot-edit")


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


def _leaves(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """(path, value) of every scalar and empty collection."""
    if not data or not isinstance(data, (dict, list)):
        yield path, data
        return
    for key, value in data.items() if isinstance(data, dict) else enumerate(data):
        yield from _leaves(value, (*path, key))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (type(a) is float and math.isnan(a) and math.isnan(b)))


def _text_resolver() -> type:
    """A resolver that reads every plain scalar as text (`str`), so that nothing ruamel
    writes back is its YAML 1.2 reading of what the user wrote."""
    from ruamel.yaml.resolver import VersionedResolver

    class TextResolver(VersionedResolver):
        @property
        def versioned_resolver(self) -> dict[str, Any]:  # no implicit types: plain is str
            return {}

    return TextResolver


_STR_TAG = "tag:yaml.org,2002:str"


def _plain_text(representer: Any, value: bool | int) -> Any:
    """A number (or boolean) written plain, as mlspec's reader reads it back."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return representer.represent_scalar(_STR_TAG, text)


def _text(representer: Any, value: str) -> Any:
    """Plain text as written. An empty plain value (`{a: }`, null in YAML 1.1) cannot be
    written plain in a flow collection, and quoted it would be the empty string: `~`."""
    return representer.represent_scalar(_STR_TAG, value or "~")


def _tabs_as_spaces(text: str, yaml: Any) -> str:
    """`text` with each tab ruamel's scanner refuses as a token start (a tab before a
    comment, which YAML 1.1 readers accept) replaced by a space: separation whitespace,
    so the meaning is the same and every column stays. The merge in `text()` keeps the
    user's tab on every line no edit touches."""
    from ruamel.yaml.scanner import ScannerError

    lines = text.split("\n")
    for _ in range(text.count("\t")):
        try:
            yaml.compose("\n".join(lines))
            break
        except ScannerError as exc:
            mark = exc.problem_mark
            if mark is None or lines[mark.line][mark.column:mark.column + 1] != "\t":
                break  # not a tab: the load that follows reports it
            line = lines[mark.line]
            lines[mark.line] = line[:mark.column] + " " + line[mark.column + 1:]
    return "\n".join(lines)


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
