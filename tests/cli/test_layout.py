"""The platform file's `layout`: models of one name in different namespaces (a monorepo)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.test_placeholders import real_pins
from tests.cli.test_platform import PLATFORM, SPEC, run

NAMESPACED = PLATFORM.replace("spec:\n", "spec:\n  layout: namespaced\n", 1)


def _spec(name: str, namespace: str | None, version: str = "1.0.0") -> str:
    text = SPEC.replace("NAME", name).replace('version: "1.0.0"', f'version: "{version}"')
    if namespace is None:
        return text
    # prod lands in the model's namespace, staging in its own (two environments never share one)
    return (text.replace("  owner: team-a\n", f"  owner: team-a\n  namespace: {namespace}\n")
            .replace("    staging: {}", f"    staging: {{namespace: {namespace}-staging}}"))


def _repo(root: Path, platform: str, specs: dict[str, str]) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".mlspec").mkdir()
    (root / ".mlspec" / "platform.yaml").write_text(platform)
    (root / "models").mkdir()
    for file, text in specs.items():
        (root / "models" / file).write_text(text)
    return root


@pytest.fixture
def monorepo(tmp_path, monkeypatch) -> Path:
    root = _repo(tmp_path / "repo", NAMESPACED, {"risk-fraud.yaml": _spec("fraud", "risk"),
                                                   "payments-fraud.yaml": _spec("fraud", "payments")})
    monkeypatch.chdir(root)
    return root


def _tree(root: Path) -> dict[str, str]:
    """Every file below `root` with its content's hash (hidden files too)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_namespaced_layout_builds_two_models_of_one_name_each_into_its_namespace(monorepo):
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 0, result.output
    deploy = monorepo / "deploy"
    for namespace in ("risk", "payments"):
        for env, landed in (("prod", namespace), ("staging", f"{namespace}-staging")):
            directory = deploy / env / landed / "fraud"
            rollout = _load(directory / "rollout.yaml")
            assert rollout["metadata"]["namespace"] == landed  # the directory is where the objects land
            assert rollout["metadata"]["name"] == "fraud"
            rendered = subprocess.run([shutil.which("kubectl") or "kubectl", "kustomize", str(directory)],
                                      capture_output=True, text=True, check=True)
            assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(rendered.stdout)} == {landed}
        ledger = _load(deploy / "_ledger" / namespace / "fraud.yaml")
        assert (ledger["model"], ledger["namespace"], ledger["current"]) == ("fraud", namespace, "1.0.0")
        assert ledger["releases"][0]["spec"]["metadata"]["namespace"] == namespace
    assert not (deploy / "prod" / "fraud").exists() and not (deploy / "_ledger" / "fraud.yaml").exists()
    assert sorted(p.name for p in (deploy / "prod").iterdir()) == ["payments", "risk"]
    assert run("build", "models", "-o", "deploy", "--check").exit_code == 0


def _refused(tmp_path: Path, monkeypatch, platform: str, specs: dict[str, str]) -> str:
    """The errors of building `specs` under `platform`: exit 1, nothing written."""
    root = _repo(tmp_path / "repo", platform, specs)
    monkeypatch.chdir(root)
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (root / "deploy").exists()
    return result.stderr


def test_the_flat_default_refuses_two_models_of_one_name_and_points_to_the_namespaced_layout(tmp_path, monkeypatch):
    stderr = _refused(tmp_path, monkeypatch, PLATFORM, {"a.yaml": _spec("fraud", "risk"),
                                                        "b.yaml": _spec("fraud", "payments")})
    assert "models/b.yaml:1:1: error: model `fraud` is also defined by models/a.yaml" in stderr
    assert "layout: namespaced" in stderr


def test_the_flat_default_layout_is_unchanged(tmp_path, monkeypatch):
    root = _repo(tmp_path / "repo", PLATFORM, {"a.yaml": _spec("fraud", "risk")})
    monkeypatch.chdir(root)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    assert (root / "deploy" / "prod" / "fraud" / "rollout.yaml").is_file()
    ledger = _load(root / "deploy" / "_ledger" / "fraud.yaml")
    assert ledger["model"] == "fraud" and "namespace" not in ledger


def test_namespaced_layout_needs_the_specs_namespace_at_its_name_citing_the_platform_line(tmp_path, monkeypatch):
    stderr = _refused(tmp_path, monkeypatch, NAMESPACED, {"a.yaml": _spec("fraud", None)})
    assert "models/a.yaml:4:3: error: `metadata.namespace` is required" in stderr
    assert ".mlspec/platform.yaml:4:11" in stderr  # where `layout: namespaced` stands


def test_two_specs_of_one_model_in_one_namespace_are_refused(tmp_path, monkeypatch):
    stderr = _refused(tmp_path, monkeypatch, NAMESPACED, {"a.yaml": _spec("fraud", "risk"),
                                                          "b.yaml": _spec("fraud", "risk")})
    assert "models/b.yaml:1:1: error: model `risk/fraud` is also defined by models/a.yaml" in stderr


def test_two_models_whose_environment_lands_in_one_namespace_collide_there(tmp_path, monkeypatch):
    shared = _spec("fraud", "payments").replace("{namespace: payments-staging}", "{namespace: risk-staging}")
    stderr = _refused(tmp_path, monkeypatch, NAMESPACED, {"a.yaml": _spec("fraud", "risk"), "b.yaml": shared})
    assert "models/b.yaml:1:1: error: `staging/risk-staging/fraud` is also built by models/a.yaml" in stderr


def test_building_one_model_keeps_the_other_namespaces_ledger_and_prunes_nothing_there(monorepo):
    assert run("build", "models", "-o", "deploy").exit_code == 0
    before = _tree(monorepo / "deploy" / "_ledger")
    _next_version(monorepo / "models" / "risk-fraud.yaml")
    result = run("build", "models/risk-fraud.yaml", "-o", "deploy")
    assert result.exit_code == 0, result.output
    after = _tree(monorepo / "deploy" / "_ledger")
    assert after["payments/fraud.yaml"] == before["payments/fraud.yaml"]
    assert after["risk/fraud.yaml"] != before["risk/fraud.yaml"]
    assert sorted(after) == ["payments/fraud.yaml", "risk/fraud.yaml"]  # no `.mlspec-owned` in a ledger directory


def _next_version(spec: Path) -> None:
    """Release 1.1.0 of the spec by hand, naming 1.0.0 (as recorded) as the previous release."""
    spec.write_text(spec.read_text().replace("seed: 7", "seed: 8").replace('"1.0.0"', '"1.1.0"')
                    .replace("  rollout:\n", '  rollback:\n    previous: {version: "1.0.0", artifact: {uri: '
                             f'"s3://models/fraud/1.0.0/model.joblib", digest: "sha256:{"a" * 64}"}}, dataVersion: '
                             '"2026-11-01"}\n  rollout:\n', 1))


def test_history_rollback_and_gate_address_a_model_as_namespace_slash_name(monorepo):
    assert run("build", "models", "-o", "deploy").exit_code == 0
    spec = monorepo / "models" / "risk-fraud.yaml"
    _next_version(spec)
    assert run("build", "models", "-o", "deploy").exit_code == 0, "the namespaced ledger reconciles the previous"
    metrics = monorepo / "m.json"
    metrics.write_text(json.dumps({"f1": 0.9}))
    assert run("gate", spec, "--metrics", metrics, "--record", "-o", "deploy").exit_code == 0
    assert _load(monorepo / "deploy" / "_ledger" / "risk" / "fraud.yaml")["releases"][1]["metrics"] == {"f1": 0.9}

    history = run("history", "risk/fraud", "-o", "deploy", "--format", "json")
    assert history.exit_code == 0, history.output
    assert [r["version"] for r in json.loads(history.stdout)] == ["1.0.0", "1.1.0"]
    assert [r["version"] for r in json.loads(run("history", "payments/fraud", "-o", "deploy", "--format",
                                                 "json").stdout)] == ["1.0.0"]
    bare = run("history", "fraud", "-o", "deploy")
    assert bare.exit_code == 1 and "payments/fraud, risk/fraud" in bare.stderr and "NAMESPACE/NAME" in bare.stderr

    payments = _tree(monorepo / "deploy" / "prod" / "payments")
    result = run("rollback", "risk/fraud", "--to", "1.0.0", "-o", "deploy")  # finds risk/fraud's spec, not payments'
    assert result.exit_code == 0, result.output
    assert _load(spec)["spec"]["model"]["version"] == "1.0.0"
    assert _load(monorepo / "models" / "payments-fraud.yaml")["spec"]["model"]["version"] == "1.0.0"
    rolled = _load(monorepo / "deploy" / "prod" / "risk" / "fraud" / "rollout.yaml")
    assert rolled["metadata"]["labels"]["app.kubernetes.io/version"] == "1.0.0"
    lineage = _load(monorepo / "deploy" / "prod" / "risk" / "fraud" / "configmap-lineage.yaml")["data"]["lineage.json"]
    assert json.loads(lineage)["rollback"] == {"sequence": 3, "to": "1.0.0", "from": "1.1.0"}
    assert run("build", "models", "-o", "deploy", "--check").exit_code == 0
    assert _tree(monorepo / "deploy" / "prod" / "payments") == payments  # the other model is untouched
    assert _load(monorepo / "deploy" / "_ledger" / "risk" / "fraud.yaml")["current"] == "1.0.0"


@pytest.mark.parametrize("name", ["../x", "a/b/c", "Risk/fraud", "risk/", "/fraud", "risk//fraud"])
def test_a_name_that_is_not_name_or_namespace_slash_name_is_a_usage_error(monorepo, name):
    result = run("history", name, "-o", "deploy")
    assert result.exit_code == 2 and "is not a model name" in result.output


def test_switching_to_the_namespaced_layout_refuses_until_the_ledger_is_moved(tmp_path, monkeypatch):
    root = _repo(tmp_path / "repo", PLATFORM, {"a.yaml": _spec("fraud", "risk")})
    monkeypatch.chdir(root)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    (root / ".mlspec" / "platform.yaml").write_text(NAMESPACED)
    before = _tree(root / "deploy")
    before_ledger = (root / "deploy" / "_ledger" / "fraud.yaml").read_text()
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 1
    assert "deploy/_ledger/fraud.yaml:1:1: error: no ledger of risk/fraud at _ledger/risk/fraud.yaml" in result.stderr
    assert "git mv" in result.stderr
    assert _tree(root / "deploy") == before  # nothing written

    # docs/platform.md's migration, run as written (a real Git repository: it uses `git mv`).
    shutil.rmtree(root / ".git")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "-A"], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "flat"], cwd=root, check=True)
    readme = (Path(__file__).parents[2] / "docs" / "platform.md").read_text()
    steps = readme.split("**Switching a repository to `namespaced`**")[1].split("```sh\n")[1].split("```")[0]
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", steps], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                       os.environ["PATH"]])})
    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load(before_ledger)
    migrated = _load(root / "deploy" / "_ledger" / "risk" / "fraud.yaml")
    assert (migrated["namespace"], migrated["releases"]) == ("risk", recorded["releases"])  # the same history
    assert not (root / "deploy" / "prod" / "fraud").exists() and (root / "deploy" / "prod" / "risk" / "fraud").is_dir()
    assert run("build", "models", "-o", "deploy", "--check").exit_code == 0


def test_a_ledger_copied_into_another_namespace_is_refused(monorepo):
    assert run("build", "models", "-o", "deploy").exit_code == 0
    ledgers = monorepo / "deploy" / "_ledger"
    (ledgers / "risk" / "fraud.yaml").write_text((ledgers / "payments" / "fraud.yaml").read_text())
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 1
    assert "deploy/_ledger/risk/fraud.yaml:5:1: error: the ledger is damaged: it is the ledger of a model in " \
           "namespace 'payments', not 'risk'" in result.stderr
    # the namespace line fixed by hand: the entries still record the other namespace's model
    (ledgers / "risk" / "fraud.yaml").write_text((ledgers / "payments" / "fraud.yaml").read_text()
                                                 .replace("namespace: payments\ncurrent", "namespace: risk\ncurrent"))
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 1 and "records a model in namespace 'payments', not 'risk'" in result.stderr


def test_a_link_where_a_namespaces_ledger_directory_would_be_is_refused(monorepo, tmp_path):
    assert run("build", "models", "-o", "deploy").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(monorepo / "deploy" / "_ledger" / "risk", elsewhere)
    shutil.rmtree(monorepo / "deploy" / "_ledger" / "risk")
    (monorepo / "deploy" / "_ledger" / "risk").symlink_to(elsewhere)
    result = run("history", "risk/fraud", "-o", "deploy")
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    rollback = run("rollback", "payments/fraud", "--to", "1.0.0", "-o", "deploy")
    assert rollback.exit_code == 1 and "deploy/_ledger/risk: error:" in rollback.stderr.replace(":1:1", "")


def test_release_is_reconciled_with_the_namespaced_ledger(monorepo):
    assert run("build", "models", "-o", "deploy").exit_code == 0
    spec = monorepo / "models" / "payments-fraud.yaml"
    result = run("release", spec, "--version", "1.1.0", "--artifact", "s3://models/fraud/2/model.joblib",
                 "--digest-of", spec, "--data-version", "2026-12-01", "--commit", "b" * 40, "--seed", "9")
    assert result.exit_code == 0, result.output
    assert f"checked against the ledger under {monorepo / 'deploy'}" in result.stderr
    released = yaml.safe_load(spec.read_text())["spec"]
    assert released["model"]["version"] == "1.1.0" and released["rollback"]["previous"]["version"] == "1.0.0"


def test_init_in_a_namespaced_repository_scaffolds_a_namespace_and_the_scaffold_builds(monorepo):
    (monorepo / ".mlspec" / "platform.yaml").write_text(
        "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  layout: namespaced\n"
        "  defaults: {serving: {replicas: 3}}\n")
    result = run("init", "churn", "-o", "models/churn.yaml")
    assert result.exit_code == 0, result.output
    text = (monorepo / "models" / "churn.yaml").read_text()
    metadata = yaml.safe_load(text)["metadata"]
    assert metadata["namespace"] == "churn" and metadata["name"] == "churn"
    assert "  replicas: 2" not in text  # what the platform provides, the scaffold still omits
    (monorepo / "models" / "churn.yaml").write_text(real_pins(text, monorepo))  # its placeholders never build
    built = run("build", "models/churn.yaml", "-o", "deploy")
    assert built.exit_code == 0, built.output
    assert (monorepo / "deploy" / "default" / "churn" / "churn" / "rollout.yaml").is_file()
    assert (monorepo / "deploy" / "_ledger" / "churn" / "churn.yaml").is_file()
