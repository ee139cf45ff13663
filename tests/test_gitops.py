"""mlspec where GitOps runs it: drift checks, ownership and pruning, batches,
ML-aware diffs, the Argo CD plugin, pre-commit hooks and the CI workflow, each
exercised in a temporary Git repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
MLSPEC = shutil.which("mlspec")


def run(*args: object, cwd: Path | None = None):
    if cwd is None:
        return CliRunner().invoke(main, [str(a) for a in args])
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fraud.mlspec.yaml").write_text(FULL)
    (tmp_path / "models" / "churn.mlspec.yaml").write_text(MINIMAL)
    (tmp_path / "models" / "README.yaml").write_text("not: a spec\n")  # ignored by directory discovery
    git(tmp_path, "init", "-q")
    assert run("build", tmp_path / "models", "-o", tmp_path / "deploy").exit_code == 0
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "initial")
    return tmp_path


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- drift, ownership, pruning -------------------------------------------------


def test_check_is_clean_after_build_and_flags_stale_files(repo):
    assert run("build", repo / "models", "-o", repo / "deploy", "--check").exit_code == 0
    spec = repo / "models" / "fraud.mlspec.yaml"
    spec.write_text(FULL.split("    analysis:\n")[0] + FULL.split("          max: 50\n")[1])  # drop online analysis
    before = tree(repo / "deploy")
    result = run("build", repo / "models", "-o", repo / "deploy", "--check")
    assert result.exit_code == 1
    assert "prod/fraud-detector/analysistemplate-online.yaml:1:1: error: unexpected" in result.stderr
    assert "prod/fraud-detector/rollout.yaml:1:1: error: changed" in result.stderr
    assert tree(repo / "deploy") == before  # --check writes nothing


def test_rebuild_prunes_owned_files_keeps_foreign_ones_and_lists_them(repo):
    directory = repo / "deploy" / "prod" / "fraud-detector"
    (directory / "patch-hpa.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    spec = repo / "models" / "fraud.mlspec.yaml"
    spec.write_text(FULL.split("    analysis:\n")[0] + FULL.split("          max: 50\n")[1])
    assert run("build", repo / "models", "-o", repo / "deploy").exit_code == 0
    names = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    assert "analysistemplate-online.yaml" not in names and "patch-hpa.yaml" in names
    listed = yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed + ["kustomization.yaml"]) == names  # exactly what exists
    kubectl = shutil.which("kubectl")
    assert kubectl
    rendered = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True)
    assert "name: extra" in rendered.stdout
    assert run("build", repo / "models", "-o", repo / "deploy", "--check").exit_code == 0


# --- batches -------------------------------------------------------------------


def test_batch_discovers_specs_and_parallel_output_equals_serial(tmp_path):
    specs = tmp_path / "specs" / "nested"
    specs.mkdir(parents=True)
    for i in range(12):
        (specs / f"m{i}.yaml").write_text(MINIMAL.replace("name: churn", f"name: churn-{i}"))
    (specs / "values.yaml").write_text("replicas: 3\n")
    serial = run("build", tmp_path / "specs", "-o", tmp_path / "serial", "-j", "1")
    parallel = run("build", tmp_path / "specs", "-o", tmp_path / "parallel", "-j", "2")
    assert serial.exit_code == 0 and parallel.exit_code == 0
    assert "built 12 spec(s) into 25 directories" in serial.stderr  # 12 models, the ledger, 12 attestation directories
    assert tree(tmp_path / "serial") == tree(tmp_path / "parallel")
    globbed = run("validate", str(tmp_path / "specs" / "**" / "m1*.yaml"))
    assert globbed.exit_code == 0 and "ok: 3 spec(s)" in globbed.stderr  # m1, m10, m11


def test_batch_with_invalid_specs_reports_all_and_writes_nothing(tmp_path):
    for i in range(10):
        text = MINIMAL.replace("name: churn", f"name: churn-{i}")
        if i in (3, 7):
            text = text.replace("seed: 7", "seed: seven")
        (tmp_path / f"m{i}.yaml").write_text(text)
    out = tmp_path / "out"
    result = run("build", tmp_path, "-o", out, "-j", "2")
    assert result.exit_code == 1
    assert "m3.yaml:17:11: error:" in result.stderr and "m7.yaml:17:11: error:" in result.stderr
    assert not out.exists()


def test_two_specs_of_one_model_are_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)
    result = run("build", tmp_path, "-o", tmp_path / "out")
    assert result.exit_code == 1 and f"{tmp_path / 'b.yaml'}:1:1: error: model `churn` is also defined by" in result.stderr
    assert not (tmp_path / "out").exists()


def test_two_specs_of_one_name_in_disjoint_environments_would_share_a_ledger_and_are_an_error(tmp_path):
    # No output directory in common, but one ledger (and one `current` release) for both.
    (tmp_path / "a.yaml").write_text(MINIMAL + "  environments: {staging: {}}\n")
    (tmp_path / "b.yaml").write_text(MINIMAL + "  environments: {prod: {}}\n")
    result = run("build", tmp_path, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "model `churn` is also defined by" in result.stderr
    assert "layout: namespaced" in result.stderr and not (tmp_path / "out").exists()


# --- diff ------------------------------------------------------------------------


def _loosen(text: str) -> str:
    return (text.replace("{metric: auc, maxDrop: 0.005}", "{metric: auc, maxDrop: 0.02}")
                .replace("      - {metric: false_positive_rate, max: 0.02}\n", "")
                .replace("{metric: auc, min: 0.92}", "{metric: auc, min: 0.95}")
                .replace('version: "v42"', 'version: "v43"'))


def test_diff_against_head_flags_loosened_and_removed_gates(repo):
    spec = repo / "models" / "fraud.mlspec.yaml"
    spec.write_text(_loosen(FULL))
    result = run("diff", spec, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    changes = {(t["metric"], t["bound"]): (t["change"], t["warning"]) for t in data["thresholds"]}
    assert changes == {("auc", "maxDrop"): ("loosened", True), ("auc", "min"): ("tightened", False),
                       ("false_positive_rate", "max"): ("removed", True)}
    assert {"field": "training data version", "old": "v42", "new": "v43"} in data["changes"]
    assert "prod/fraud-detector/configmap-gate.yaml" in data["manifests"]
    markdown = run("diff", spec, "--format", "markdown").stdout
    assert "> [!WARNING]\n> Quality gate **loosened**: `auc maxDrop: drop <= 0.005 -> drop <= 0.02`" in markdown
    assert "```diff" in markdown
    strict = run("diff", spec, "--fail-on-loosened")
    assert strict.exit_code == 1 and "2 threshold(s) loosened or removed" in strict.stderr


def test_diff_of_two_files_and_of_a_new_spec(repo, tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FULL)
    # Every environment overrides the base's replicas: per environment, nothing changes.
    new.write_text(FULL.replace("replicas: 3", "replicas: 5"))
    assert run("diff", old, new).stdout == "mlspec diff: fraud-detector: no changes\n"
    new.write_text(FULL.replace("prod: {serving: {replicas: 6}}", "prod: {serving: {replicas: 7}}"))
    text = run("diff", old, new, "--env", "prod").stdout
    assert text.startswith("mlspec diff: fraud-detector\n  replicas: 6 -> 7\n")
    assert "-  replicas: 6\n+  replicas: 7\n" in text
    assert "  replicas (prod): 6 -> 7\n" in run("diff", old, new).stdout  # staging did not change
    fresh = repo / "models" / "new.mlspec.yaml"
    fresh.write_text(MINIMAL.replace("name: churn", "name: fresh"))
    added = json.loads(run("diff", fresh, "--format", "json").stdout)
    assert {"field": "model version", "old": None, "new": "1.0.0"} in added["changes"]
    # every manifest of a new spec is an addition; `all` over an empty dict would hold, so the files are named
    from mlspec import compile_spec

    assert sorted(added["manifests"]) == sorted(compile_spec(fresh.read_text(), fresh.name)), added["manifests"]
    assert all(text.startswith("--- /dev/null") for text in added["manifests"].values())
    assert run("diff", fresh, "--base", "no-such-ref").exit_code == 1


# --- Argo CD plugin, pre-commit, CI workflow ---------------------------------------


def _sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert MLSPEC, "the mlspec console script must be installed"
    return subprocess.run(["sh", "-c", command], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)


def test_github_actions_release_job_cuts_builds_diffs_and_commits(repo):
    # The job as written, with a training record in place of the MLflow registry
    # (tests/harness runs --from-mlflow against a real tracking server).
    steps = {s.get("name"): s for s in yaml.safe_load((ROOT / "deploy" / "github-actions" / "mlspec.yml").read_text())
             ["jobs"]["release"]["steps"]}
    env = {"MODEL": "churn", "ALIAS": "champion"}
    (repo / "out" / "model").mkdir(parents=True)
    (repo / "out" / "model" / "model.joblib").write_bytes(b"retrained")
    (repo / "out" / "record.json").write_text(json.dumps({
        "apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",
        "artifact": {"uri": "pvc://models/churn/1.1.0/model", "path": "model"}, "code": {"commit": "f" * 40},
        "data": {"version": "2026-12-01"}, "seed": 8}))
    cut = steps["Cut the release from the registry (pins, digest of the downloaded bytes, rollback.previous)"]["run"]
    mlflow = '--from-mlflow "models:/${MODEL}@${ALIAS}"'
    assert mlflow in cut
    for name, command in (("cut", cut.replace(mlflow, "--from-record out/record.json")),
                          ("build", steps["Build the manifests and record the release in the ledger"]["run"]),
                          ("diff", steps["ML-aware diff for the pull request"]["run"])):
        proc = _sh(command, repo, env)
        assert proc.returncode == 0, (name, proc.stderr)
    body = (repo / "release.md").read_text()
    assert "1.0.0" in body and "1.1.0" in body and "2026-12-01" in body
    local = [line for line in steps["Open the pull request"]["run"].splitlines() if not line.startswith(("git push", "gh "))]
    proc = _sh("\n".join(local), repo, env)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "branch", "--show-current").strip() == "release/churn-1.1.0"
    assert git(repo, "log", "-1", "--format=%s").strip() == "Release churn 1.1.0 from models:/churn@champion"
    assert "deploy/_ledger/churn.yaml" in git(repo, "show", "--name-only", "--format=")


def test_argocd_plugin_generate_command_as_written(repo):
    plugin = yaml.safe_load((ROOT / "deploy" / "argocd" / "plugin.yaml").read_text())
    assert plugin["kind"] == "ConfigManagementPlugin"
    app = repo / "app"
    app.mkdir()
    shutil.copy(repo / "models" / "fraud.mlspec.yaml", app)
    shutil.copytree(repo / "deploy" / "_ledger", app / "releases" / "_ledger")  # inside the Application
    init = plugin["spec"]["init"]
    assert _sh(init["args"][0], app, {}).returncode == 0
    generate = plugin["spec"]["generate"]
    assert generate["command"] == ["sh", "-c"]
    proc = _sh(generate["args"][0], app, {"ARGOCD_ENV_MLSPEC_ENV": "prod", "ARGOCD_ENV_MLSPEC_LEDGER": "releases"})
    assert proc.returncode == 0, proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    assert sorted(d["kind"] for d in docs) == ["AnalysisTemplate", "AnalysisTemplate", "ConfigMap", "ConfigMap",
                                               "ConfigMap", "Job", "NetworkPolicy", "NetworkPolicy",
                                               "PodDisruptionBudget", "Role", "RoleBinding", "Rollout", "Service",
                                               "Service", "ServiceAccount"]
    expected = (repo / "deploy" / "prod" / "fraud-detector" / "rollout.yaml").read_text()
    assert next(d for d in docs if d["kind"] == "Rollout") == yaml.safe_load(expected)
    missing_env = _sh(generate["args"][0], app, {})
    assert missing_env.returncode == 1 and "environment `default` is not declared" in missing_env.stderr
    assert app.glob("*.mlspec.yaml") and plugin["spec"]["discover"]["fileName"] == "*.mlspec.yaml"


def _plugin_app(repo: Path) -> tuple[dict[str, Any], Path]:
    plugin = yaml.safe_load((ROOT / "deploy" / "argocd" / "plugin.yaml").read_text())
    app = repo / "app"
    app.mkdir()
    shutil.copy(repo / "models" / "fraud.mlspec.yaml", app)
    return plugin, app


@pytest.mark.parametrize("spec, named", [
    ("../..", "../.."),                                    # the repository above the Application, and beyond
    ("../models", "../models"),
    (None, "/"),                                           # an absolute path (filled in below)
    ("--root=..", "--root=.."),                            # an option smuggled in as the spec
])
def test_argocd_plugin_confines_the_spec_to_the_application_directory(repo, spec, named):
    plugin, app = _plugin_app(repo)
    spec = spec or str(repo / "models")
    named = named if spec != str(repo / "models") else spec
    for step in (plugin["spec"]["init"], plugin["spec"]["generate"]):
        proc = _sh(step["args"][0], app, {"ARGOCD_ENV_MLSPEC_SPEC": spec, "ARGOCD_ENV_MLSPEC_ENV": "prod"})
        assert proc.returncode == 1, proc.stderr
        # A name that exists nowhere has no position (`error: no such file: NAME`); the others are refused at 1:1.
        assert proc.stderr.startswith((f"{named}:1:1: error: ", f"error: no such file: {named}")) and proc.stdout == ""
        assert "Traceback" not in proc.stderr


def test_argocd_plugin_refuses_a_ledger_outside_the_application_or_behind_a_link(repo):
    plugin, app = _plugin_app(repo)
    generate = plugin["spec"]["generate"]["args"][0]
    env = {"ARGOCD_ENV_MLSPEC_ENV": "prod", "ARGOCD_ENV_MLSPEC_SPEC": "fraud.mlspec.yaml"}  # no walk over the links
    (app / "releases").symlink_to(repo / "deploy")
    (app / "inside").mkdir()
    (app / "inside" / "_ledger").symlink_to(repo / "deploy" / "_ledger")
    cases = {"releases": "releases:1:1: error: is a symbolic link",
             "inside": "inside/_ledger:1:1: error: is a symbolic link",
             "../deploy": "../deploy:1:1: error: `..` is not allowed",
             str(repo / "deploy"): f"{repo / 'deploy'}:1:1: error: must be a relative path"}
    for ledger_dir, message in cases.items():
        proc = _sh(generate, app, {**env, "ARGOCD_ENV_MLSPEC_LEDGER": ledger_dir})
        assert proc.returncode == 1 and proc.stdout == "", (ledger_dir, proc.stderr)
        assert proc.stderr.startswith(message), (ledger_dir, proc.stderr)
    (app / "real").mkdir()
    shutil.copytree(repo / "deploy" / "_ledger", app / "real" / "_ledger")
    assert _sh(generate, app, {**env, "ARGOCD_ENV_MLSPEC_LEDGER": "real"}).returncode == 0


def test_pre_commit_hooks_as_written(repo):
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    validate, check = hooks["mlspec-validate"], hooks["mlspec-check"]
    specs = [str(p.relative_to(repo)) for p in sorted(repo.rglob("*")) if re.search(validate["files"], p.name)]
    assert specs == ["models/churn.mlspec.yaml", "models/fraud.mlspec.yaml"]
    assert _sh(" ".join([validate["entry"], *specs]), repo, {}).returncode == 0
    assert not check["pass_filenames"]
    assert _sh(" ".join([check["entry"], *check["args"]]), repo, {}).returncode == 0
    (repo / "models" / "fraud.mlspec.yaml").write_text(FULL.replace("replicas: 3", "replicas: 4"))
    stale = _sh(" ".join([check["entry"], *check["args"]]), repo, {})
    assert stale.returncode == 1 and "changed" in stale.stderr


def test_github_actions_workflow_commands(repo):
    workflow = yaml.safe_load((ROOT / "deploy" / "github-actions" / "mlspec.yml").read_text())
    steps = workflow["jobs"]["mlspec"]["steps"]
    runs = [s["run"] for s in steps if "run" in s and s["run"].startswith("mlspec ")]
    assert len(runs) == 2
    for command in runs:
        proc = _sh(command, repo, {})
        assert proc.returncode == 0, (command, proc.stderr)
    git(repo, "branch", "base")
    (repo / "models" / "fraud.mlspec.yaml").write_text(_loosen(FULL))
    git(repo, "commit", "-qam", "loosen")
    git(repo, "update-ref", "refs/remotes/origin/base", "base")
    loop = next(s["run"] for s in steps if s.get("name") == "ML-aware diff")
    proc = subprocess.run(["bash", "-e", "-c", loop], cwd=repo, env={**os.environ, "GITHUB_BASE_REF": "base"},
                          capture_output=True, text=True)  # the step's `shell: bash`
    assert proc.returncode == 0, proc.stderr
    assert "Quality gate **removed**" in (repo / "diff.md").read_text()
    (repo / "models" / "churn.mlspec.yaml").write_text(MINIMAL.replace("seed: 7", "seed: x"))
    bad = _sh(runs[0], repo, {})
    assert bad.returncode == 1 and bad.stdout.startswith("::error file=models/churn.mlspec.yaml,line=17,col=11::")
