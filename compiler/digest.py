"""The artifact digest, and its check before a server or evaluator starts.

This module is the single implementation. `mlspec digest` imports it, and
`mlspec build` ships its source unchanged in the `<name>-runtime` and
`<name>-gate` ConfigMaps, where every pod that uses an artifact runs
`python3 digest.py --verify DIGEST PATH ...` as an init container. So it uses the
standard library only, runs on Python 3.8+, and imports nothing from mlspec.

The digest is the one coreutils gives (DESIGN.md):
- a file: `sha256:` + the SHA-256 of its bytes (`sha256sum FILE`);
- a directory: `sha256:` + the SHA-256 of the manifest
  `cd DIR && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum`,
  one `<hex>  <relative path>` line per regular file, sorted by path bytes.
Symbolic links, devices, sockets, FIFOs, names holding a newline or a backslash
(which sha256sum would escape) and directories without files are refused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import stat
import sys
from typing import List, Optional, Sequence, Tuple

CHUNK = 1 << 20


class DigestError(Exception):
    """The path cannot be digested the way coreutils would (exit 1)."""


def file_sha256(path: bytes | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


def _show(path: bytes) -> str:
    return os.fsdecode(path)


def regular_files(root: str) -> List[bytes]:
    """Relative paths (bytes) of every regular file below `root`, sorted by bytes."""
    base = os.fsencode(root)
    found: List[bytes] = []
    stack: List[bytes] = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(base, rel) if rel else base) as entries:
            for entry in entries:
                path = rel + b"/" + entry.name if rel else entry.name
                if b"\n" in path or b"\\" in path:
                    raise DigestError(f"{_show(os.path.join(base, path))}: a name with a newline or a backslash "
                                      "is refused (sha256sum would escape it)")
                if entry.is_symlink():
                    raise DigestError(f"{_show(os.path.join(base, path))}: symbolic links are refused")
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    found.append(path)
                else:
                    raise DigestError(f"{_show(os.path.join(base, path))}: not a regular file "
                                      "(device, socket or FIFO)")
    return sorted(found)


def manifest(root: str) -> bytes:
    """The `sha256sum` manifest of a directory."""
    files = regular_files(root)
    if not files:
        raise DigestError(f"{root}: directory holds no files")
    base = os.fsencode(root)
    return b"".join(file_sha256(os.path.join(base, rel)).encode() + b"  " + rel + b"\n" for rel in files)


def _lstat(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise DigestError(f"{path}: {exc.strerror or exc}") from None


def digest(path: str) -> str:
    """`sha256:<hex>` of a file or a directory."""
    mode = _lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise DigestError(f"{path}: symbolic links are refused")
    if stat.S_ISREG(mode):
        return "sha256:" + file_sha256(path)
    if stat.S_ISDIR(mode):
        return "sha256:" + hashlib.sha256(manifest(path)).hexdigest()
    raise DigestError(f"{path}: not a regular file or directory")


def delivered_digests(path: str) -> Tuple[str, ...]:
    """The digests that identify what was delivered at `path`. A storage
    initializer puts a single-file artifact inside a directory, so a directory
    holding exactly one file is also identified by that file's digest."""
    found = digest(path)
    if stat.S_ISDIR(_lstat(path).st_mode):
        files = regular_files(path)
        if len(files) == 1:
            return (found, "sha256:" + file_sha256(os.path.join(os.fsencode(path), files[0])))
    return (found,)


def verify(expected: str, path: str, what: str = "artifact") -> Optional[str]:
    """None when `path` holds exactly the bytes `expected` names; else the reason."""
    try:
        actual = delivered_digests(path)
    except DigestError as exc:
        return f"{what} at {path}: cannot verify: {exc}"
    if expected in actual:
        return None
    return f"{what} at {path}: digest mismatch: expected {expected}, got {actual[-1]}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python3 digest.py PATH...` prints digests; `--verify DIGEST PATH` checks them."""
    parser = argparse.ArgumentParser(prog="digest.py", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="files or directories to digest")
    parser.add_argument("--verify", nargs=3, action="append", default=[], metavar=("WHAT", "DIGEST", "PATH"),
                        help="check that PATH holds exactly DIGEST (repeatable); exit 1 otherwise")
    args = parser.parse_args(argv)
    if args.verify:
        failures = 0
        for what, expected, path in args.verify:
            problem = verify(expected, path, what)
            if problem is None:
                print(f"mlspec verify: {what} at {path}: {expected} ok", flush=True)
            else:
                failures += 1
                print(f"mlspec verify: {problem}", file=sys.stderr, flush=True)
        if failures:
            print("mlspec verify: refusing to start: the delivered bytes are not the pinned ones", file=sys.stderr)
        return 1 if failures else 0
    status = 0
    for path in args.paths:
        try:
            print(f"{digest(path)}  {path}")
        except DigestError as exc:
            print(f"digest.py: error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
