"""Every file mlspec reads or writes: opened without following links, inside a root.

A *root* is a directory the caller chose (`-o DIR`, a spec directory named on the
command line, `--root DIR`, the current directory). Everything below it is
repository content, which whoever opens a pull request controls, so below a root
each component is opened on its own, relative to its parent's descriptor
(`openat`), with O_NOFOLLOW: a symbolic link, `..`, an absolute path, or a FIFO,
device or socket where a file is read, is an error naming it, never followed.
Reads are bounded; a file is written as a temporary file renamed into place in
the same directory. (A process racing mlspec on the same machine is outside the
threat model: what matters is what a commit can contain.)

Linux and macOS only: they offer `dir_fd` and O_NOFOLLOW.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path
from types import TracebackType
from typing import Iterator

from mlspec.files.errors import Diagnostic, PathError

LINK = "is a symbolic link; mlspec does not follow links (commit the file or directory itself)"
NOT_REGULAR = "is not a regular file (a FIFO, device or socket); mlspec reads only regular files"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after).
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_RENAME_EXCHANGE = 2


def refusal(shown: str, message: str) -> PathError:
    return PathError([Diagnostic(shown, 1, 1, message)])


def components(rel: str, shown: str | None = None) -> list[str]:
    """The names in the relative path `rel` (`.` and empty ones dropped); refuses an
    absolute path and `..`, which would leave the root."""
    if os.path.isabs(rel):
        raise refusal(shown or rel, "must be a relative path inside the directory it belongs to")
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refusal(shown or rel, "`..` is not allowed here: the path must stay inside its directory")
    return parts


def read_limited(fd: int, limit: int, shown: str) -> bytes:
    """At most `limit` bytes of an open file; more is an error.
    (The stand-in for `loader.read_limited`: the one function to swap when it lands.)"""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise refusal(shown, f"file is larger than {limit} bytes, the most mlspec reads from one file")


class Dir:
    """An open directory below a root: names in it are opened relative to it, never
    through a link. Use as a context manager (it holds a descriptor)."""

    def __init__(self, fd: int, shown: str) -> None:
        self.fd, self.shown = fd, shown

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def show(self, name: str) -> str:
        """`name` as messages show it: the path the user knows."""
        return name if self.shown in ("", ".") else os.path.join(self.shown, name)

    def kind(self, name: str) -> str | None:
        """"file", "dir", "link" or "other" (FIFO, device, socket); None when missing."""
        try:
            mode = os.stat(_single(self, name), dir_fd=self.fd, follow_symlinks=False).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _kind(mode)

    def entries(self) -> list[tuple[str, str]]:
        """`(name, kind)` of everything in the directory, sorted by name."""
        with os.scandir(self.fd) as listing:
            return sorted((e.name, _entry_kind(e)) for e in listing)

    def sub(self, name: str, create: bool = False) -> Dir:
        """The subdirectory `name` (made first with `create`); a link or a file there is an error."""
        if create:
            try:
                os.mkdir(_single(self, name), 0o755, dir_fd=self.fd)
            except FileExistsError:
                pass
        try:
            return Dir(os.open(_single(self, name), _DIR, dir_fd=self.fd), self.show(name))
        except OSError as exc:
            raise self._why(name, exc, "is not a directory") from None

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of the regular file `name`, at most `limit` (FileNotFoundError when missing)."""
        fd = self._open(name)
        try:
            return read_limited(fd, limit, self.show(name))
        finally:
            os.close(fd)

    def head(self, name: str, size: int) -> bytes:
        """The first `size` bytes of the regular file `name` (to recognize it)."""
        fd = self._open(name)
        try:
            return os.read(fd, size)
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes, mode: int = 0o644, sync: bool = False) -> None:
        """Replace (or create) the file `name` atomically: a temporary file (flushed to
        disk first with `sync`), then a rename."""
        kind = self.kind(name)
        if kind not in (None, "file"):
            raise refusal(self.show(name), LINK if kind == "link" else "is not a regular file; refusing to replace it")
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        self.create(tmp, data, mode, sync)
        try:
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(tmp)
            raise

    def create(self, name: str, data: bytes, mode: int = 0o644, sync: bool = False) -> bool:
        """Write a new file `name` (mode 0644); False, writing nothing, when the name exists."""
        try:
            fd = os.open(_single(self, name), _CREATE, 0o600, dir_fd=self.fd)
        except FileExistsError:
            return False
        try:
            os.fchmod(fd, mode)  # whatever the umask
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            self.unlink(name)
            raise
        return True

    def link_into(self, name: str, other: Dir) -> None:
        """Hard-link the regular file `name` into `other` (the same inode, never a link's target)."""
        os.link(name, name, src_dir_fd=self.fd, dst_dir_fd=other.fd, follow_symlinks=False)

    def mkdtemp(self, prefix: str) -> str:
        """A new, empty subdirectory `PREFIX<random>`; its name."""
        while True:
            name = prefix + secrets.token_hex(4)
            try:
                os.mkdir(name, 0o700, dir_fd=self.fd)
                return name
            except FileExistsError:
                continue

    def rename(self, name: str, new: str) -> None:
        os.rename(name, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def exchange(self, a: str, b: str) -> bool:
        """Atomically swap two names (Linux renameat2); False when unsupported."""
        libc = _libc()
        if not libc or not hasattr(libc, "renameat2"):
            return False
        return bool(libc.renameat2(self.fd, os.fsencode(a), self.fd, os.fsencode(b), _RENAME_EXCHANGE) == 0)

    def remove_tree(self, name: str) -> None:
        """Remove the subdirectory `name` and everything in it, never following a link."""
        shutil.rmtree(name, dir_fd=self.fd, ignore_errors=True)

    def unlink(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError:
            pass

    def _open(self, name: str) -> int:
        try:
            fd = os.open(_single(self, name), _READ, dir_fd=self.fd)
        except OSError as exc:
            raise self._why(name, exc, "is a directory, not a file") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise refusal(self.show(name), "is a directory, not a file" if self.kind(name) == "dir" else NOT_REGULAR)
        return fd

    def _why(self, name: str, exc: OSError, wrong_kind: str) -> Exception:
        """The error for a failed open: a refusal for a link or a wrong kind, else the
        OSError itself (FileNotFoundError stays one: callers treat missing as empty)."""
        kind = self.kind(name) if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EMLINK) else None
        if kind == "link":
            return refusal(self.show(name), LINK)
        if kind is not None:
            return refusal(self.show(name), wrong_kind if kind != "other" else NOT_REGULAR)
        return type(exc)(exc.errno, exc.strerror, self.show(name))


def _single(directory: Dir, name: str) -> str:
    """`name` if it is one name inside the directory (the layer's own invariant)."""
    if "/" in name or name in ("", ".", ".."):
        raise refusal(directory.show(name), "must be a single file name inside its directory")
    return name


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"


def _entry_kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


_LIBC: object = None


def _libc() -> object:
    global _LIBC
    if _LIBC is None:
        import ctypes  # only a rebuild that replaces a directory pays for it

        try:  # the C library the interpreter already links (no `find_library`, which runs ldconfig)
            _LIBC = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _LIBC = False
    return _LIBC


def open_root(path: str | Path, created: list[Path] | None = None) -> Dir:
    """The directory the caller named, as named, except that its last component must
    not be a link. With `created`, missing directories are made and appended to it."""
    path = Path(path)
    shown = str(path)
    if created is not None and not os.path.lexists(path):
        missing = []
        while not os.path.lexists(path) and path != path.parent:
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            try:
                directory.mkdir()
                created.append(directory)
            except FileExistsError:  # a parallel worker made it first
                pass
        path = Path(shown)
    try:
        return Dir(os.open(path, _DIR), shown)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise refusal(shown, LINK) from None
        raise type(exc)(exc.errno, exc.strerror, shown) from None  # the machine's problem: "cannot read/write"


def open_dir(root: str | Path, rel: str, created: list[Path] | None = None) -> Dir:
    """The directory `rel` below `root`, every component checked. With `created`,
    missing directories are made (and appended to it)."""
    current = open_root(root, created)
    try:
        for name in components(rel):
            existed = created is None or current.kind(name) is not None
            child = current.sub(name, create=created is not None)
            if not existed:
                assert created is not None
                created.append(Path(child.shown))
            current.close()
            current = child
    except BaseException:
        current.close()
        raise
    return current


def parent_and_name(root: str | Path, rel: str, created: list[Path] | None = None) -> tuple[Dir, str]:
    """The open directory holding `rel` below `root`, and the last name of `rel`."""
    parts = components(rel)
    if not parts:
        raise refusal(str(root), "names a directory, not a file")
    return open_dir(root, "/".join(parts[:-1]), created), parts[-1]


def read(root: str | Path, rel: str, limit: int) -> bytes:
    """The regular file `rel` below `root`, bounded (FileNotFoundError when missing)."""
    directory, name = parent_and_name(root, rel)
    with directory:
        return directory.read(name, limit)


def write(root: str | Path, rel: str, data: bytes) -> None:
    """Write the file `rel` below `root` atomically, making missing directories."""
    directory, name = parent_and_name(root, rel, created=[])
    with directory:
        directory.write(name, data)


def named(path: str | Path, climb: bool = True) -> tuple[str, str]:
    """Split a path from the command line into `(root, rel)`. A relative path without
    `..` is checked component by component from the current directory; an absolute path
    (or, with `climb`, one climbing with `..`) is the caller's own choice up to its last
    component, which is checked like the rest."""
    text = os.path.normpath(str(path))
    climbs = text.split(os.sep)[0] == ".."
    if not os.path.isabs(text) and not climbs:
        return ".", "" if text == "." else text
    if not climb and not os.path.isabs(text):
        raise refusal(str(path), "`..` is not allowed here: give a path inside the current directory, or an absolute one")
    head, tail = os.path.split(text)
    if tail in ("", "..") or head == "":
        return text, ""
    return head, tail


def confine(path: str, root: str) -> str:
    """`path` (relative to `root`) as a path from the current directory, after checking
    that it stays inside `root`: no absolute path, no `..`, no link on the way (what
    exists of it must be directories, the last component may be a file)."""
    parts = components(path, path)
    current = open_root(root)
    try:
        for index, name in enumerate(parts):
            kind = current.kind(name)
            if kind is None:
                break
            if kind == "link":
                raise refusal(current.show(name), LINK)
            if kind != "dir":
                if index != len(parts) - 1:
                    raise refusal(current.show(name), "is not a directory")
                break
            child = current.sub(name)
            current.close()
            current = child
    finally:
        current.close()
    return os.path.normpath(os.path.join(root, *parts)) if parts else os.path.normpath(root)


def anchored(path: str | Path) -> Path:
    """`path`, a directory named without `--root`, after checking it like a path below a
    root: nothing on the way from the root to it may be a link (a committed
    `deploy -> /elsewhere` would carry every write out of the repository). The root is
    the current directory when `path` lies inside it, else the nearest directory above
    it holding `.git` (the repository, found without passing a link), else `path`'s own
    parent: a path outside any repository is the caller's choice."""
    absolute = os.path.abspath(path)  # lexical: `..` is resolved, no link is
    cwd = os.getcwd()
    _same_both_ways(str(path), absolute)
    inside = os.path.commonpath([absolute, cwd]) == cwd
    root: str | None = cwd if inside else None
    for parent in () if inside else Path(absolute).parents:
        if os.path.islink(parent):  # a `.git` seen through a link is not this repository's
            continue
        if os.path.lexists(parent / ".git"):
            root = str(parent)
            break
    if root is not None:
        confine(os.path.relpath(absolute, root), "." if inside else root)  # messages show what the user typed
    # The lexical path is the one checked, so it is the one written: the kernel would
    # resolve `link/..` on the link's side (`-o models/../deploy`, `models` a committed
    # link, lands beside the link's target).
    return Path(os.path.normpath(path))


def _same_both_ways(path: str, physical: str) -> None:
    """Refuses a relative `path` with `..` whose target differs seen from the shell's
    current directory (`$PWD`) and from the physical one: `cd models && mlspec build .
    -o ../deploy` with `models` a committed link means the repository's `deploy` to
    whoever wrote it, and the link target's sibling to the kernel."""
    logical = os.environ.get("PWD", "")
    if os.path.isabs(path) or ".." not in path.replace(os.sep, "/").split("/") or not os.path.isabs(logical):
        return
    try:
        if not os.path.samefile(logical, "."):
            return  # a stale $PWD says nothing about how this directory was reached
    except OSError:
        return
    meant = os.path.normpath(os.path.join(logical, path))
    if os.path.realpath(meant) != os.path.realpath(physical):
        raise refusal(path, f"leads to {physical}, not to {meant}: the current directory ({logical}) is reached "
                      "through a symbolic link, and `..` leaves it on the link's side; name the directory without `..`")


def walk(top: Dir) -> Iterator[tuple[Dir, list[tuple[str, str]]]]:
    """`(directory, entries)` for `top` and every subdirectory below it whose name does
    not start with `.`, in name order; links are listed, never entered."""
    entries = top.entries()
    yield top, entries
    for name, kind in entries:
        if kind == "dir" and not name.startswith("."):
            with top.sub(name) as child:
                yield from walk(child)
