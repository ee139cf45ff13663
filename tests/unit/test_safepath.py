"""The safe-path layer itself: what it refuses, what it allows, and that a refusal
leaves the file system as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlspec.files import safepath
from mlspec.files.errors import PathError


def _message(exc: pytest.ExceptionInfo[PathError]) -> str:
    (diagnostic,) = exc.value.diagnostics
    return f"{diagnostic.source}: {diagnostic.message}"


@pytest.mark.parametrize("rel, message", [
    ("/etc/passwd", "/etc/passwd: must be a relative path"),
    ("../x", "../x: `..` is not allowed here"),
    ("a/../../x", "a/../../x: `..` is not allowed here"),
    ("a/..", "a/..: `..` is not allowed here"),
])
def test_components_refuse_absolute_paths_and_dot_dot(rel, message):
    with pytest.raises(PathError) as exc:
        safepath.components(rel)
    assert _message(exc).startswith(message)


def test_components_drop_dot_and_empty_names():
    assert safepath.components("./a//b/./c/") == ["a", "b", "c"]
    assert safepath.components(".") == []


@pytest.fixture()
def tree(tmp_path):
    (tmp_path / "root" / "dir").mkdir(parents=True)
    (tmp_path / "root" / "dir" / "file").write_bytes(b"content")
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "root" / "file-link").symlink_to(tmp_path / "secret")
    (tmp_path / "root" / "dir-link").symlink_to(tmp_path)
    (tmp_path / "root" / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "root" / "fifo")
    return tmp_path / "root"


def test_read_opens_regular_files_below_the_root(tree):
    assert safepath.read(tree, "dir/file", 100) == b"content"
    with pytest.raises(FileNotFoundError):
        safepath.read(tree, "dir/missing", 100)
    with pytest.raises(FileNotFoundError):
        safepath.read(tree, "missing/file", 100)


@pytest.mark.parametrize("rel, shown, message", [
    ("file-link", "file-link", safepath.LINK),
    ("dangling", "dangling", safepath.LINK),
    ("dir-link/secret", "dir-link", safepath.LINK),
    ("fifo", "fifo", safepath.NOT_REGULAR),
    ("dir", "dir", "is a directory, not a file"),
    ("dir/file/x", "dir/file", "is not a directory"),
])
def test_read_refuses_links_fifos_and_wrong_kinds_naming_the_component(tree, rel, shown, message):
    with pytest.raises(PathError) as exc:
        safepath.read(tree, rel, 100)
    assert _message(exc) == f"{tree}/{shown}: {message}"


def test_reads_are_bounded(tree):
    assert safepath.read(tree, "dir/file", 7) == b"content"
    with pytest.raises(PathError) as exc:
        safepath.read(tree, "dir/file", 6)
    assert "file is larger than 6 bytes" in _message(exc)


def test_the_root_is_the_callers_but_its_last_component_is_checked(tree, tmp_path):
    assert safepath.read(tree / "dir-link" / "root", "dir/file", 100) == b"content"  # a link *above* the root
    with pytest.raises(PathError) as exc:
        safepath.open_root(tree / "dir-link")
    assert _message(exc) == f"{tree}/dir-link: {safepath.LINK}"


def test_write_is_atomic_and_never_through_a_link(tree, tmp_path):
    safepath.write(tree, "new/deeper/out.yaml", b"one")
    safepath.write(tree, "new/deeper/out.yaml", b"two")
    written = tree / "new" / "deeper" / "out.yaml"
    assert written.read_bytes() == b"two" and stat.S_IMODE(written.stat().st_mode) == 0o644
    assert sorted(p.name for p in written.parent.iterdir()) == ["out.yaml"]  # no temporary file left
    for rel in ("file-link", "dangling", "dir-link/x"):
        with pytest.raises(PathError):
            safepath.write(tree, rel, b"x")
    assert (tmp_path / "secret").read_bytes() == b"secret" and not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "x").exists()


def test_create_never_replaces_anything_and_takes_single_names(tree):
    directory, name = safepath.parent_and_name(tree, "dir/file")
    with directory:
        assert not directory.create(name, b"x")
        for bad in ("../escape", "a/b", "..", ""):
            with pytest.raises(PathError):
                directory.create(bad, b"x")
            with pytest.raises(PathError):
                directory.sub(bad)
    assert (tree / "dir" / "file").read_bytes() == b"content" and not (tree / "escape").exists()


def test_open_dir_records_what_it_creates(tmp_path):
    created: list[Path] = []
    with safepath.open_dir(tmp_path / "a" / "b", "c/d", created) as directory:
        assert directory.shown == f"{tmp_path}/a/b/c/d"
    assert created == [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c", tmp_path / "a" / "b" / "c" / "d"]


def test_entries_and_walk_list_links_without_entering_them(tree):
    (tree / "dir" / "loop").symlink_to("..")
    (tree / ".hidden").mkdir()
    with safepath.open_root(tree) as root:
        kinds = dict(root.entries())
        assert kinds == {"dangling": "link", "dir": "dir", "dir-link": "link", "fifo": "other", "file-link": "link",
                         ".hidden": "dir"}
        walked = [(d.shown, [n for n, _ in entries]) for d, entries in safepath.walk(root)]
    assert walked == [(str(tree), sorted(kinds)), (f"{tree}/dir", ["file", "loop"])]


@pytest.mark.parametrize("path, expected", [
    ("models/x.yaml", (".", "models/x.yaml")),
    ("./models/", (".", "models")),
    (".", (".", "")),
    ("/abs/dir/x.yaml", ("/abs/dir", "x.yaml")),
    ("../up/x.yaml", ("../up", "x.yaml")),
    ("..", ("..", "")),
    ("/", ("/", "")),
])
def test_named_splits_command_line_paths(path, expected):
    assert safepath.named(path) == expected


def test_named_without_climbing_refuses_dot_dot():
    with pytest.raises(PathError):
        safepath.named("../x.yaml", climb=False)
    assert safepath.named("/abs/x.yaml", climb=False) == ("/abs", "x.yaml")


def test_confine_keeps_paths_inside_the_root(tree):
    assert safepath.confine("dir/file", str(tree)) == f"{tree}/dir/file"
    assert safepath.confine("dir/not-yet", str(tree)) == f"{tree}/dir/not-yet"  # may not exist yet
    assert safepath.confine(".", str(tree)) == str(tree)
    for path, shown in (("/etc", "/etc"), ("../x", "../x"), ("dir-link/x", f"{tree}/dir-link"),
                        ("dir/file/x", f"{tree}/dir/file")):
        with pytest.raises(PathError) as exc:
            safepath.confine(path, str(tree))
        assert _message(exc).startswith(f"{shown}: ")
