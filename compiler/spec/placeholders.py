"""Placeholders: the values `mlspec init` writes where only the user knows the real one.

A scaffold validates so that it renders at once, but its pins are not pins: an all-zero
digest names no bytes, an all-zero commit no code, a `TODO` nothing at all. `find` names
each one with how to get the real value; `validate` and `build --stdout` show them as
warnings, and a build into an output tree refuses them (a ledger records pins for good,
and a placeholder recorded as release 0.1.0 would block the real 0.1.0).

Only exact placeholders count: a real digest that happens to hold many zeros is a digest.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from mlspec.files.loader import Path

ZERO_DIGEST = "sha256:" + "0" * 64
_ZERO_IMAGE = re.compile(r"@sha256:0{64}$")
_ZERO_COMMIT = re.compile(r"0{7,40}")
_TODO = re.compile(r"\bTODO\b")

# Where a digest comes from, by the key that holds it (the last segments of its path).
_DIGEST_HOW = {
    ("artifact", "digest"): "the artifact's digest: `mlspec digest PATH` of the model file or directory",
    ("data", "digest"): "the data's digest: `mlspec digest PATH` of the training data",
    ("environment", "lockfileDigest"): "the lockfile's digest: `mlspec digest LOCKFILE`",
    ("features", "schemaDigest"): "the feature schema's digest: `mlspec digest SCHEMA`",
}


def find(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every placeholder in loaded spec data (`(path, message)`, in document order)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from find(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from find(value, path + (index,))
    elif isinstance(data, str):
        message = _message(data, path)
        if message is not None:
            yield path, message


def _message(value: str, path: Path) -> str | None:
    where = ".".join(str(p) for p in path)
    if value == ZERO_DIGEST:
        last = tuple(str(p) for p in path[-2:])
        how = (_DIGEST_HOW.get((last[0], last[1]), "") if len(last) == 2 else "") or "the real digest: `mlspec digest PATH`"
        return f"`{where}` is a placeholder (an all-zero digest pins no bytes); {how}"
    if _ZERO_IMAGE.search(value):
        image = value[: value.index("@")]
        return (f"`{where}` is a placeholder (an all-zero image digest); the real one: `crane digest {image}:TAG` "
                "(or `docker buildx imagetools inspect`), written as IMAGE@sha256:...")
    if path[-1:] == ("commit",) and _ZERO_COMMIT.fullmatch(value):
        return f"`{where}` is a placeholder (an all-zero commit); the real one: `git rev-parse HEAD` in the training code"
    if _TODO.search(value):
        return f"`{where}` is a placeholder (`TODO`); replace it with the real value"
    return None
