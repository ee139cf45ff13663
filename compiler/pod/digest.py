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
(which sha256sum would escape) and empty directories (which the manifest cannot
record, so two trees with one digest could differ) are refused: the manifest then
determines the tree exactly.

`--copy SRC DEST` copies an artifact from a shared volume (a `pvc://` claim) into
the pod's own `emptyDir`, which the verify step then checks: the server mounts only
that verified copy, so a later write to the claim never reaches it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
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
        empty = True
        with os.scandir(os.path.join(base, rel) if rel else base) as entries:
            for entry in entries:
                empty = False
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
        if empty and rel:
            raise DigestError(f"{_show(os.path.join(base, rel))}: an empty directory is refused "
                              "(the sha256sum manifest cannot record it)")
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
    initializer (and `copy`) puts a single-file artifact at DEST/<its name>, so a
    directory whose one entry is a regular file is also identified by that file's
    digest; nothing deeper, nothing beside it."""
    found = digest(path)
    if stat.S_ISDIR(_lstat(path).st_mode):
        files = regular_files(path)
        if len(files) == 1 and b"/" not in files[0]:
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


def _copy_file(source: bytes, target: bytes) -> None:
    # O_NOFOLLOW: the listing refused symlinks, and a file swapped for one since is refused too.
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as src:
        mode = 0o644 | (os.fstat(src.fileno()).st_mode & 0o111)
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)


def copy(source: str, dest: str) -> None:
    """Copy the artifact at `source` into the directory `dest`, emptied first: a
    directory's files at their relative paths, a single file as DEST/<its name>.
    Refuses what `digest` refuses; what is copied is verified afterwards."""
    mode = _lstat(source).st_mode
    if not stat.S_ISDIR(_lstat(dest).st_mode):
        raise DigestError(f"{dest}: not a directory")
    with os.scandir(dest) as entries:  # a re-run init container finds the last copy
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    target = os.fsencode(dest)
    if stat.S_ISREG(mode):
        _copy_file(os.fsencode(source), os.path.join(target, os.path.basename(os.fsencode(source))))
        return
    if not stat.S_ISDIR(mode):
        raise DigestError(f"{source}: {'symbolic links are refused' if stat.S_ISLNK(mode) else 'not a regular file or directory'}")
    base = os.fsencode(source)
    for rel in regular_files(source):
        parent = os.path.dirname(rel)
        if parent:
            os.makedirs(os.path.join(target, parent), mode=0o755, exist_ok=True)
        _copy_file(os.path.join(base, rel), os.path.join(target, rel))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python3 digest.py PATH...` prints digests; `--verify WHAT DIGEST PATH` checks
    them; `--copy SRC DEST` copies an artifact into a pod-local directory."""
    parser = argparse.ArgumentParser(prog="digest.py", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="files or directories to digest")
    parser.add_argument("--verify", nargs=3, action="append", default=[], metavar=("WHAT", "DIGEST", "PATH"),
                        help="check that PATH holds exactly DIGEST (repeatable); exit 1 otherwise")
    parser.add_argument("--copy", nargs=2, metavar=("SRC", "DEST"),
                        help="copy the artifact at SRC into the directory DEST (emptied first)")
    args = parser.parse_args(argv)
    if args.copy:
        source, dest = args.copy
        try:
            copy(source, dest)
        except (DigestError, OSError) as exc:
            print(f"mlspec copy: error: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"mlspec copy: {source} -> {dest}", flush=True)
        return 0
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
