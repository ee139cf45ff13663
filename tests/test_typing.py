"""The package type-checks with mypy --strict (the habit STYLE.md asks for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlspec


def test_package_is_mypy_strict_clean(tmp_path):
    # The source folder is `compiler/` but the import name is `mlspec`: check the
    # package where it is installed, under its import name.
    (tmp_path / "mlspec").symlink_to(Path(mlspec.__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
                           "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "mlspec"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
