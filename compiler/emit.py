"""Stage 6: canonical YAML text, and the only code that writes output.

Text: block style, keys in template order, multi-line strings as literal
blocks, no line folding, so output is byte-identical on every machine whether
or not libyaml is present.

Disk: each output directory `OUT/<env>/<name>/` is staged next to its target
and swapped in with one rename (an atomic exchange where Linux offers it), so a
failed or killed build leaves the previous output as it was. Files mlspec owns
are listed in `.mlspec-owned`; other files in the directory are carried over
untouched (hard links) and never deleted.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from json.encoder import encode_basestring, encode_basestring_ascii  # the C versions when available
from pathlib import Path
from typing import Any, Iterable

OWNED = ".mlspec-owned"
LEDGER_DIR = "_ledger"
KUSTOMIZATION = "kustomization.yaml"


# --- canonical YAML ----------------------------------------------------------------
#
# Emitting is a hot path (every object of every build), and the data is only ever
# dicts, lists, strings, numbers, booleans and null, so a small emitter replaces
# PyYAML's generic representer (measured: 4.5 -> 1 ms per spec, see benchmarks/).
# A string is left plain only when no YAML 1.1 or 1.2 reader could read it as
# anything else; otherwise it is single-quoted, or double-quoted with escapes when
# it holds characters YAML must escape. Multi-line strings become literal blocks.

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:@=+-]*")
# Words some YAML reader takes for a boolean or null (go-yaml v2 reads `y`, `n`, `on`, `off`).
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
# Outside YAML's printable set (C0 but tab and newline, DEL, C1, surrogates and the
# non-characters U+FFFE/U+FFFF: readers reject them raw), or a line break to YAML 1.1
# (U+0085, U+2028, U+2029), or a byte-order mark: such text is double-quoted, escaped.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
# What JSON's encoder leaves raw of those.
_YAML_LINE_BREAKS = re.compile("[\u0085\u2028\u2029\u007f-\u009f\ufeff\ufffe\uffff]")


def double_quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON escapes plus those JSON leaves raw."""
    encoded = json.dumps(text, ensure_ascii=False)
    encoded = _YAML_LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", encoded)


def _encode_scalar(text: str) -> str:
    if _PLAIN.fullmatch(text) and not text.endswith(":") and text.lower() not in _RESERVED:
        return text
    if _NEEDS_ESCAPE.search(text) or "\n" in text or "\r" in text or "\t" in text or "\x85" in text:
        return double_quoted(text)
    return "'" + text.replace("'", "''") + "'"


# Keys and most values repeat across objects and specs: each distinct string is encoded
# once per process (bounded, so a huge batch cannot grow it without limit).
_SCALARS: dict[str, str] = {}
_BLOCKS: dict[tuple[str, int], str] = {}
_CACHE_LIMIT = 1 << 16


def _scalar(text: str) -> str:
    encoded = _SCALARS.get(text)
    if encoded is None:
        if len(_SCALARS) >= _CACHE_LIMIT:
            _SCALARS.clear()
        encoded = _SCALARS[text] = _encode_scalar(text)
    return encoded


def _multiline(text: str, indent: int) -> str:
    """A multi-line string after `key: `: a literal block (ends with its own newline)
    when a reader gets it back exactly, else a double-quoted scalar."""
    key = (text, indent)
    encoded = _BLOCKS.get(key)
    if encoded is None:
        if len(_BLOCKS) >= _CACHE_LIMIT:
            _BLOCKS.clear()
        encoded = _BLOCKS[key] = _literal_block(text, indent) or double_quoted(text)
    return encoded


def _literal_block(text: str, indent: int) -> str | None:
    """`|` block for multi-line text a reader gets back exactly; None when unsafe."""
    if _NEEDS_ESCAPE.search(text.replace("\t", "")) or "\r" in text or text[:1] in (" ", "\n", "\t"):
        return None
    body = text.rstrip("\n")
    lines = body.split("\n")
    if any(line != line.rstrip(" \t") for line in lines):
        return None  # trailing white space is lost by editors and by some readers
    trailing = len(text) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    pad = " " * indent
    out = "|" + chomp + "\n" + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)
    return out + "\n" * (trailing - 1 if trailing > 1 else 0)


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
        text = text.replace("e", ".0e", 1)
    return text


def _inline(value: Any, indent: int) -> str | None:
    """The text after `key: ` / `- ` for a scalar or empty collection; None for a block."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _multiline(value, indent) if "\n" in value else _scalar(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, (dict, list)):
        return None
    raise TypeError(f"cannot emit {type(value).__name__}")


_HEADS: list[dict[str, str]] = []  # per indentation: mapping key -> "<pad><key>:"


def _block(value: Any, indent: int, out: list[str]) -> None:
    """Block YAML of a non-empty mapping or list, one string per line (literal blocks: one)."""
    pad = " " * indent
    if type(value) is dict:
        while len(_HEADS) <= indent:
            _HEADS.append({})
        heads = _HEADS[indent]
        scalars = _SCALARS
        for key, child in value.items():
            head = heads.get(key) if type(key) is str else None
            if head is None:
                head = f"{pad}{_scalar(key if type(key) is str else str(key))}:"
                if type(key) is str and len(heads) < _CACHE_LIMIT:
                    heads[key] = head
            kind = type(child)
            if kind is str:  # the common case, inlined
                if "\n" in child:
                    inline = _multiline(child, indent + 2)
                    out.append(f"{head} {inline}" if inline[0] == "|" else f"{head} {inline}\n")
                else:
                    out.append(f"{head} {scalars.get(child) or _scalar(child)}\n")
            elif (kind is dict or kind is list) and child:
                out.append(head + "\n")
                # lists sit at their key's indentation, as kubectl writes them
                _block(child, indent if kind is list else indent + 2, out)
            else:
                out.append(f"{head} {_inline(child, indent + 2)}\n")
        return
    for item in value:
        kind = type(item)
        if (kind is dict or kind is list) and item:
            start = len(out)
            _block(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2:]}"
            continue
        text = _inline(item, indent + 2)
        assert text is not None  # only non-empty collections are blocks
        out.append(f"{pad}- {text}" if text[0] == "|" else f"{pad}- {text}\n")


def pretty_json(value: Any, ensure_ascii: bool = True) -> str:
    """`json.dumps(value, indent=2, sort_keys=True, ensure_ascii=...)`, byte for byte.
    The standard library uses its pure-Python encoder whenever `indent` is set; this
    walks plain data (dict with str keys, list, str, int, float, bool, None) directly,
    about three times faster. Anything else goes to `json.dumps`."""
    encode = encode_basestring_ascii if ensure_ascii else encode_basestring
    out: list[str] = []

    def walk(node: Any, pad: str) -> bool:
        kind = type(node)
        if kind is str:
            out.append(encode(node))
        elif kind is dict or kind is list:
            if not node:
                out.append("{}" if kind is dict else "[]")
                return True
            if kind is dict and any(type(key) is not str for key in node):
                return False
            inner = pad + "  "
            pairs = ((f"{encode(k)}: ", node[k]) for k in sorted(node)) if kind is dict else (("", v) for v in node)
            sep = "{" if kind is dict else "["
            for prefix, child in pairs:
                out.append(f"{sep}{inner}{prefix}")
                sep = ","
                if not walk(child, inner):
                    return False
            out.append(pad + ("}" if kind is dict else "]"))
        elif node is None or kind is bool:
            out.append("null" if node is None else ("true" if node else "false"))
        elif kind is int:
            out.append(int.__repr__(node))
        elif kind is float and math.isfinite(node):
            out.append(float.__repr__(node))
        else:
            return False
        return True

    if not walk(value, "\n"):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)
    return "".join(out)


def dump(obj: Any, header: str = "") -> str:
    """Canonical block YAML of plain data (keys in insertion order)."""
    inline = _inline(obj, 0)
    if inline is not None:
        return header + (inline if inline.startswith("|") else inline + "\n")
    out: list[str] = [header] if header else []
    _block(obj, 0, out)
    return "".join(out)


def kustomization(filenames: list[str], header: str = "") -> str:
    return dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(f for f in filenames if f != KUSTOMIZATION),
    }, header)


def owned_files(directory: Path) -> set[str]:
    """Files a previous build wrote into `directory` (empty when none)."""
    try:
        text = (directory / OWNED).read_text(encoding="utf-8")
    except OSError:
        return set()
    return {line for line in text.splitlines() if line and "/" not in line and line not in (".", "..")}


def group_by_directory(files: dict[str, str]) -> dict[str, dict[str, str]]:
    """`{"env/name/file": text}` -> `{"env/name": {"file": text}}`."""
    out: dict[str, dict[str, str]] = {}
    for rel, text in files.items():
        directory, _, filename = rel.rpartition("/")
        out.setdefault(directory, {})[filename] = text
    return out


def write_tree(out: Path, files: dict[str, str]) -> list[str]:
    """Write every output directory atomically. Returns the directories written."""
    groups = group_by_directory(files)
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []  # parent directories this call made, removed again on failure
    try:
        for directory, contents in sorted(groups.items()):
            stage = stage_directory(out / directory, contents, created)
            if stage is not None:
                staged.append(stage)
    except BaseException:
        discard(staged, created)
        raise
    swap_in(staged)
    remove_leftovers((out / directory).parent for directory in groups)
    return sorted(groups)


def stage_directory(target: Path, contents: dict[str, str], created: list[Path]) -> tuple[Path, Path] | None:
    """Write `contents` into a staging directory beside `target` (hidden, `.NAME.mlspec-*`):
    `(stage, target)` for `swap_in`, or None when `target` is up to date. Appends the
    parent directories it makes to `created`; on failure it leaves no stage behind."""
    if _up_to_date(target, contents):
        return None  # the usual rebuild: most models did not change, so write nothing
    created.extend(_make_parents(target.parent))
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.mlspec-", dir=target.parent))
    try:
        _fill(stage, target, contents)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage, target


def discard(staged: list[tuple[Path, Path]], created: list[Path]) -> None:
    """Undo staging: remove the stages, then the parent directories made for them (if empty)."""
    for stage, _ in staged:
        shutil.rmtree(stage, ignore_errors=True)
    for made in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
        _remove_if_empty(made)


def swap_in(staged: list[tuple[Path, Path]]) -> None:
    """Replace each target by its stage (an atomic exchange where Linux offers it)."""
    try:
        for stage, target in staged:
            _swap(stage, target)
    finally:
        for stage, _ in staged:
            shutil.rmtree(stage, ignore_errors=True)


def changed_files(out: Path, files: dict[str, str]) -> dict[str, str]:
    """The files of every directory `write_tree` would rewrite (the others are up to date)."""
    return {f"{directory}/{name}": text for directory, contents in group_by_directory(files).items()
            if not _up_to_date(out / directory, contents) for name, text in contents.items()}


def _up_to_date(target: Path, contents: dict[str, str]) -> bool:
    owned = owned_files(target)
    if target.name != LEDGER_DIR and owned != set(contents):
        return False
    for filename, text in contents.items():
        try:
            if not same_text((target / filename).read_bytes(), text):
                return False
        except OSError:
            return False
    return True


def remove_leftovers(parents: Iterable[Path]) -> None:
    """Staging directories a killed build left in `parents` (`.NAME.mlspec-*`), whether or
    not NAME changed in this build. Call after this build's own stages are swapped in."""
    for parent in set(parents):
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") and ".mlspec-" in entry.name and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)


def _make_parents(directory: Path) -> list[Path]:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return list(reversed(missing))


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def _fill(stage: Path, target: Path, contents: dict[str, str]) -> None:
    # The ledger directory holds one file per model, each written by its own
    # builds: nothing there is ever pruned.
    pruning = target.name != LEDGER_DIR
    owned = owned_files(target) if pruning else set()
    if target.is_dir():
        for entry in os.scandir(target):
            if entry.name in owned or (entry.name == OWNED and pruning) or entry.name in contents:
                continue
            # Someone else's file: keep it exactly (same inode).
            if entry.is_file(follow_symlinks=False):
                os.link(entry.path, stage / entry.name)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry.path), stage / entry.name)
            else:
                shutil.copytree(entry.path, stage / entry.name, symlinks=True, copy_function=os.link)
    for filename, text in sorted(contents.items()):
        (stage / filename).write_text(text, encoding="utf-8")
    if pruning:
        (stage / OWNED).write_text("".join(f"{name}\n" for name in sorted(contents)), encoding="utf-8")
    os.chmod(stage, 0o755)


_RENAME_EXCHANGE = 2
_libc: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False when unsupported."""
    global _libc
    if _libc is None:
        import ctypes  # only a rebuild that replaces a directory pays for it

        try:  # the C library the interpreter already links (no `find_library`, which runs ldconfig)
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    if not _libc or not hasattr(_libc, "renameat2"):
        return False
    at_fdcwd = -100
    rc = _libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        return  # `stage` now holds the old output and is removed by the caller
    old = target.with_name(f".{target.name}.mlspec-old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def same_text(current: bytes, text: str) -> bool:
    """Whether a file's bytes are `text`, line endings as Git normalizes them (a Windows
    checkout with `core.autocrlf` holds CRLF). Bytes, not decoded text: faster, and a
    file that is not UTF-8 is simply different."""
    expected = text.encode("utf-8")
    return current == expected or (b"\r\n" in current and current.replace(b"\r\n", b"\n") == expected)


def drift(out: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    """What differs between `out` and `files`: changed, missing and stale owned files."""
    found: list[tuple[str, str]] = []
    for rel, text in sorted(files.items()):
        try:
            current = (out / rel).read_bytes()
        except FileNotFoundError:
            found.append((rel, "missing: run `mlspec build` to create it"))
            continue
        except OSError as exc:
            found.append((rel, f"unreadable: {exc.strerror}"))
            continue
        if not same_text(current, text):
            found.append((rel, "changed: differs from what the spec compiles to"))
    for directory, contents in group_by_directory(files).items():
        for name in sorted(owned_files(out / directory) - set(contents)):
            if (out / directory / name).exists():
                found.append((f"{directory}/{name}", "stale: built before but no longer produced"))
    return found


def write_file(path: Path, text: str) -> None:
    """Write one file atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def list_foreign_resources(out: Path, files: dict[str, str]) -> dict[str, str]:
    """Make each kustomization.yaml list exactly what its directory will hold: mlspec's
    objects plus YAML files others put there (which a rebuild keeps)."""
    result = dict(files)
    for directory, contents in group_by_directory(files).items():
        if KUSTOMIZATION not in contents or not (out / directory).is_dir():
            continue
        owned = owned_files(out / directory)
        foreign = sorted(e.name for e in os.scandir(out / directory)
                         if e.is_file() and e.name.endswith((".yaml", ".yml")) and not e.name.startswith(".")
                         and e.name not in owned and e.name not in contents)
        if foreign:
            text = contents[KUSTOMIZATION]
            header = text[:text.index("apiVersion:")]
            result[f"{directory}/{KUSTOMIZATION}"] = kustomization(list(contents) + foreign, header)
    return result
