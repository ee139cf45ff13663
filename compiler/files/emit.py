"""Stage 6: canonical YAML text (what `outtree` writes to disk).

Block style, keys in template order, multi-line strings as literal blocks, no
line folding, so output is byte-identical on every machine whether or not
libyaml is present.
"""

from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring, encode_basestring_ascii  # the C versions when available
from typing import Any

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
