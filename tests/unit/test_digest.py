"""The artifact digest agrees with coreutils, refuses what coreutils would
escape or follow, and the in-pod check stops on any other bytes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import compile_spec
from mlspec.cli.main import main
from mlspec.pod import digest

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
    (tmp_path / "nothing").mkdir()
    result = CliRunner().invoke(main, ["digest", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "holds no files" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("empty", ["only/dirs", "sub dir/nested/deeper", "e"])
def test_an_empty_directory_anywhere_is_refused_by_digest_and_by_verify(tmp_path, empty):
    """The manifest lists files only: a tree that differs from the pinned one by an
    empty directory (a new model version directory for Triton, say) would have
    the same digest. So empty directories are refused, in `mlspec digest` and in
    the in-pod check alike."""
    root = _tree(tmp_path / "model")
    pinned = digest.digest(str(root))
    (root / empty).mkdir(parents=True)
    assert _coreutils_dir(root) == pinned  # coreutils cannot tell the two trees apart
    result = CliRunner().invoke(main, ["digest", str(root)])
    assert result.exit_code == 1 and "an empty directory is refused" in result.stderr and result.stdout == ""
    assert str(root / empty) in result.stderr
    proc = _verify(tmp_path, ("model", pinned, root))
    assert proc.returncode == 1 and "an empty directory is refused" in proc.stderr


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


def _verify(tmp_path: Path, *pairs: tuple[str, str, Path]) -> subprocess.CompletedProcess[str]:
    args = [a for what, expected, path in pairs for a in ("--verify", what, expected, str(path))]
    return subprocess.run([sys.executable, "-I", str(_shipped_program(tmp_path)), *args],
                          capture_output=True, text=True)


def _three(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """A model directory, a baseline file fetched into a directory, a dataset file:
    what an evaluation pod's verify step checks, each with its pinned digest."""
    model = _tree(tmp_path / "mnt" / "models")
    baseline = tmp_path / "mnt" / "baseline"
    baseline.mkdir()
    (baseline / "model.joblib").write_bytes(b"previous weights")
    dataset = tmp_path / "mnt" / "dataset.parquet"
    dataset.write_bytes(b"PAR1 rows PAR1")
    return {"model": (model, digest.digest(str(model))),
            "baseline": (baseline, digest.digest(str(baseline / "model.joblib"))),
            "dataset": (dataset, digest.digest(str(dataset)))}


@pytest.mark.parametrize("tampered", ["model", "baseline", "dataset"])
@pytest.mark.parametrize("how", ["byte", "extra", "removed"])
def test_tampering_any_one_of_several_artifacts_stops_the_pod(tmp_path, tampered, how):
    sources = _three(tmp_path)
    pairs = [(what, pinned, path) for what, (path, pinned) in sources.items()]
    ok = _verify(tmp_path, *pairs)
    assert ok.returncode == 0 and ok.stdout.count(" ok\n") == 3, ok.stderr
    path, pinned = sources[tampered]
    target = path if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[0]
    if how == "byte":
        data = bytearray(target.read_bytes() or b"\0")
        data[0] ^= 0x01
        target.write_bytes(bytes(data))
    elif how == "extra":
        if path.is_file():
            target.write_bytes(target.read_bytes() + b"!")
        else:
            (path / "planted.py").write_bytes(b"import os\n")
    else:
        if path.is_file():
            target.write_bytes(b"")
        else:
            target.unlink()
    bad = _verify(tmp_path, *pairs)
    assert bad.returncode == 1, bad.stdout
    assert "refusing to start" in bad.stderr
    # The tampered one is named, and only it; the others still check out.
    failed = [line for line in bad.stderr.splitlines() if "mismatch" in line or "cannot verify" in line]
    assert len(failed) == 1 and failed[0].startswith(f"mlspec verify: {tampered} at {path}:"), bad.stderr
    assert bad.stdout.count(" ok\n") == 2 and f"{tampered} at" not in bad.stdout


def test_a_single_file_digest_holds_only_for_one_file_at_the_top(tmp_path):
    """Where a storage initializer (or the pvc copy) puts a single-file artifact:
    DEST/<its name>. Deeper, or beside anything else, the file digest is no match."""
    weights = b"weights"
    pinned = "sha256:" + hashlib.sha256(weights).hexdigest()
    top = tmp_path / "top"
    (top).mkdir()
    (top / "any-name.bin").write_bytes(weights)
    assert _verify(tmp_path, ("model", pinned, top)).returncode == 0
    deep = tmp_path / "deep"
    (deep / "a" / "b").mkdir(parents=True)
    (deep / "a" / "b" / "model.joblib").write_bytes(weights)
    proc = _verify(tmp_path, ("model", pinned, deep))
    assert proc.returncode == 1 and "digest mismatch" in proc.stderr
    assert digest.delivered_digests(str(deep)) == (digest.digest(str(deep)),)


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


def _copy(tmp_path: Path, source: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(_shipped_program(tmp_path)), "--copy", str(source), str(dest)],
                          capture_output=True, text=True)


def test_the_pvc_copy_reproduces_a_tree_and_the_copy_verifies(tmp_path):
    claim = _tree(tmp_path / "claim" / "churn" / "1.0.0")
    (claim / "run.sh").write_bytes(b"#!/bin/sh\n")
    (claim / "run.sh").chmod(0o755)
    dest = tmp_path / "emptydir"
    dest.mkdir()
    (dest / "left-over").mkdir()  # a re-run init container finds the last copy
    (dest / "left-over" / "stale").write_bytes(b"old")
    proc = _copy(tmp_path, claim, dest)
    assert proc.returncode == 0, proc.stderr
    assert digest.digest(str(dest)) == digest.digest(str(claim))
    assert not (dest / "left-over").exists() and os.access(dest / "run.sh", os.X_OK)
    assert _verify(tmp_path, ("model", digest.digest(str(claim)), dest)).returncode == 0


def test_the_pvc_copy_puts_a_single_file_at_the_top_under_its_name(tmp_path):
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "model.joblib").write_bytes(b"weights")
    dest = tmp_path / "emptydir"
    dest.mkdir()
    assert _copy(tmp_path, claim / "model.joblib", dest).returncode == 0
    assert [p.name for p in dest.iterdir()] == ["model.joblib"]
    assert _verify(tmp_path, ("model", digest.digest(str(claim / "model.joblib")), dest)).returncode == 0


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "link").symlink_to("/etc/passwd"), "symbolic links are refused"),
    (lambda d: (d / "hollow").mkdir(), "an empty directory is refused"),
    (lambda d: os.mkfifo(d / "pipe"), "not a regular file"),
])
def test_the_pvc_copy_refuses_what_the_digest_refuses(tmp_path, make, message):
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "a").write_bytes(b"a")
    make(claim)
    dest = tmp_path / "emptydir"
    dest.mkdir()
    proc = _copy(tmp_path, claim, dest)
    assert proc.returncode == 1 and message in proc.stderr and "mlspec copy: error:" in proc.stderr
    link = tmp_path / "link-to-claim"
    link.symlink_to(claim)
    proc = _copy(tmp_path, link, dest)
    assert proc.returncode == 1 and "symbolic links are refused" in proc.stderr


def test_the_pvc_copy_is_readable_by_any_user_and_keeps_only_the_claims_execute_bits(tmp_path):
    # the server runs as another user than the copy step: files 0644 plus the claim's own execute
    # bits (0700 -> 0744), directories 0755, each under the process umask like any file the pod creates
    import stat

    umask = os.umask(0)
    os.umask(umask)
    claim = tmp_path / "claim"
    (claim / "sub").mkdir(parents=True)
    (claim / "sub" / "weights.bin").write_bytes(b"w")
    (claim / "sub" / "weights.bin").chmod(0o600)
    (claim / "run.sh").write_bytes(b"#!/bin/sh\n")
    (claim / "run.sh").chmod(0o700)
    dest = tmp_path / "emptydir"
    dest.mkdir()
    (claim / "tool").write_bytes(b"#!/bin/sh\n")
    (claim / "tool").chmod(0o757)  # execute for all kept, write for others not
    (dest / "stale-file").write_bytes(b"old")  # a re-run init container finds the last copy
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"not the copy's")
    (dest / "stale-link").symlink_to(outside)  # emptied as a link, never followed
    assert _copy(tmp_path, claim, dest).returncode == 0
    assert sorted(p.name for p in dest.iterdir()) == ["run.sh", "sub", "tool"]
    assert (outside / "keep").read_bytes() == b"not the copy's"
    modes = {rel: stat.S_IMODE((dest / rel).stat().st_mode) for rel in ("sub", "sub/weights.bin", "run.sh", "tool")}
    assert modes == {"sub": 0o755 & ~umask, "sub/weights.bin": 0o644 & ~umask, "run.sh": 0o744 & ~umask,
                     "tool": 0o755 & ~umask}


def test_a_claim_file_swapped_for_a_link_after_the_listing_is_not_copied(tmp_path, monkeypatch):
    # the listing refuses links, but the claim is shared: a file may become a link before it is
    # opened. Simulated by a listing that still names the file it saw.
    secret = tmp_path / "secret"
    secret.write_bytes(b"not the artifact")
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "model.bin").symlink_to(secret)
    dest = tmp_path / "emptydir"
    dest.mkdir()
    monkeypatch.setattr(digest, "regular_files", lambda root: [b"model.bin"])
    with pytest.raises(OSError):
        digest.copy(str(claim), str(dest))
    assert not (dest / "model.bin").exists()
