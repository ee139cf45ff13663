"""The namespaced layout under attack: one model's build or rollback must never rewrite,
prune or nest into another model's output directory, whatever the batch and whatever
the ledger a pull request planted."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.cli.test_layout import NAMESPACED, _next_version, _repo, _spec, _tree
from tests.cli.test_platform import PLATFORM, run


def _released_twice(root: Path, platform: str, name: str, namespace: str | None, staging: str | None = None) -> Path:
    """A repository where `name` (in `namespace`) has released 1.0.0 then 1.1.0; `staging`:
    where 1.0.0's staging environment landed (1.1.0 lands in the usual `<namespace>-staging`)."""
    spec = _spec(name, namespace)
    if staging is not None:
        spec = spec.replace(f"{{namespace: {namespace}-staging}}", f"{{namespace: {staging}}}")
    repo = _repo(root, platform, {"a.yaml": spec})
    built = run("build", repo / "models", "-o", repo / "deploy")
    assert built.exit_code == 0, built.output
    _next_version(repo / "models" / "a.yaml")
    (repo / "models" / "a.yaml").write_text((repo / "models" / "a.yaml").read_text().replace(
        "s3://models/fraud/1.0.0", f"s3://models/{name}/1.0.0"))
    if staging is not None:
        (repo / "models" / "a.yaml").write_text((repo / "models" / "a.yaml").read_text().replace(
            f"{{namespace: {staging}}}", f"{{namespace: {namespace}-staging}}"))
        shutil.rmtree(repo / "deploy" / "staging" / staging)  # moved: the old directory removed with it
    built = run("build", repo / "models", "-o", repo / "deploy")
    assert built.exit_code == 0, built.output
    return repo


def test_a_rollback_to_a_release_that_landed_where_another_model_lives_now_stays_where_the_model_lives(
        tmp_path, monkeypatch):
    # risk/fraud 1.0.0 ran its staging in `shared`; 1.1.0 moved to risk-staging, and payments/fraud took `shared`.
    # A rollback restores 1.0.0's pins, not its environments: both paths write risk-staging, never `shared`.
    repo = _released_twice(tmp_path / "repo", NAMESPACED, "fraud", "risk", staging="shared")
    (repo / "models" / "b.yaml").write_text(_spec("fraud", "payments").replace("payments-staging", "shared"))
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    shared = _tree(repo / "deploy" / "staging" / "shared")
    for extra in (["--no-spec"], []):
        result = run("rollback", "risk/fraud", "--to", "1.0.0", "-o", "deploy", *extra)
        assert result.exit_code == 0, result.output
        assert _tree(repo / "deploy" / "staging" / "shared") == shared  # payments/fraud's manifests untouched
        assert (repo / "deploy" / "staging" / "risk-staging" / "fraud" / "rollout.yaml").is_file()


def test_building_one_spec_alone_never_overwrites_another_models_directory(tmp_path, monkeypatch):
    # The batch refuses two models landing in one directory; a build of one spec alone has no batch to compare with.
    risk = _spec("fraud", "risk").replace("{namespace: risk-staging}", "{namespace: payments-staging}")
    repo = _repo(tmp_path / "repo", NAMESPACED, {"a.yaml": risk, "b.yaml": _spec("fraud", "payments")})
    monkeypatch.chdir(repo)
    assert run("build", "models/b.yaml", "-o", "deploy").exit_code == 0
    before = _tree(repo / "deploy")
    result = run("build", "models/a.yaml", "-o", "deploy")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("deploy/staging/payments-staging/fraud:1:1: error: holds the manifests of model payments/fraud, not of "
            "risk/fraud" in result.stderr)
    assert _tree(repo / "deploy") == before
    check = run("build", "models/a.yaml", "-o", "deploy", "--check")
    assert check.exit_code == 1 and "holds the manifests of model payments/fraud" in check.stderr


def test_the_owner_of_a_namespaced_directory_is_recorded_and_a_flat_one_is_unchanged(tmp_path):
    namespaced = _repo(tmp_path / "n", NAMESPACED, {"a.yaml": _spec("fraud", "risk")})
    flat = _repo(tmp_path / "f", PLATFORM, {"a.yaml": _spec("fraud", "risk")})
    for repo in (namespaced, flat):
        assert run("build", repo / "models", "-o", repo / "deploy").exit_code == 0
    owned = (namespaced / "deploy" / "prod" / "risk" / "fraud" / ".mlspec-owned").read_text().splitlines()
    assert owned[0] == "# model: risk/fraud" and "rollout.yaml" in owned
    assert not any(line.startswith("#") for line in (flat / "deploy" / "prod" / "fraud" / ".mlspec-owned")
                   .read_text().splitlines())  # a flat directory's name is its model: nothing to record


def test_a_rollback_from_a_ledger_of_the_other_layout_never_writes_into_a_models_directory(tmp_path, monkeypatch):
    # A flat repository where the model `risk` lives in deploy/<env>/risk/; a pull request plants a namespaced
    # ledger risk/fraud, whose rollback would write deploy/<env>/risk/fraud/ inside it.
    elsewhere = _released_twice(tmp_path / "other", NAMESPACED, "fraud", "risk")
    repo = _repo(tmp_path / "repo", PLATFORM, {"risk.yaml": _spec("risk", "x")})
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    shutil.copytree(elsewhere / "deploy" / "_ledger" / "risk", repo / "deploy" / "_ledger" / "risk")
    before = _tree(repo / "deploy")
    result = run("rollback", "risk/fraud", "--to", "1.0.0", "-o", "deploy")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "deploy/prod/risk:1:1: error: is the output directory of a model" in result.stderr
    assert _tree(repo / "deploy") == before

    # and the other way round: a flat ledger `risk` planted in a namespaced repository whose namespace `risk`
    # holds deploy/<env>/risk/fraud/: its rollback would make deploy/<env>/risk/ a model's directory around it.
    flat = _released_twice(tmp_path / "flat", PLATFORM, "risk", "x")
    shutil.copy(flat / "deploy" / "_ledger" / "risk.yaml", elsewhere / "deploy" / "_ledger" / "risk.yaml")
    before = _tree(elsewhere / "deploy")
    result = run("rollback", "risk", "--to", "1.0.0", "-o", elsewhere / "deploy")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "holds the output directory of a model" in result.stderr
    assert _tree(elsewhere / "deploy") == before


def test_a_ledger_entry_whose_recorded_metadata_is_not_a_mapping_is_positioned_not_an_internal_error(tmp_path,
                                                                                                  monkeypatch):
    repo = _repo(tmp_path / "repo", NAMESPACED, {"a.yaml": _spec("fraud", "risk")})
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    path = repo / "deploy" / "_ledger" / "risk" / "fraud.yaml"
    text = path.read_text()
    assert text.count("    metadata:\n") == 1
    path.write_text(text.replace("    metadata:\n", "    metadata: risk\n    original:\n"))  # what the seal covers too
    line = path.read_text().splitlines().index("    metadata: risk") + 1
    for command in (("history", "risk/fraud", "-o", "deploy"), ("build", "models", "-o", "deploy")):
        result = run(*command)
        assert result.exit_code == 1, result.output
        assert (f"deploy/_ledger/risk/fraud.yaml:{line}:5: error: the ledger is damaged: "
                "`releases[0].spec.metadata` is string \"risk\", expected a mapping" in result.stderr)


def test_diff_sees_a_namespaces_only_ledger_removed_with_its_directory(tmp_path, monkeypatch):
    # Git removes a directory with its last file: in the namespaced layout that is a namespace's only ledger.
    repo = _repo(tmp_path / "repo", NAMESPACED, {"a.yaml": _spec("fraud", "risk"), "b.yaml": _spec("fraud", "payments")})
    shutil.rmtree(repo / ".git")
    monkeypatch.chdir(repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], check=True)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    (repo / "m.json").write_text('{"f1": 0.9}')
    assert run("gate", "models/a.yaml", "--metrics", "m.json", "--record", "-o", "deploy").exit_code == 0
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "recorded"], check=True)
    subprocess.run(["git", "rm", "-q", "deploy/_ledger/risk/fraud.yaml"], check=True)
    assert not (repo / "deploy" / "_ledger" / "risk").exists()
    result = run("diff", "models/a.yaml", "--fail-on-loosened")
    assert result.exit_code == 1, result.output
    assert "recorded metric `f1` of release 1.0.0 (history rewritten) changed in the ledger: 0.9 -> (none)" in result.stdout
    assert run("diff", "models/b.yaml", "--fail-on-loosened").exit_code == 0  # the other namespace's is unchanged


def test_rollback_of_a_bare_name_lists_the_namespace_slash_names_recorded_as_history_does(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo", NAMESPACED, {"a.yaml": _spec("fraud", "risk"), "b.yaml": _spec("fraud", "payments")})
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "deploy").exit_code == 0
    before = _tree(repo / "deploy")
    for command in ("history", "rollback"):
        result = run(command, "fraud", *(["--to", "1.0.0"] if command == "rollback" else []), "-o", "deploy")
        assert result.exit_code == 1, result.output
        assert "models named fraud are recorded as payments/fraud, risk/fraud" in result.stderr, command
    assert _tree(repo / "deploy") == before


def test_renaming_a_models_namespace_while_its_objects_stay_put_cannot_start_a_fresh_history(tmp_path, monkeypatch):
    # A new `metadata.namespace` is a new key, so a new (empty) ledger: with every environment still landing where
    # it did, the same objects would be rebuilt without their recorded releases (immutability, baselines, previous).
    repo = _released_twice(tmp_path / "repo", NAMESPACED, "fraud", "risk")
    monkeypatch.chdir(repo)
    spec = repo / "models" / "a.yaml"
    spec.write_text(spec.read_text().replace("  namespace: risk\n", "  namespace: risk2\n")
                    .replace("    prod: {}", "    prod: {namespace: risk}"))
    before = _tree(repo / "deploy")
    result = run("build", "models", "-o", "deploy")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "holds the manifests of model risk/fraud, not of risk2/fraud" in result.stderr
    assert _tree(repo / "deploy") == before


def test_a_process_pool_batch_refuses_another_models_directory_and_writes_nothing(tmp_path, monkeypatch):
    # >= 8 specs with -j 2: every spec is staged in a worker, so the refusal must come back from one.
    owners = {f"{name}-{ns}.yaml": (name, ns) for name in ("fraud", "churn") for ns in ("risk", "payments", "t1", "t2")}
    repo = _repo(tmp_path / "repo", NAMESPACED, {f: _spec(*key) for f, key in owners.items()})
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "deploy", "-j", "2").exit_code == 0
    for name, ns in owners.values():
        assert (repo / "deploy" / "prod" / ns / name / ".mlspec-owned").read_text().startswith(f"# model: {ns}/{name}\n")
    (repo / "models" / "fraud-payments.yaml").unlink()  # not in this batch: only its directory speaks for it
    (repo / "models" / "fraud-evil.yaml").write_text(_spec("fraud", "evil").replace("evil-staging", "payments-staging"))
    before = _tree(repo / "deploy")
    result = run("build", "models", "-o", "deploy", "-j", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("deploy/staging/payments-staging/fraud:1:1: error: holds the manifests of model payments/fraud, not of "
            "evil/fraud" in result.stderr)
    assert _tree(repo / "deploy") == before
    assert not [p for p in (repo / "deploy").rglob(".*mlspec-*") if p.is_dir()]  # no stage left behind
