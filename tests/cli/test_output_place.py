"""One place for the output (issue 26, item 3): the repository declares its output
directory once (the platform file's `spec.output`, default `deploy/` at the repository
root); every command finds it the same way from any subdirectory, `-o` still wins, and
no command starts a second ledger for a model recorded elsewhere in the repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from test_paths import LINK, MINIMAL, run, snapshot

from mlspec.platform import platformfile

ROOT = Path(__file__).resolve().parents[2]
LEDGER = Path("_ledger") / "churn.yaml"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "models" / "churn.yaml").write_text(MINIMAL)
    (root / "models" / "metrics.json").write_text(json.dumps({"f1": 0.9}))
    return root


def platform(repo: Path, output: str) -> None:
    (repo / ".mlspec").mkdir(exist_ok=True)
    (repo / ".mlspec" / "platform.yaml").write_text(
        f"apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  output: {output}\n")


def test_build_from_a_subdirectory_and_from_the_root_use_one_output_place(repo: Path) -> None:
    below = run("build", "churn.yaml", cwd=repo / "models")
    assert below.exit_code == 0, below.output
    assert (repo / "deploy" / LEDGER).is_file() and not (repo / "models" / "deploy").exists()
    before = snapshot(repo)
    above = run("build", "models/churn.yaml", cwd=repo)
    assert above.exit_code == 0, above.output
    assert "under deploy " in above.stderr and snapshot(repo) == before  # the same place, already up to date
    assert run("build", "models/churn.yaml", "--check", cwd=repo).exit_code == 0


@pytest.mark.parametrize("cwd", ["models", "."])
def test_history_gate_and_rollback_find_that_place_without_o(repo: Path, cwd: str) -> None:
    assert run("build", "models/churn.yaml", cwd=repo).exit_code == 0
    here = repo / cwd
    spec = os.path.relpath(repo / "models" / "churn.yaml", here)
    shown = run("history", "churn", "--format", "json", cwd=here)
    assert shown.exit_code == 0, shown.output
    assert [r["version"] for r in json.loads(shown.stdout)] == ["1.0.0"]
    gated = run("gate", spec, "--metrics", os.path.relpath(repo / "models" / "metrics.json", here), "--record", cwd=here)
    assert gated.exit_code == 0, gated.output
    assert "f1" in (repo / "deploy" / LEDGER).read_text()
    assert not (here / "deploy").exists() or here == repo
    rolled = run("rollback", "churn", "--to", "1.0.0", cwd=here)  # the current release: refused, at that ledger
    assert rolled.exit_code == 1 and "'1.0.0' is already the current release of churn" in rolled.stderr
    assert Path(here, rolled.stderr.split(":")[0]).resolve() == (repo / "deploy" / LEDGER).resolve()


def test_a_second_ledger_of_a_recorded_model_is_refused_naming_the_existing_one(repo: Path) -> None:
    assert run("build", "models/churn.yaml", cwd=repo).exit_code == 0
    before = snapshot(repo)
    for args in (["build", "churn.yaml", "-o", "deploy"],  # what init's old hint ran in models/
                 ["gate", "churn.yaml", "--metrics", "metrics.json", "--record", "-o", "deploy"]):
        refused = run(*args, cwd=repo / "models")
        assert refused.exit_code == 1, refused.output
        assert "model `churn` is already recorded in ../deploy/_ledger/churn.yaml" in refused.stderr, refused.stderr
        assert snapshot(repo) == before and not (repo / "models" / "deploy").exists()


def test_another_model_may_start_its_ledger_anywhere_and_o_still_wins(repo: Path) -> None:
    """The neighbours: a model recorded nowhere is built where -o says, not into deploy/."""
    assert run("build", "models/churn.yaml", "-o", "gitops", cwd=repo).exit_code == 0
    assert (repo / "gitops" / LEDGER).is_file() and not (repo / "deploy").exists()
    (repo / "models" / "other.yaml").write_text(MINIMAL.replace("name: churn", "name: other"))
    assert run("build", "models/other.yaml", cwd=repo).exit_code == 0  # its first ledger: deploy/
    assert (repo / "deploy" / "_ledger" / "other.yaml").is_file()
    refused = run("build", "models/churn.yaml", cwd=repo)  # but churn's is in gitops/
    assert refused.exit_code == 1 and "already recorded in gitops/_ledger/churn.yaml" in refused.stderr


@pytest.mark.parametrize("cwd", ["models", "."])
def test_the_platform_files_spec_output_is_honoured_from_anywhere(repo: Path, cwd: str) -> None:
    platform(repo, "gitops/models")
    here = repo / cwd
    built = run("build", os.path.relpath(repo / "models" / "churn.yaml", here), cwd=here)
    assert built.exit_code == 0, built.output
    assert (repo / "gitops" / "models" / LEDGER).is_file() and not (repo / "deploy").exists()
    assert run("history", "churn", cwd=here).exit_code == 0
    assert run("build", os.path.relpath(repo / "models" / "churn.yaml", here), "-o", "x", cwd=here).exit_code == 1


@pytest.mark.parametrize(("value", "why"), [
    ("../outside", "leaves the repository"), ("/tmp/outside", "is absolute"), ("deploy/../../x", "leaves the repository"),
    ("'.'", "is the repository root itself"),
])
def test_a_spec_output_that_escapes_the_repository_is_a_positioned_error(repo: Path, value: str, why: str) -> None:
    platform(repo, value)
    before = snapshot(repo.parent)
    result = run("build", "churn.yaml", cwd=repo / "models")
    assert result.exit_code == 1, result.output
    assert f"/.mlspec/platform.yaml:4:11: error: `spec.output` {value.strip(chr(39))!r} {why}" in result.stderr
    assert snapshot(repo.parent) == before
    assert run("validate", str(repo / ".mlspec" / "platform.yaml")).exit_code == 1


def test_a_spec_output_through_a_link_is_a_positioned_error(repo: Path) -> None:
    (repo.parent / "outside").mkdir()
    os.symlink("../outside", repo / "gitops")
    platform(repo, "gitops/models")
    before = snapshot(repo.parent)
    result = run("build", "churn.yaml", cwd=repo / "models")
    assert result.exit_code == 1, result.output
    assert "platform.yaml:4:11: error: `spec.output` 'gitops/models' passes ../gitops, which " + LINK in result.stderr
    assert snapshot(repo.parent) == before
    platform(repo, "deploy/models")  # the neighbour: a real directory of the repository
    assert run("build", "churn.yaml", cwd=repo / "models").exit_code == 0
    assert (repo / "deploy" / "models" / LEDGER).is_file()


def test_outside_a_repository_o_is_required(tmp_path: Path) -> None:
    (tmp_path / "churn.yaml").write_text(MINIMAL)
    result = run("build", "churn.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "no Git repository holds" in result.stderr
    assert run("history", "churn", cwd=tmp_path).exit_code == 2
    assert sorted(os.listdir(tmp_path)) == ["churn.yaml"]


def test_inits_hint_works_where_it_is_printed(repo: Path, tmp_path: Path) -> None:
    made = run("init", "churn2", cwd=repo / "models")
    assert "then run `mlspec build churn2.mlspec.yaml`" in made.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = run("init", "churn2", cwd=elsewhere)  # no repository: the hint names the output
    assert "then run `mlspec build churn2.mlspec.yaml -o deploy/`" in made.stderr


def test_the_committed_platform_schemas_are_the_generated_one() -> None:
    text = platformfile.schema_text()
    assert "output" in json.loads(text)["definitions"]["PlatformSpec"]["properties"]
    for path in (ROOT / "schemas" / "platform.schema.json", ROOT / "examples-platform" / ".mlspec" / "platform.schema.json"):
        assert path.read_text() == text, f"{path} drifted: run `mlspec schema --platform -o {path}`"
    assert yaml.safe_load(text)["$id"] == platformfile.SCHEMA_ID
