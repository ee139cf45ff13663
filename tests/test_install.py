"""Installing *this* project as its documents say, nothing mocked:

- the Argo CD plugin image: the Dockerfile's own COPY and RUN steps, in a fresh virtual environment;
- README.md's Install: the wheel built by the documented command, installed with the lock into a
  fresh venv, then an extra from the locked wheels (`pip install --no-index --find-links`);
- docs/ci-and-argocd.md's pre-commit config: the real pre-commit (from the lock) runs the shipped
  `.pre-commit-hooks.yaml` from a clone of this repository at a real commit."""

from __future__ import annotations

import os
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


# --- README.md's Install, and the pre-commit hooks of docs/ci-and-argocd.md, as typed ---------

README = ROOT / "README.md"
SOURCE_IGNORE = shutil.ignore_patterns(".git", ".venv*", "node_modules", "build", "dist", "wheels", "__pycache__",
                                       "*.egg-info", ".pytest_cache", ".mypy_cache", "mutation-report")


def _install_block(after: str) -> str:
    """The README's tested shell block that follows the paragraph ending with `after`."""
    text = README.read_text()
    block = text.split(after, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    marker = text.split(after, 1)[1].split("```sh\n", 1)[0]
    assert "<!-- tested: tests/test_install.py -->" in marker
    return block


def _sh(code: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=1200)


def test_the_readme_wheel_install_and_an_extra_work_as_typed(tmp_path: Path):
    checkout, home = tmp_path / "mlspec", tmp_path / "home"
    shutil.copytree(ROOT, checkout, ignore=SOURCE_IGNORE)
    home.mkdir()
    wheel = _install_block("with the hash-checked lock `requirements/runtime.txt`:")
    done = _sh(wheel, checkout, home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1].startswith("mlspec, version ")
    venv = home / ".venvs" / "mlspec" / "bin"
    [built] = (checkout / "dist").glob("mlspec_gitops-*.whl")
    shown = subprocess.run([str(venv / "python"), "-m", "pip", "show", "mlspec-gitops"], capture_output=True, text=True)
    assert "Name: mlspec-gitops" in shown.stdout and "Location: " + str(home) in shown.stdout
    example = str(ROOT / "examples" / "minimal.yaml")
    # Without the extra, --verify says it needs it (the nearest wrong neighbour of the install below).
    before = subprocess.run([str(venv / "mlspec"), "build", example, "--stdout", "--verify"], capture_output=True, text=True)
    assert before.returncode == 2 and "verify" in before.stderr and "Traceback" not in before.stderr
    extra = _install_block("download those wheels once, then install offline:")
    done = _sh(extra, checkout, home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert built.name in done.stdout or "Successfully installed" in done.stdout
    after = subprocess.run([str(venv / "mlspec"), "build", example, "--stdout", "--verify"], capture_output=True, text=True)
    assert after.returncode == 0 and "kind: Rollout" in after.stdout, after.stderr


def test_the_readme_quick_start_installs_and_builds_an_example_as_typed(tmp_path: Path):
    checkout, home = tmp_path / "mlspec", tmp_path / "home"
    shutil.copytree(ROOT, checkout, ignore=SOURCE_IGNORE)
    home.mkdir()
    done = _sh(_install_block("every test, exactly as CI does (`.ci/run`):"), checkout, home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (checkout / "out" / "prod" / "fraud-detector" / "rollout.yaml").is_file()
    assert "warning" not in done.stderr  # the example builds quietly
    # the neighbour: the build it installed is the one that refuses bad input
    bad = checkout / "bad.yaml"
    bad.write_text("apiVersion: mlspec.dev/v1alpha1\nkind: ModelDeployment\nmetadata: {name: x}\n")
    refused = subprocess.run([str(checkout / ".venv" / "bin" / "mlspec"), "validate", str(bad)], capture_output=True,
                             text=True)
    assert refused.returncode == 1 and "missing required field" in refused.stderr


GOOD = (ROOT / "examples" / "minimal.yaml").read_text()


def _precommit_config(hooks_repo: Path, commit: str) -> str:
    """docs/ci-and-argocd.md's `.pre-commit-config.yaml`, with its two blanks filled in."""
    page = (ROOT / "docs" / "ci-and-argocd.md").read_text()
    snippet = page.split("### pre-commit", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "rev: COMMIT" in snippet and "v0.1.0" not in snippet
    return snippet.replace("https://git.example.com/your-org/mlspec", str(hooks_repo)).replace("COMMIT", commit, 1)


def test_the_real_pre_commit_runs_the_shipped_hooks_from_a_clone_at_a_commit(tmp_path: Path):
    git = ["git", "-c", "user.name=ml", "-c", "user.email=ml@example.com"]
    hooks_repo = tmp_path / "mlspec"
    shutil.copytree(ROOT, hooks_repo, ignore=SOURCE_IGNORE)
    subprocess.run(["git", "init", "-q"], cwd=hooks_repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=hooks_repo, check=True)
    subprocess.run(git + ["commit", "-qm", "mlspec"], cwd=hooks_repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks_repo, capture_output=True, text=True,
                            check=True).stdout.strip()
    gitops = tmp_path / "gitops"
    (gitops / "models").mkdir(parents=True)
    (gitops / "models" / "churn.mlspec.yaml").write_text(GOOD)
    (gitops / "models" / "fraud.mlspec.yaml").write_text(
        GOOD.replace("name: churn", "name: fraud").replace("seed: 7", "seed: seven"))
    (gitops / ".pre-commit-config.yaml").write_text(_precommit_config(hooks_repo, commit))
    subprocess.run(["git", "init", "-q"], cwd=gitops, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    pre_commit = [str(Path(sys.executable).parent / "pre-commit"), "run", "--color", "never"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(pre_commit + list(args), cwd=gitops, capture_output=True, text=True, env=env, timeout=1200)

    valid = run("mlspec-validate", "--files", "models/churn.mlspec.yaml")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    invalid = run("mlspec-validate", "--files", "models/fraud.mlspec.yaml")
    assert invalid.returncode == 1, invalid.stdout
    assert re.search(r"^models/fraud\.mlspec\.yaml:\d+:\d+: error: .*seed", invalid.stdout, re.M), invalid.stdout
    assert "Traceback" not in invalid.stdout
    # mlspec-check: stale (nothing built) fails, built passes.
    (gitops / "models" / "fraud.mlspec.yaml").unlink()
    stale = run("mlspec-check", "--all-files")
    assert stale.returncode == 1 and "deploy/" in stale.stdout, stale.stdout
    subprocess.run([str(Path(sys.executable).parent / "mlspec"), "build", "models/", "-o", "deploy/"], cwd=gitops,
                   check=True, capture_output=True)
    fresh = run("mlspec-check", "--all-files")
    assert fresh.returncode == 0, fresh.stdout
