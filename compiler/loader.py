"""Stage 1: YAML text -> plain data with 1-based positions, strictly.

The tree is built from PyYAML's event stream rather than `yaml.compose`, so that
nesting depth, alias expansion and document count are bounded while parsing
(no recursion, no exponential blow-up) and every value keeps its position.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from mlspec.errors import Diagnostic, SpecError

try:  # the C parser is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as YamlLoader  # noqa: F401 - re-exported: one place picks the loader
except ImportError:  # pragma: no cover - depends on the machine
    from yaml import SafeLoader as YamlLoader  # type: ignore[assignment]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000  # counting every node an alias expands to

__all__ = ["Document", "Mark", "Path", "YamlLoader", "copy_data", "diagnostic", "load", "load_data", "scalar_value"]

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
    __slots__ = ("container", "path", "key", "key_mark", "anchor", "mark", "size")

    def __init__(self, container: Any, path: Path, anchor: str | None, mark: Mark) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None
        self.key_mark: Mark = (1, 1)
        self.anchor = anchor
        self.mark = mark
        self.size = 1


def _mark(m: Any) -> Mark:
    return (m.line + 1, m.column + 1)


def _scalar(event: yaml.ScalarEvent) -> Any:
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
    return build(yaml.ScalarNode(tag, event.value))


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


def load_data(text: str) -> Any:
    """Plain data from YAML that mlspec wrote itself (a ledger): composed by libyaml and
    built by walking the nodes, not by PyYAML's generic constructor (about twice as
    fast). Timestamps stay text; a duplicate key fails; an alias is one shared object,
    as `yaml.load` makes it, so aliases cannot multiply the work."""
    node = yaml.compose(text, Loader=YamlLoader)
    return None if node is None else _node_data(node, {})


def _node_data(node: yaml.Node, seen: dict[int, Any]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return scalar_value(node)
    done = seen.get(id(node))
    if done is not None:
        return done
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        seen[id(node)] = items
        items.extend(_node_data(v, seen) for v in node.value)
        return items
    mapping: dict[Any, Any] = {}
    seen[id(node)] = mapping
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise yaml.YAMLError(f"a mapping key is not a scalar (line {k.start_mark.line + 1})")
        key = scalar_value(k)
        if key in mapping:
            raise yaml.YAMLError(f"duplicate key {key!r} (line {k.start_mark.line + 1})")
        mapping[key] = _node_data(v, seen)
    return mapping


class _Fail(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        self.mark = mark
        self.message = message


def load(text: str | bytes, source: str = "<string>") -> Document:
    """Parse one spec document. Raises `SpecError` with a position on any problem."""
    size = len(text.encode("utf-8", "replace") if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise SpecError.at(source, 1, 1, f"file is {size} bytes; a spec may be at most {MAX_BYTES} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError.at(source, 1, 1, f"file is not valid UTF-8 (byte {exc.start})") from None
    try:
        return _build(text, source)
    except _Fail as fail:
        raise SpecError.at(source, *fail.mark, fail.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        raise SpecError.at(source, line, col, _yaml_message(exc, text, line, col)) from None
    except yaml.YAMLError as exc:
        raise SpecError.at(source, 1, 1, f"invalid YAML: {exc}") from None


def _yaml_message(exc: yaml.MarkedYAMLError, text: str, line: int, col: int) -> str:
    problem = exc.problem or "invalid YAML"
    lines = text.splitlines()
    at = lines[line - 1][col - 1:col] if 0 < line <= len(lines) else ""
    if at == "\t" or "\\t" in problem:
        return "tab character: YAML indentation must use spaces, not tabs"
    context = f" {exc.context}" if exc.context else ""
    return f"invalid YAML: {problem}{context}"


def _build(text: str, source: str) -> Document:
    doc = Document(source, {})
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    total = 0
    documents = 0
    root: Any = None
    root_mark: Mark = (1, 1)

    def place(value: Any, mark: Mark, size: int, anchor: str | None, style_plain: str | None) -> None:
        nonlocal root, root_mark, total
        total += size
        if total > MAX_NODES:
            raise _Fail(mark, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if anchor:
            anchors[anchor] = (value, size)
        if not stack:
            root, root_mark = value, mark
            return
        frame = stack[-1]
        frame.size += size
        if isinstance(frame.container, list):
            path = frame.path + (len(frame.container),)
            frame.container.append(value)
        elif frame.key is None:  # this value is a key
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise _Fail(mark, "mapping keys must be plain scalars")
            key = style_plain if style_plain is not None else str(value)
            if key in frame.container:
                first = doc.key_marks.get(frame.path + (key,), (0, 0))
                raise _Fail(mark, f"duplicate key `{key}` (first defined at line {first[0]})")
            frame.key, frame.key_mark = key, mark
            return
        else:
            path = frame.path + (frame.key,)
            frame.container[frame.key] = value
            doc.key_marks[path] = frame.key_mark
            frame.key = None
        doc.marks[path] = mark
        if style_plain is not None and not isinstance(value, str):
            doc.plain[path] = style_plain

    def child_path() -> Path:
        if not stack:
            return ()
        frame = stack[-1]
        if isinstance(frame.container, list):
            return frame.path + (len(frame.container),)
        return frame.path + (frame.key if frame.key is not None else "",)

    for event in yaml.parse(text, Loader=YamlLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Fail(_mark(event.start_mark), "several YAML documents in one file; put one spec per file")
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            mark = _mark(event.start_mark)
            if len(stack) >= MAX_DEPTH:
                raise _Fail(mark, f"nesting deeper than {MAX_DEPTH} levels")
            if stack and isinstance(stack[-1].container, dict) and stack[-1].key is None:
                raise _Fail(mark, "mapping keys must be plain scalars")
            container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            stack.append(_Frame(container, child_path(), event.anchor, mark))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = stack.pop()
            total -= frame.size - 1  # children were counted already
            place(frame.container, frame.mark, frame.size, frame.anchor, None)
        elif isinstance(event, yaml.ScalarEvent):
            mark = _mark(event.start_mark)
            value = _scalar(event)
            place(value, mark, 1, event.anchor, None if event.style else event.value)
        elif isinstance(event, yaml.AliasEvent):
            mark = _mark(event.start_mark)
            if event.anchor not in anchors:
                raise _Fail(mark, f"unknown alias `*{event.anchor}`")
            value, size = anchors[event.anchor]
            if stack and isinstance(stack[-1].container, dict) and stack[-1].key is None:
                raise _Fail(mark, "aliases cannot be used as mapping keys")
            place(value, mark, size, None, None)

    if documents == 0 or root is None:
        raise _Fail((1, 1), "empty file: expected a ModelDeployment spec")
    if not isinstance(root, dict):
        raise _Fail(root_mark, f"the document root must be a mapping, not a {_kind(root)}")
    doc.data = root
    doc.marks[()] = root_mark
    return doc


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def diagnostic(doc: Document, path: Path, message: str, *, key: bool = True) -> Diagnostic:
    source, (line, col) = doc.locate(path, key=key)
    return Diagnostic(source, line, col, message)
