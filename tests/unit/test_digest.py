"""The artifact digest agrees with coreutils, refuses what coreutils would
escape or follow, and the in-pod check stops on any other bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import compile_spec, digest
from mlspec.cli import main

COREUTILS_DIR = "cd \"$1\" && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"


def _coreutils_dir(path: Path) -> str:
    out = subprocess.run(["sh", "-c", COREUTILS_DIR, "sh", str(path)], capture_output=True, text=True, check=True)
    return "sha256:" + out.stdout.split()[0]


def _tree(root: Path) -> Path:
    for rel, data in {"model.joblib": b"\x00weights", "B.txt": b"upper", "a.txt": b"lower", "\u00e4.txt": b"umlaut",
                      ".hidden": b"h", "sub dir/nested/x.bin": os.urandom(3 << 20), "sub dir/y": b""}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-dir").mkdir()
    return root


def test_file_digest_is_sha256sum(tmp_path):
    f = tmp_path / "model.onnx"
    f.write_bytes(os.urandom(5 << 20))
    expected = subprocess.run(["sha256sum", str(f)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert digest.digest(str(f)) == "sha256:" + expected


def test_directory_digest_is_the_coreutils_manifest_digest(tmp_path):
    root = _tree(tmp_path / "model")
    assert digest.digest(str(root)) == _coreutils_dir(root)
    (root / "a.txt").write_bytes(b"lowe")  # one byte less: another digest
    assert digest.digest(str(root)) == _coreutils_dir(root)
    assert digest.digest(str(root)) != digest.digest(str(_tree(tmp_path / "again")))


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "link").symlink_to("a"), "symbolic links are refused"),
    (lambda d: os.mkfifo(d / "pipe"), "not a regular file"),
    (lambda d: (d / "new\nline").write_bytes(b"x"), "newline or a backslash"),
    (lambda d: (d / "back\\slash").write_bytes(b"x"), "newline or a backslash"),
])
def test_what_sha256sum_would_follow_or_escape_is_refused(tmp_path, make, message):
    root = tmp_path / "m"
    root.mkdir()
    (root / "a").write_bytes(b"a")
    make(root)
    result = CliRunner().invoke(main, ["digest", str(root)])
    assert result.exit_code == 1 and message in result.stderr and result.stdout == ""


def test_a_directory_without_files_is_refused(tmp_path):
    (tmp_path / "only" / "dirs").mkdir(parents=True)
    result = CliRunner().invoke(main, ["digest", str(tmp_path / "only")])
    assert result.exit_code == 1 and "holds no files" in result.stderr


def test_cli_prints_the_digest_alone_or_one_line_per_path(tmp_path):
    root = _tree(tmp_path / "model")
    one = CliRunner().invoke(main, ["digest", str(root / "a.txt")])
    assert one.exit_code == 0 and one.stdout == digest.digest(str(root / "a.txt")) + "\n"
    many = CliRunner().invoke(main, ["digest", str(root), str(root / "a.txt")])
    assert many.stdout.splitlines() == [f"{digest.digest(str(root))}  {root}",
                                        f"{digest.digest(str(root / 'a.txt'))}  {root / 'a.txt'}"]


def _shipped_program(tmp_path: Path) -> Path:
    """digest.py exactly as `mlspec build` ships it in the runtime ConfigMap."""
    import yaml

    spec = (Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml").read_text()
    cm = yaml.safe_load(compile_spec(spec, source="m.yaml")["default/churn/configmap-runtime.yaml"])
    program = tmp_path / "digest.py"
    program.write_text(cm["data"]["digest.py"])
    assert cm["data"]["digest.py"] == (Path(digest.__file__)).read_text()
    return program


def test_shipped_verify_step_passes_the_pinned_bytes_and_stops_on_others(tmp_path):
    program = _shipped_program(tmp_path)
    models = _tree(tmp_path / "models")
    pinned = digest.digest(str(models))
    ok = subprocess.run([sys.executable, "-I", str(program), "--verify", "model", pinned, str(models)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and f"{pinned} ok" in ok.stdout
    (models / "sub dir" / "y").write_bytes(b"!")
    bad = subprocess.run([sys.executable, "-I", str(program), "--verify", "model", pinned, str(models)],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"expected {pinned}, got {digest.digest(str(models))}" in bad.stderr
    assert "refusing to start" in bad.stderr


def test_a_single_fetched_file_is_verified_by_its_own_digest(tmp_path):
    program = _shipped_program(tmp_path)
    fetched = tmp_path / "mnt"
    fetched.mkdir()
    (fetched / "model.joblib").write_bytes(b"weights")
    file_digest = digest.digest(str(fetched / "model.joblib"))
    for expected in (file_digest, digest.digest(str(fetched))):
        proc = subprocess.run([sys.executable, "-I", str(program), "--verify", "model", expected, str(fetched)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    (fetched / "extra").write_bytes(b"")  # two files: only the directory digest identifies them
    proc = subprocess.run([sys.executable, "-I", str(program), "--verify", "model", file_digest, str(fetched)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "digest mismatch" in proc.stderr


def test_a_missing_delivery_is_a_failure_not_a_pass(tmp_path):
    proc = subprocess.run([sys.executable, "-I", str(_shipped_program(tmp_path)), "--verify", "model",
                           "sha256:" + "0" * 64, str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot verify" in proc.stderr
