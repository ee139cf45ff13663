"""Placeholders never become a release (issue 26, item 1): what `mlspec init` writes is
named by `validate` with how to get the real value, refused by a build into an output
tree (positioned, nothing written), still rendered by `--stdout`; the real pins at the
scaffold's version then build with no cleanup."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from test_paths import run, snapshot

from mlspec.spec import placeholders

ZERO = "0" * 64
WARNING = re.compile(r"^(?P<at>churn\.mlspec\.yaml:\d+:\d+): warning: (?P<msg>.*)$", re.M)
ERROR = re.compile(r"^(?P<at>churn\.mlspec\.yaml:\d+:\d+): error: (?P<msg>.*)$", re.M)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A Git repository with one commit (the training code) and a trained artifact."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "train.py").write_text("print('train')\n")
    git(root, "add", "train.py")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "training code")
    (root / "model.joblib").write_bytes(b"trained bytes")
    return root


def real_pins(text: str, repo: Path, keep: tuple[str, ...] = ()) -> str:
    """The scaffold with its placeholders replaced the way a newcomer does: the artifact's
    digest from `mlspec digest`, the commit from `git rev-parse HEAD`, each image pinned
    by a digest, the run id; `keep` names the placeholders to leave (`commit`, ...)."""
    artifact = repo / "model.joblib"
    if not artifact.exists():
        artifact.write_bytes(b"trained bytes")
    code = repo  # the training code's repository: this one when it has a commit, else one beside it
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", "HEAD"], capture_output=True).returncode:
        code = repo.parent / "training-code"
        code.mkdir(exist_ok=True)
        git(code, "init", "-q")
        git(code, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "code")
    digest = run("digest", artifact).stdout.split()[0]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    if "digest" not in keep:
        text = text.replace(f"digest: sha256:{ZERO}", f"digest: {digest}")
    if "commit" not in keep:
        text = text.replace('"' + "0" * 40 + '"', '"' + git(code, "rev-parse", "HEAD") + '"')
    if "image" not in keep:
        text = re.sub(rf"(image: (\S+)@sha256:){ZERO}",
                      lambda m: m.group(1) + hashlib.sha256(m.group(2).encode()).hexdigest(), text)
    if "runId" not in keep:
        text = text.replace('"mlflow:TODO"', '"mlflow:9f1c2d"')
    return text


def test_the_newcomer_sequence_init_validate_build_refused_fill_in_build(repo: Path) -> None:
    models = repo / "models"
    made = run("init", "churn", cwd=models)
    assert made.exit_code == 0, made.output
    hint = re.search(r"then run `([^`]*)`", made.stderr).group(1)  # type: ignore[union-attr]
    assert hint == "mlspec build churn.mlspec.yaml"  # works from models/, where it is printed
    spec = models / "churn.mlspec.yaml"

    checked = run("validate", "churn.mlspec.yaml", cwd=models)
    assert checked.exit_code == 0, checked.output
    warnings = dict((m["at"], m["msg"]) for m in WARNING.finditer(checked.stderr))
    lines = spec.read_text().splitlines()
    # one warning at each placeholder, at its value, saying how to get the real one
    placed = sorted(int(at.split(":")[1]) for at in warnings)
    expected = sorted(i + 1 for i, line in enumerate(lines)
                      if not line.lstrip().startswith("#") and (ZERO in line or "0" * 40 in line or '"mlflow:TODO"' in line))
    assert placed == expected and len(placed) == 7, checked.stderr
    for at, message in warnings.items():
        line, col = (int(n) for n in at.split(":")[1:])
        assert lines[line - 1][col - 1:].split()[0].strip('"') in lines[line - 1]
    text = "\n".join(warnings.values())
    assert "`mlspec digest PATH`" in text and "`git rev-parse HEAD`" in text and "`crane digest " in text
    assert "7 warning(s)" in checked.stderr

    before = snapshot(repo)
    refused = run(*hint.split()[1:], cwd=models)
    assert refused.exit_code == 1, refused.output
    errors = dict((m["at"], m["msg"]) for m in ERROR.finditer(refused.stderr))
    assert sorted(errors) == sorted(warnings), refused.stderr  # the same places, now errors
    assert all("a ledger never records a placeholder" in m for m in errors.values())
    assert snapshot(repo) == before and not (repo / "deploy").exists()

    rendered = run("build", "churn.mlspec.yaml", "--stdout", cwd=models)
    assert rendered.exit_code == 0 and "kind: Rollout" in rendered.stdout

    spec.write_text(real_pins(spec.read_text(), repo))
    clean = run("validate", "churn.mlspec.yaml", cwd=models)
    assert clean.exit_code == 0 and "warning" not in clean.stderr, clean.stderr
    built = run(*hint.split()[1:], cwd=models)
    assert built.exit_code == 0, built.output
    recorded = yaml.safe_load((repo / "deploy" / "_ledger" / "churn.yaml").read_text())
    [release] = recorded["releases"]
    assert release["version"] == "0.1.0" and ZERO not in str(release)
    again = run(*hint.split()[1:], cwd=models)  # the same release again: nothing to clean up
    assert again.exit_code == 0 and "already released" not in again.output


@pytest.mark.parametrize("left", ["digest", "commit", "image", "runId"])
def test_one_placeholder_left_among_real_pins_is_still_refused(repo: Path, left: str) -> None:
    run("init", "churn", cwd=repo / "models")
    spec = repo / "models" / "churn.mlspec.yaml"
    spec.write_text(real_pins(spec.read_text(), repo, keep=(left,)))
    before = snapshot(repo)
    refused = run("build", "churn.mlspec.yaml", cwd=repo / "models")
    assert refused.exit_code == 1, refused.output
    errors = [m["msg"] for m in ERROR.finditer(refused.stderr)]
    keys = {"digest": "spec.model.artifact.digest", "commit": "spec.training.code.commit",
            "image": "image", "runId": "spec.training.runId"}
    assert errors and all(keys[left] in e for e in errors), refused.stderr
    assert len(errors) == (4 if left == "image" else 1)  # the scaffold's four images
    assert snapshot(repo) == before


def test_a_real_digest_and_commit_full_of_zeros_are_pins_not_placeholders(repo: Path) -> None:
    run("init", "churn", cwd=repo / "models")
    spec = repo / "models" / "churn.mlspec.yaml"
    text = real_pins(spec.read_text(), repo, keep=("digest", "commit"))
    text = text.replace(f"digest: sha256:{ZERO}", f"digest: sha256:{'0' * 63}1")
    text = text.replace('"' + "0" * 40 + '"', '"' + "0" * 39 + 'a"')
    spec.write_text(text)
    checked = run("validate", "churn.mlspec.yaml", cwd=repo / "models")
    assert checked.exit_code == 0 and "warning" not in checked.stderr, checked.stderr
    assert run("build", "churn.mlspec.yaml", cwd=repo / "models").exit_code == 0
    assert (repo / "deploy" / "_ledger" / "churn.yaml").is_file()


@pytest.mark.parametrize(("path", "value", "named"), [
    (("spec", "model", "artifact", "digest"), "sha256:" + ZERO, "`mlspec digest PATH`"),
    (("spec", "training", "data", "digest"), "sha256:" + ZERO, "`mlspec digest PATH`"),
    (("spec", "serving", "image"), "r.example/s@sha256:" + ZERO, "`crane digest r.example/s:TAG`"),
    (("spec", "training", "code", "commit"), "0" * 40, "`git rev-parse HEAD`"),
    (("spec", "training", "runId"), "mlflow:TODO", "`TODO`"),
])
def test_each_kind_of_placeholder_is_named_with_how_to_get_the_real_value(path, value, named) -> None:
    [(at, message)] = placeholders.find(_nested(path, value))
    assert at == path and named in message


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "model", "artifact", "digest"), "sha256:" + "0" * 63 + "1"),  # one past all-zero
    (("spec", "serving", "image"), "r.example/s@sha256:" + "0" * 63 + "f"),
    (("spec", "training", "code", "commit"), "0" * 39 + "1"),
    (("spec", "training", "code", "repo"), "0" * 40),  # all zeros, but not at a commit
    (("spec", "training", "runId"), "mlflow:TODOS"),  # a word containing TODO, not the marker
    (("spec", "training", "runId"), "mlflow:todo"),
])
def test_the_nearest_real_values_are_not_placeholders(path, value) -> None:
    assert list(placeholders.find(_nested(path, value))) == []


def _nested(path: tuple[str, ...], value: str) -> dict:
    data: dict = {}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


def test_a_placeholder_the_platform_file_provides_is_positioned_in_the_platform_file(repo: Path) -> None:
    run("init", "churn", cwd=repo / "models")
    spec = repo / "models" / "churn.mlspec.yaml"
    text = real_pins(spec.read_text(), repo)
    spec.write_text(re.sub(r"(  evaluation:[^\n]*\n)    image: [^\n]*\n", r"\1", text))
    (repo / ".mlspec" / "platform.yaml").write_text(
        "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  defaults:\n    evaluation:\n"
        f"      image: r.example/eval@sha256:{ZERO}\n")
    refused = run("build", "models/churn.mlspec.yaml", cwd=repo)
    assert refused.exit_code == 1, refused.output
    assert f"{Path('.mlspec') / 'platform.yaml'}:6:14: error: `spec.evaluation.image` is a placeholder" in refused.stderr
    assert not (repo / "deploy").exists()
