"""`mlspec diff` at its edges: `--exit-code`, several specs and directories against one
base, a renamed spec file, two different models, a removed environment, bad input
among good. Each is a correct, bounded output or a positioned error; never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.records.diffmarkdown import LIMIT

ROOT = Path(__file__).resolve().parents[2]
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


def run(*args: object, cwd: Path | None = None):
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fraud.mlspec.yaml").write_text(FULL)
    (tmp_path / "models" / "churn.mlspec.yaml").write_text(MINIMAL)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "initial")
    return tmp_path


def test_exit_code_is_one_when_anything_changed_and_zero_otherwise(repo):
    spec = repo / "models" / "churn.mlspec.yaml"
    assert run("diff", spec, "--exit-code").exit_code == 0  # unchanged
    spec.write_text(MINIMAL.replace("seed: 7", "seed: 8"))
    changed = run("diff", spec, "--exit-code")
    assert changed.exit_code == 1 and changed.stdout.startswith("mlspec diff: churn\n  seed: 7 -> 8\n")
    assert changed.stderr == ""  # a difference is no error
    assert run("diff", spec).exit_code == 0  # without the flag, as before
    for fmt in ("json", "markdown"):
        assert run("diff", spec, "--exit-code", "--format", fmt).exit_code == 1
    # several specs: one changed is enough; none changed is 0
    assert run("diff", repo / "models", "--base", "HEAD", "--exit-code").exit_code == 1
    spec.write_text(MINIMAL)
    assert run("diff", repo / "models", "--base", "HEAD", "--exit-code").exit_code == 0


def test_several_specs_and_directories_against_one_base(repo):
    (repo / "models" / "churn.mlspec.yaml").write_text(MINIMAL.replace("{metric: f1, min: 0.8}",
                                                                       "{metric: f1, min: 0.7}"))
    text = run("diff", "models", "--base", "HEAD", cwd=repo)
    assert text.exit_code == 0, text.output
    assert "mlspec diff: fraud-detector: no changes\n" in text.stdout
    assert "  WARNING: threshold loosened: f1 min: >= 0.8 -> >= 0.7\n" in text.stdout
    data = json.loads(run("diff", "models", "--base", "HEAD", "--format", "json", cwd=repo).stdout)
    assert [d["name"] for d in data] == ["churn", "fraud-detector"]
    # two files with --base: each against the base, not OLD NEW
    both = json.loads(run("diff", "models/churn.mlspec.yaml", "models/fraud.mlspec.yaml", "--base", "HEAD",
                          "--format", "json", cwd=repo).stdout)
    assert [d["name"] for d in both] == ["churn", "fraud-detector"] and both[1]["manifests"] == {}
    # three files without --base: each against HEAD (only two can be OLD NEW)
    (repo / "models" / "third.mlspec.yaml").write_text(MINIMAL.replace("name: churn", "name: third"))
    three = json.loads(run("diff", "models/churn.mlspec.yaml", "models/fraud.mlspec.yaml", "models/third.mlspec.yaml",
                           "--format", "json", cwd=repo).stdout)
    assert [d["name"] for d in three] == ["churn", "fraud-detector", "third"] and three[1]["manifests"] == {}
    assert all(t.startswith("--- /dev/null") for t in three[2]["manifests"].values())  # new at HEAD
    # the neighbour: two files without --base stay OLD NEW (two different models here)
    pair = json.loads(run("diff", "models/churn.mlspec.yaml", "models/fraud.mlspec.yaml", "--format", "json",
                          cwd=repo).stdout)
    assert {"field": "model", "old": "churn", "new": "fraud-detector"} in pair["changes"]
    markdown = run("diff", "models", "--base", "HEAD", "--format", "markdown", cwd=repo).stdout
    assert markdown.count("\n### ") == 3 and len(markdown) <= LIMIT  # churn, fraud-detector, third
    strict = run("diff", "models", "--base", "HEAD", "--fail-on-loosened", cwd=repo)
    assert strict.exit_code == 1 and "1 threshold(s) loosened or removed" in strict.stderr
    assert "(churn)" in strict.stderr and "fraud-detector" not in strict.stderr


def test_a_renamed_spec_file_is_compared_with_what_it_was(repo):
    git(repo, "mv", "models/churn.mlspec.yaml", "models/churn-model.mlspec.yaml")
    git(repo, "commit", "-qm", "rename")
    data = json.loads(run("diff", "models/churn-model.mlspec.yaml", "--base", "HEAD~1", "--format", "json",
                          cwd=repo).stdout)
    assert data["changes"] == [{"field": "spec file", "old": "models/churn.mlspec.yaml",
                                "new": "models/churn-model.mlspec.yaml"}]
    assert data["manifests"] == {} and data["stamps"]["count"] == 0  # the same model, the same bytes
    assert run("diff", "models/churn-model.mlspec.yaml", "--base", "HEAD~1", "--exit-code", cwd=repo).exit_code == 1
    # the neighbour: a new file that is no rename is a new spec, every manifest added
    (repo / "models" / "other.mlspec.yaml").write_text(MINIMAL.replace("name: churn", "name: other"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "new")
    fresh = json.loads(run("diff", "models/other.mlspec.yaml", "--base", "HEAD~1", "--format", "json",
                           cwd=repo).stdout)
    assert not any(c["field"] == "spec file" for c in fresh["changes"])
    assert fresh["manifests"] and all(t.startswith("--- /dev/null") for t in fresh["manifests"].values())


def test_two_different_models_say_so_and_stay_bounded(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(MINIMAL)
    new.write_text(FULL)
    text = run("diff", old, new).stdout
    assert "  model: churn -> fraud-detector\n" in text
    assert "  WARNING: these are two different models: every object of one is removed" in text
    markdown = run("diff", old, new, "--format", "markdown").stdout
    assert len(markdown) <= LIMIT and "> Traffic: these are **two different models**" in markdown
    assert "Rollout plan" not in markdown  # no Rollout of the old model is rolled: one is replaced


def test_a_removed_environment_deletes_its_objects_and_has_no_plan(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FULL)
    staging = re.search(r"^    staging:.*?(?=^    prod:)", FULL, re.M | re.S)
    assert staging is not None
    new.write_text(FULL.replace(staging.group(0), ""))
    data = json.loads(run("diff", old, new, "--format", "json").stdout)
    assert {"field": "environments", "old": ["prod", "staging"], "new": ["prod"]} in data["changes"]
    staging = {p: t for p, t in data["manifests"].items() if p.startswith("staging/")}
    assert staging and all("+++ /dev/null" in t for t in staging.values())
    assert not any(p.startswith("prod/") for p in data["manifests"])  # prod is untouched
    assert data["rolloutPlans"] == []
    markdown = run("diff", old, new, "--format", "markdown").stdout
    assert len(markdown) <= LIMIT and "Rollout plan" not in markdown


def test_bad_specs_among_good_are_each_a_positioned_error_and_nothing_is_printed(repo):
    (repo / "models" / "churn.mlspec.yaml").write_text(MINIMAL.replace("seed: 7", "seed: x"))
    (repo / "models" / "bad.mlspec.yaml").write_text(MINIMAL.replace("name: churn", "name: bad")
                                                     .replace("    seed: 7\n", "    seed: [\n"))
    result = run("diff", "models", "--base", "HEAD", "--format", "markdown", cwd=repo)
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(re.match(r"models/churn\.mlspec\.yaml:\d+:\d+: error: ", line) for line in lines), lines
    assert any(re.match(r"models/bad\.mlspec\.yaml:\d+:\d+: error: ", line) for line in lines), lines
    assert "Traceback" not in result.stderr
    missing = run("diff", "models/nope.mlspec.yaml", "models/churn.mlspec.yaml", "--base", "HEAD", cwd=repo)
    assert missing.exit_code == 1 and "error: no such file: models/nope.mlspec.yaml" in missing.stderr


def test_diff_platform_lists_only_objects_whose_behaviour_changes(tmp_path, monkeypatch):
    import test_platform  # the platform repository of tests/cli/test_platform.py

    from mlspec.pipeline import core
    from mlspec.pipeline.resolve import Context
    from mlspec.platform import platformfile

    root = test_platform._repo(tmp_path / "scratch")
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for rel in (".mlspec/platform.yaml", "models/churn.yaml"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text((root / rel).read_text())
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    monkeypatch.chdir(repo)
    assert run("diff", "--platform", "--exit-code").exit_code == 0
    platform = repo / ".mlspec" / "platform.yaml"
    before = platformfile.read(str(platform))
    platform.write_text(platform.read_text().replace("replicas: 4", "replicas: 5"))
    after = platformfile.read(str(platform))
    result = run("diff", "--platform", "--format", "json", "--exit-code")
    assert result.exit_code == 1, result.output
    listed = json.loads(result.stdout)["models"]["churn"]
    assert "prod/churn/rollout.yaml" in listed and all(p.startswith("prod/") for p in listed)
    # the neighbour left out: the Service does not change at all (stable bytes); the lineage,
    # which records the platform's digest, is listed with the Rollout
    spec = (repo / "models" / "churn.yaml").read_bytes()
    files = [core.to_files(core.compile_document(spec, "churn.yaml", None, platformfile.with_platform(Context(), p))
                           .items, "churn.yaml") for p in (before, after)]
    assert files[0]["prod/churn/service-stable.yaml"] == files[1]["prod/churn/service-stable.yaml"]
    assert files[0]["prod/churn/configmap-lineage.yaml"] != files[1]["prod/churn/configmap-lineage.yaml"]
    assert "prod/churn/service-stable.yaml" not in listed and "prod/churn/configmap-lineage.yaml" in listed
    assert not any(p.endswith("kustomization.yaml") for p in listed)
