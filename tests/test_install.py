"""The Argo CD plugin image installs *this* project, from its source and the lock:
the Dockerfile's own COPY and RUN steps, run in a fresh virtual environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

DOCKERFILE = ROOT / "deploy" / "argocd" / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_installs_this_project_from_source_with_the_lock(tmp_path: Path):
    steps = _instructions(DOCKERFILE.read_text())
    ops = [op for op, _ in steps]
    assert ops[0] == "FROM" and "RUN" in ops
    image_root = tmp_path / "image"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = f"{venv}/bin/python -m pip"
    for op, rest in steps:
        if op == "COPY":
            *sources, dest = rest.split()
            target = image_root / dest.lstrip("/")
            for source in sources:
                src = ROOT / source
                into = target / src.name if dest.endswith("/") else target
                if src.is_dir():
                    shutil.copytree(src, into, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    into.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, into)
        elif op == "RUN":
            assert "pip install" in rest and "--require-hashes" in rest, rest
            assert not re.search(r"pip install (--\S+ )*mlspec\b", rest), "would install PyPI's unrelated `mlspec`"
            command = re.sub(r"(?<![\w.])/src\b", str(image_root / "src"), rest).replace("pip install", f"{pip} install")
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (image_root / "src").exists(), "the image removes the source after installing"
    version = subprocess.run([f"{venv}/bin/mlspec", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mlspec, version "), version
    dist = subprocess.run([f"{venv}/bin/python", "-m", "pip", "show", "mlspec-gitops"], capture_output=True, text=True)
    assert dist.returncode == 0 and "Name: mlspec-gitops" in dist.stdout
    # Templates and schemas ship in the wheel: a build works far from the checkout.
    built = subprocess.run([f"{venv}/bin/mlspec", "build", str(ROOT / "examples" / "minimal.yaml"), "--stdout"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0 and "kind: Rollout" in built.stdout, built.stderr
