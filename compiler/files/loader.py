"""Stage 1: YAML text -> plain data with 1-based positions, strictly, within a budget.

The tree is built from PyYAML's event stream rather than `yaml.compose`, so that
what a file may cost is bounded while parsing, event by event: its bytes, the nodes
and the characters of text its aliases expand to, nesting depth, one scalar's length
and one number's digits (no recursion, no exponential blow-up, no quadratic number
conversion). Every YAML file mlspec reads goes through here with its `Budget`:
specs (`SPEC`) and release ledgers (`LEDGER`).
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, TypeVar

import yaml

from mlspec.files.errors import Diagnostic, LedgerError, MlspecError, SpecError

try:  # the C parser is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as YamlLoader  # noqa: F401 - re-exported: one place picks the loader
except ImportError:  # pragma: no cover - depends on the machine
    from yaml import SafeLoader as YamlLoader  # type: ignore[assignment]

KIB, MIB = 1024, 1024 * 1024
MAX_MARKS = 1 << 30  # every position


@dataclass(frozen=True)
class Budget:
    """What one YAML file may cost, checked while it is parsed. Every limit is the most
    that is allowed: `limit` passes, `limit + 1` is refused with a position."""

    kind: str                      # what the file is, in messages: "spec", "ledger"
    expects: str                   # what an empty file should have held
    error: type[MlspecError]       # what a file over budget raises
    bytes: int = 1 * MIB           # the file itself
    expanded: int = 2 * MIB        # characters of every scalar, as often as aliases repeat it
    nodes: int = 100_000           # scalars and collections, as often as aliases repeat them
    depth: int = 64                # nested collections, through aliases too
    scalar: int = 256 * KIB        # characters of one scalar (Kubernetes caps annotations at 256 KiB)
    number: int = 100              # characters of one plain number (int64 has 19 digits)
    aliases: bool = True           # `*name` allowed at all
    marks: int = MAX_MARKS         # positions are kept for paths this long (memory: a ledger's are few)


SPEC = Budget("spec", "a ModelDeployment spec", SpecError)
# A ledger grows by ~5 KB and ~280 nodes per release (about 850 releases fit); mlspec
# writes it and never writes an alias, so an alias in a ledger is a hand edit. Its shape
# is checked down to `releases[i].pins.data.version`: positions deeper are not kept.
LEDGER = Budget("ledger", "a ReleaseLedger", LedgerError, bytes=4 * MIB, expanded=4 * MIB, nodes=300_000,
                aliases=False, marks=5)
# What one spec may make: each environment is built from the whole spec, so the work
# and memory of a build grow with environments x the spec's text (measured: about 3
# bytes of memory per character of spec per environment; see benchmarks/README.md).
MAX_ENVIRONMENTS = 64
MAX_BUILD_CHARS = 16 * MIB
# What one spec may emit: text a spec copies into every object (annotations, labels)
# multiplies by objects x environments, past what the input budgets see (a 750 KB spec
# of annotations in 20 environments emitted 227 MB). Counted as the objects are rendered,
# one environment at a time, so the build stops before it writes or holds that much.
MAX_OUTPUT_CHARS = 32 * MIB
# What one command may hold of every spec's manifests at once: `build --stdout` (the
# Argo CD plugin's generate command) prints nothing until every spec compiled, so the
# per-spec budget alone let 32 specs of 750 KB hold 1.1 GB. YAML text, not objects.
MAX_HELD_CHARS = 40 * MIB
# Kept for callers and tests that name the spec limits directly.
MAX_BYTES, MAX_DEPTH, MAX_NODES = SPEC.bytes, SPEC.depth, SPEC.nodes

__all__ = ["LEDGER", "MAX_BUILD_CHARS", "MAX_ENVIRONMENTS", "MAX_HELD_CHARS", "MAX_OUTPUT_CHARS", "SPEC", "Budget", "Document", "Mark",
           "Path", "YamlLoader", "copy_data", "diagnostic", "dotted", "load", "load_data", "read_limited", "scalar_value"]

Path = tuple[str | int, ...]
Mark = tuple[int, int]

_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BUILDERS = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}
_NUMBERS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


def read_limited(source: IO[bytes] | int, limit: int) -> bytes:
    """At most `limit + 1` bytes of an open binary file or file descriptor: a caller
    that gets more than `limit` bytes refuses the file without reading the rest
    (`load` does, given the bytes and the file's budget)."""
    chunks, left = [], limit + 1
    while left > 0:
        chunk = os.read(source, min(left, MIB)) if isinstance(source, int) else source.read(min(left, MIB))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass
class Document:
    """Loaded data plus where each value (and each mapping key) stands."""

    source: str
    data: dict[str, Any]
    marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)
    # Raw text of plain scalars that YAML turned into something other than a
    # string (`1.10` -> 1.1, `no` -> False): used to explain type errors.
    plain: dict[Path, str] = field(default_factory=dict)
    chars: int = 0  # characters of text, aliases expanded: what building it multiplies
    # Values merged in from another file (the platform file): path -> that file's name,
    # so an error in such a value points into the file it came from.
    origins: dict[Path, str] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = True) -> Mark:
        """Where `path` stands; the nearest existing ancestor when it does not."""
        return self.locate(path, key=key)[1]

    def locate(self, path: Path, *, key: bool = True) -> tuple[str, Mark]:
        """The file and position of `path` (or of its nearest existing ancestor)."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            mark = self.key_marks.get(prefix) if key else None
            if mark is None:
                mark = self.marks.get(prefix)
            if mark is not None:
                return self.origins.get(prefix, self.source), mark
        return self.source, (1, 1)


class _Frame:
    __slots__ = ("container", "path", "key", "key_mark", "anchor", "mark", "size", "chars", "height")

    def __init__(self, container: Any, path: Path, anchor: str | None, mark: Mark) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None
        self.key_mark: Mark = (1, 1)
        self.anchor = anchor
        self.mark = mark
        self.size = 1    # nodes, itself included
        self.chars = 0   # characters of its scalars
        self.height = 1  # collections nested in it, itself included


def _mark(m: Any) -> Mark:
    return (m.line + 1, m.column + 1)


def _scalar(event: yaml.ScalarEvent, budget: Budget) -> Any:
    if len(event.value) > budget.scalar:
        raise _Fail(_mark(event.start_mark), f"a scalar of {len(event.value)} characters; "
                    f"one value in a {budget.kind} may have at most {budget.scalar}")
    if event.style:  # quoted or block scalars are always strings ('' or None is plain)
        return event.value
    tag = event.tag if event.tag not in (None, "!") else _RESOLVER.resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, event.value, event.implicit
    )
    build = _BUILDERS.get(tag)
    if build is None:
        # str, and YAML 1.1 timestamps, which stay text: a date-like version
        # string must not turn into a datetime.
        if tag == "tag:yaml.org,2002:merge":
            raise _Fail(_mark(event.start_mark), "merge keys (`<<`) are not supported; use `spec.environments` overlays")
        if tag.startswith("tag:yaml.org,2002:") and tag.rsplit(":", 1)[1] not in ("str", "timestamp"):
            raise _Fail(_mark(event.start_mark), f"unsupported YAML tag {tag!r}")
        return event.value
    if tag in _NUMBERS:
        _check_number(event, budget)
    value = build(yaml.ScalarNode(tag, event.value))
    if type(value) is float and math.isinf(value) and "inf" not in event.value.lower():
        raise _Fail(_mark(event.start_mark), f"`{event.value}` is out of the range of a number (a 64-bit float); "
                    "quote it if it is text")
    return value


def _check_number(event: yaml.ScalarEvent, budget: Budget) -> None:
    # Python refuses ints of more than 4,300 digits, and PyYAML converts YAML 1.1's
    # base-60 ints (`1:2:3`) in quadratic time: no number a spec means is this long.
    if len(event.value) > budget.number:
        raise _Fail(_mark(event.start_mark), f"a number of {len(event.value)} characters; a number may have at most "
                    f"{budget.number} (quote it if it is text)")


_ATOMS = frozenset({str, int, float, bool, type(None)})
T = TypeVar("T")


def copy_data(value: T) -> T:
    """A deep copy of loaded data (dicts, lists, scalars), several times faster than
    `copy.deepcopy`, which it falls back to for anything else."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else copy_data(v) for k, v in value.items()}  # type: ignore[attr-defined, return-value]
    if kind is list:
        return [v if type(v) in _ATOMS else copy_data(v) for v in value]  # type: ignore[attr-defined, return-value]
    return value if kind in _ATOMS else copy.deepcopy(value)


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The value of a composed scalar node (its tag already resolved)."""
    build = _BUILDERS.get(node.tag)
    return node.value if build is None else build(node)


def load_data(text: str | bytes, source: str = "<string>", budget: Budget = LEDGER) -> dict[str, Any]:
    """Plain data of a YAML mapping that mlspec wrote itself (a ledger), within `budget`."""
    data: dict[str, Any] = load(text, source, budget).data
    return data


class _Fail(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        self.mark = mark
        self.message = message


def load(text: str | bytes, source: str = "<string>", budget: Budget = SPEC) -> Document:
    """Parse one YAML document whose root is a mapping, within `budget`. Raises
    `budget.error` (`SpecError` for specs) with a position on any problem."""
    size = len(text.encode("utf-8", "replace") if isinstance(text, str) else text)
    if size > budget.bytes:
        raise budget.error.at(source, 1, 1, f"file is over {budget.bytes} bytes; a {budget.kind} may be at most "
                              f"{budget.bytes} bytes", rule="input-too-large")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise budget.error.at(source, 1, 1, f"file is not valid UTF-8 (byte {exc.start})", rule="yaml-syntax") from None
    try:
        return _build(text, source, budget)
    except _Fail as fail:
        raise budget.error.at(source, *fail.mark, fail.message, rule="yaml-structure") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        raise budget.error.at(source, line, col, _yaml_message(exc, text, line, col), rule="yaml-syntax") from None
    except yaml.YAMLError as exc:
        raise budget.error.at(source, 1, 1, f"invalid YAML: {exc}", rule="yaml-syntax") from None


def _yaml_message(exc: yaml.MarkedYAMLError, text: str, line: int, col: int) -> str:
    problem = exc.problem or "invalid YAML"
    lines = text.splitlines()
    at = lines[line - 1][col - 1:col] if 0 < line <= len(lines) else ""
    if at == "\t" or "\\t" in problem:
        return "tab character: YAML indentation must use spaces, not tabs"
    context = f" {exc.context}" if exc.context else ""
    return f"invalid YAML: {problem}{context}"


def _build(text: str, source: str, budget: Budget) -> Document:
    doc = Document(source, {})
    anchors: dict[str, tuple[Any, int, int, int]] = {}  # value, nodes, characters, height
    stack: list[_Frame] = []
    nodes = chars = 0  # so far, counting what aliases repeat
    max_nodes, max_chars, max_depth, max_scalar = budget.nodes, budget.expanded, budget.depth, budget.scalar
    max_marks = budget.marks
    documents = 0
    root: Any = None
    root_mark: Mark = (1, 1)

    def place(value: Any, mark: Mark, size: int, weight: int, height: int, anchor: str | None,
              style_plain: str | None) -> None:
        nonlocal root, root_mark
        if anchor:
            anchors[anchor] = (value, size, weight, height)
        if not stack:
            root, root_mark = value, mark
            return
        frame = stack[-1]
        frame.size += size
        frame.chars += weight
        if height >= frame.height:
            frame.height = height + 1
        if type(frame.container) is list:
            path = frame.path + (len(frame.container),)
            frame.container.append(value)
        elif frame.key is None:  # this value is a key
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise _Fail(mark, "mapping keys must be plain scalars")
            # Keys are always text: a plain key as written (`1.10`, `no`, `null`), a
            # quoted one as its value, so YAML 1.1 typing never renames a field.
            key = style_plain if style_plain is not None else str(value)
            if key in frame.container:
                first = doc.key_marks.get(frame.path + (key,))
                raise _Fail(mark, f"duplicate key `{key}`" + (f" (first defined at line {first[0]})" if first else ""))
            frame.key, frame.key_mark = key, mark
            return
        else:
            path = frame.path + (frame.key,)
            frame.container[frame.key] = value
            if len(path) <= max_marks:
                doc.key_marks[path] = frame.key_mark
            frame.key = None
        if len(path) > max_marks:
            return
        doc.marks[path] = mark
        if style_plain is not None and not isinstance(value, str):
            doc.plain[path] = style_plain

    def over(mark: Mark) -> None:
        if nodes > max_nodes:
            raise _Fail(mark, f"document expands to more than {max_nodes} nodes (alias bomb?)")
        raise _Fail(mark, f"document expands to more than {max_chars} characters of text (alias bomb?)")

    def child_path() -> Path:
        if not stack:
            return ()
        frame = stack[-1]
        if isinstance(frame.container, list):
            return frame.path + (len(frame.container),)
        return frame.path + (frame.key if frame.key is not None else "",)

    scalar_event, alias_event, document_start = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentStartEvent
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    events: Iterator[Any] = yaml.parse(text, Loader=YamlLoader)  # dispatched on type(), as `Any`
    for event in events:
        kind = type(event)
        if kind is scalar_event:  # most events: the common cases are inlined
            start = event.start_mark
            mark = (start.line + 1, start.column + 1)
            text = event.value
            size = len(text)
            top = stack[-1] if stack else None
            if top is not None and top.key is None and type(top.container) is dict and event.tag is None \
                    and size <= max_scalar and text != "<<":
                # a key is its text (see `place`): no type to resolve
                nodes += 1
                chars += size
                if nodes > max_nodes or chars > max_chars:
                    over(mark)
                if event.anchor:
                    anchors[event.anchor] = (text, 1, size, 0)
                if text in top.container:
                    first = doc.key_marks.get(top.path + (text,))
                    raise _Fail(mark, f"duplicate key `{text}`" + (f" (first defined at line {first[0]})" if first else ""))
                top.size += 1
                top.chars += size
                top.key, top.key_mark = text, mark
                continue
            value = text if event.style and size <= max_scalar else _scalar(event, budget)
            nodes += 1
            chars += size
            if nodes > max_nodes or chars > max_chars:
                over(mark)
            place(value, mark, 1, size, 0, event.anchor, None if event.style else text)
        elif kind in starts:
            mark = _mark(event.start_mark)
            if len(stack) >= max_depth:
                raise _Fail(mark, f"nesting deeper than {max_depth} levels")
            if stack and stack[-1].key is None and type(stack[-1].container) is dict:
                raise _Fail(mark, "mapping keys must be plain scalars")
            nodes += 1
            if nodes > max_nodes:
                over(mark)
            container: Any = {} if kind is yaml.MappingStartEvent else []
            stack.append(_Frame(container, child_path(), event.anchor, mark))
        elif kind in ends:
            frame = stack.pop()
            place(frame.container, frame.mark, frame.size, frame.chars, frame.height, frame.anchor, None)
        elif kind is alias_event:
            mark = _mark(event.start_mark)
            if not budget.aliases:
                raise _Fail(mark, f"an alias (`*{event.anchor}`): a {budget.kind} has none, mlspec never writes them")
            if event.anchor not in anchors:
                raise _Fail(mark, f"unknown alias `*{event.anchor}`")
            value, size, weight, height = anchors[event.anchor]
            if stack and stack[-1].key is None and type(stack[-1].container) is dict:
                raise _Fail(mark, "aliases cannot be used as mapping keys")
            if len(stack) + height > max_depth:
                raise _Fail(mark, f"nesting deeper than {max_depth} levels (through `*{event.anchor}`)")
            nodes += size
            chars += weight
            if nodes > max_nodes or chars > max_chars:
                over(mark)
            place(value, mark, size, weight, height, None, None)
        elif kind is document_start:
            documents += 1
            if documents > 1:
                raise _Fail(_mark(event.start_mark), f"several YAML documents in one file; put one {budget.kind} per file")

    if documents == 0 or root is None:
        raise _Fail((1, 1), f"empty file: expected {budget.expects}")
    if not isinstance(root, dict):
        raise _Fail(root_mark, f"the document root must be a mapping, not a {_kind(root)}")
    doc.data = root
    doc.marks[()] = root_mark
    doc.chars = chars
    return doc


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def dotted(path: Path) -> str:
    """`path` as messages spell it: `spec.steps[0].setWeight`."""
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "document"


def diagnostic(doc: Document, path: Path, message: str, *, rule: str, key: bool = True) -> Diagnostic:
    """`message` at `path` of `doc`, under the stable id `rule` (listed in docs/rules.md)."""
    source, (line, col) = doc.locate(path, key=key)
    return Diagnostic(source, line, col, message, rule=rule)
