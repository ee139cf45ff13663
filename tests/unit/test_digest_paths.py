"""digest.py as the pods run it (`python3 digest.py PATH...`): what the top-level path may be,
chunk boundaries, byte order of names, and the exit status over several paths."""

from __future__ import annotations

import hashlib
import os

import pytest

from mlspec.pod import digest


@pytest.mark.parametrize("size", [0, 1, digest.CHUNK - 1, digest.CHUNK, digest.CHUNK + 1, 2 * digest.CHUNK])
def test_file_digest_at_chunk_boundaries(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    (tmp_path / "f").write_bytes(data)
    assert digest.digest(str(tmp_path / "f")) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_manifest_lists_every_file_sorted_by_bytes(tmp_path):
    for rel in ("b", "a-b", "a/b", "a/c/d", "B"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    lines = digest.manifest(str(tmp_path)).decode().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == ["B", "a-b", "a/b", "a/c/d", "b"]
    assert lines[0] == hashlib.sha256(b"B").hexdigest() + "  B"
    assert digest.regular_files(str(tmp_path)) == [b"B", b"a-b", b"a/b", b"a/c/d", b"b"]


def test_the_top_level_path_must_be_a_regular_file_or_a_directory(tmp_path):
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(digest.DigestError, match="link: symbolic links are refused"):
        digest.digest(str(tmp_path / "link"))
    with pytest.raises(digest.DigestError, match="fifo: not a regular file or directory"):
        digest.digest(str(tmp_path / "fifo"))
    with pytest.raises(digest.DigestError, match="missing: No such file or directory"):
        digest.digest(str(tmp_path / "missing"))


def test_a_nested_symlink_to_a_directory_is_refused_not_followed(tmp_path):
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "sub" / "f").write_bytes(b"x")
    (tmp_path / "m" / "loop").symlink_to(tmp_path / "m" / "sub")
    with pytest.raises(digest.DigestError, match="loop: symbolic links are refused"):
        digest.digest(str(tmp_path / "m"))


def test_main_prints_each_digest_and_fails_if_any_path_fails(tmp_path, capsys):
    (tmp_path / "a").write_bytes(b"a")
    assert digest.main([str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out == f"{digest.digest(str(tmp_path / 'a'))}  {tmp_path / 'a'}\n"
    assert digest.main([str(tmp_path / "missing"), str(tmp_path / "a")]) == 1
    out, err = capsys.readouterr()
    assert out == f"{digest.digest(str(tmp_path / 'a'))}  {tmp_path / 'a'}\n"  # the good path is still printed
    assert err.startswith(f"digest.py: error: {tmp_path / 'missing'}: ")
    assert digest.main([]) == 0


def test_verify_reasons(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    good = digest.digest(str(tmp_path / "a"))
    assert digest.verify(good, str(tmp_path / "a")) is None
    other = "sha256:" + "0" * 64
    assert digest.verify(other, str(tmp_path / "a"), "model") == \
        f"model at {tmp_path / 'a'}: digest mismatch: expected {other}, got {good}"
    assert digest.verify(good, str(tmp_path / "none")).startswith(f"artifact at {tmp_path / 'none'}: cannot verify: ")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one").write_bytes(b"a")
    (tmp_path / "d" / "two").write_bytes(b"b")
    # two files: only the directory's own digest identifies it, not either file's
    assert digest.delivered_digests(str(tmp_path / "d")) == (digest.digest(str(tmp_path / "d")),)
    assert digest.verify(good, str(tmp_path / "d")) is not None


def test_help_describes_the_program_in_its_first_docstring_line(capsys):
    with pytest.raises(SystemExit):
        digest.main(["--help"])
    assert "The artifact digest, and its check before a server or evaluator starts." in capsys.readouterr().out


def test_a_mismatch_in_a_single_file_directory_reports_the_file_digest(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "model.joblib").write_bytes(b"other bytes")
    other = "sha256:" + "0" * 64
    file_digest = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    assert digest.verify(other, str(tmp_path / "d")) == \
        f"artifact at {tmp_path / 'd'}: digest mismatch: expected {other}, got {file_digest}"
