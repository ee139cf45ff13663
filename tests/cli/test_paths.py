"""Attacks through the file system, as a teammate who can open a pull request would
make them: symbolic links, FIFOs, `..` names, hand-written and tampered files in
the output tree, huge files, Git options smuggled in as refs. Each asserts the
refusal (a message naming the path, exit 1 or 2, no traceback) and that nothing
was written: every tree involved is hashed before and after, links included."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
LINK = "is a symbolic link; mlspec does not follow links"


def run(*args: object, cwd: Path | None = None):
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def snapshot(root: Path) -> str:
    """One hash of everything under `root`, never following a link: names, kinds,
    modes, file bytes and link targets."""
    digest = hashlib.sha256()
    for directory, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + names):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            digest.update(f"{os.path.relpath(path, root)}\0{info.st_mode:o}\0".encode())
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def refused(result, path: object, message: str = LINK, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert f"{path}:1:1: error: {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.stderr


@pytest.fixture()
def repo(tmp_path):
    """A built repository (`models/churn.mlspec.yaml` -> `deploy/`) and, beside it, a
    directory standing for the victim's home (`outside/`, with a credentials file)."""
    (tmp_path / "repo" / "models").mkdir(parents=True)
    (tmp_path / "repo" / "models" / "churn.mlspec.yaml").write_text(MINIMAL)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "credentials.yaml").write_text("aws_secret_access_key: hunter2\n")
    result = run("build", "models", "-o", "deploy", cwd=tmp_path / "repo")
    assert result.exit_code == 0, result.output
    return tmp_path / "repo"


def _build_refused(repo: Path, link: str, message: str = LINK, *args: str) -> None:
    before, outside = snapshot(repo), snapshot(repo.parent / "outside")
    result = run("build", "models", "-o", "deploy", *args, cwd=repo)
    refused(result, link, message)
    assert snapshot(repo) == before and snapshot(repo.parent / "outside") == outside


# --- finding 5: the output tree -----------------------------------------------------


def test_a_model_directory_linked_outside_is_refused_not_hard_linked_in(repo):
    """deploy/default/churn -> ~/.aws: the keep-foreign-files logic used to hard-link
    the credentials into the repository and list them in kustomization.yaml."""
    os.rename(repo / "deploy/default/churn", repo.parent / "old-churn")
    (repo / "deploy/default/churn").symlink_to(repo.parent / "outside")
    _build_refused(repo, "deploy/default/churn")
    _build_refused(repo, "deploy/default/churn", LINK, "--check")


@pytest.mark.parametrize("link", ["deploy/default", "deploy/_ledger"])
def test_an_environment_or_ledger_directory_linked_outside_is_refused(repo, link):
    os.rename(repo / link, repo.parent / "moved")
    (repo / link).symlink_to(repo.parent / "outside")
    _build_refused(repo, link)


@pytest.mark.parametrize("link", ["deploy/default/churn/rollout.yaml", "deploy/default/churn/patch.yaml",
                                  "deploy/_ledger/churn.yaml", "deploy/_ledger/other.yaml",
                                  "deploy/default/churn/.mlspec-owned"])
def test_a_file_linked_outside_anywhere_in_the_output_tree_is_refused(repo, link):
    target = repo / link
    if target.exists():
        target.unlink()
    target.symlink_to(repo.parent / "outside" / "credentials.yaml")
    _build_refused(repo, link)


def test_a_link_in_a_foreign_subdirectory_is_refused_when_the_directory_is_rewritten(repo):
    (repo / "deploy/default/churn/extra").mkdir()
    (repo / "deploy/default/churn/extra/creds").symlink_to(repo.parent / "outside" / "credentials.yaml")
    spec = repo / "models/churn.mlspec.yaml"
    spec.write_text(spec.read_text().replace("  serving:\n", "  serving:\n    replicas: 3\n"))
    _build_refused(repo, "deploy/default/churn/extra/creds")


def test_a_fifo_in_the_output_tree_is_refused(repo):
    os.mkfifo(repo / "deploy/default/churn/pipe.yaml")
    _build_refused(repo, "deploy/default/churn/pipe.yaml", "is not a regular file")


def test_gate_record_does_not_write_through_a_linked_ledger(repo, tmp_path):
    os.rename(repo / "deploy/_ledger", tmp_path / "moved")
    (repo / "deploy/_ledger").symlink_to(repo.parent / "outside")
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"f1": 0.9}))
    before, outside = snapshot(repo), snapshot(repo.parent / "outside")
    result = run("gate", "models/churn.mlspec.yaml", "--metrics", metrics, "--record", "-o", "deploy", cwd=repo)
    refused(result, "deploy/_ledger")
    assert snapshot(repo) == before and snapshot(repo.parent / "outside") == outside


def test_the_output_directory_itself_must_not_be_a_link(repo):
    (repo / "linked").symlink_to(repo.parent / "outside")
    before = snapshot(repo.parent)
    refused(run("build", "models", "-o", "linked", cwd=repo), "linked")
    assert snapshot(repo.parent) == before


# --- Low: hand-written files and a tampered .mlspec-owned ------------------------------


def test_a_hand_written_file_mlspec_would_emit_is_refused_not_overwritten(repo):
    (repo / "deploy/default/churn/rollout.yaml").write_text("# mine\nkind: Rollout\n")
    _build_refused(repo, "deploy/default/churn/rollout.yaml", "was not written by mlspec")


def test_a_hand_written_file_in_a_new_output_directory_is_refused(repo):
    (repo / "fresh/default/churn").mkdir(parents=True)
    (repo / "fresh/default/churn/service-stable.yaml").write_text("kind: Service\n")
    before = snapshot(repo)
    refused(run("build", "models", "-o", "fresh", cwd=repo), "fresh/default/churn/service-stable.yaml",
            "was not written by mlspec")
    assert snapshot(repo) == before


def test_a_tampered_owned_list_prunes_no_foreign_file(repo):
    churn = repo / "deploy/default/churn"
    (churn / "patch.yaml").write_text("kind: ConfigMap\n")
    (churn / "notes.txt").write_text("mine\n")
    with (churn / ".mlspec-owned").open("a") as owned:
        owned.write("patch.yaml\nnotes.txt\n")
    result = run("build", "models", "-o", "deploy", cwd=repo)
    assert result.exit_code == 0, result.output
    assert (churn / "patch.yaml").read_text() == "kind: ConfigMap\n" and (churn / "notes.txt").read_text() == "mine\n"
    assert "- patch.yaml" in (churn / "kustomization.yaml").read_text()  # kept, so listed
    assert "patch.yaml" not in (churn / ".mlspec-owned").read_text().splitlines()
    assert run("build", "models", "-o", "deploy", "--check", cwd=repo).exit_code == 0


def test_a_file_mlspec_wrote_and_no_longer_produces_is_still_pruned(repo):
    churn = repo / "deploy/default/churn"
    generated = (churn / "service-stable.yaml").read_text()
    (churn / "old.yaml").write_text(generated)  # what a previous build wrote, header and all
    with (churn / ".mlspec-owned").open("a") as owned:
        owned.write("old.yaml\n")
    check = run("build", "models", "-o", "deploy", "--check", cwd=repo)
    assert check.exit_code == 1 and "deploy/default/churn/old.yaml:1:1: error: unexpected" in check.stderr
    assert run("build", "models", "-o", "deploy", cwd=repo).exit_code == 0
    assert not (churn / "old.yaml").exists()


# --- finding 9: discovery ---------------------------------------------------------


def test_a_spec_named_explicitly_that_is_a_link_is_refused(repo):
    (repo / "models/linked.mlspec.yaml").symlink_to(repo / "models/churn.mlspec.yaml")
    refused(run("validate", "models/linked.mlspec.yaml", cwd=repo), "models/linked.mlspec.yaml")
    refused(run("validate", repo / "models/linked.mlspec.yaml"), repo / "models/linked.mlspec.yaml")


@pytest.mark.parametrize("link, target", [("models/x.mlspec.yaml", "../../outside/credentials.yaml"),
                                          ("models/elsewhere", "../../outside"),
                                          ("models/sub/up", "..")])
def test_a_link_found_while_walking_a_directory_is_refused(repo, link, target):
    (repo / link).parent.mkdir(exist_ok=True)
    (repo / link).symlink_to(target)
    refused(run("validate", "models", cwd=repo), link)
    refused(run("build", "models", "-o", "deploy", "--check", cwd=repo), link)


def test_a_link_on_the_way_to_a_named_spec_is_refused(repo):
    (repo / "specs").symlink_to(repo / "models")
    refused(run("validate", "specs/churn.mlspec.yaml", cwd=repo), "specs")
    refused(run("validate", "specs/*.yaml", cwd=repo), "specs")
    refused(run("validate", "specs", cwd=repo), "specs")


def test_a_globstar_over_two_links_to_dot_ends_with_an_error(repo):
    (repo / "models/a").symlink_to(".")
    (repo / "models/b").symlink_to(".")
    result = run("validate", "models/**/*.yaml", cwd=repo)
    refused(result, "models/a")


def test_globs_match_without_following_links(repo):
    (repo / "models/team/deep").mkdir(parents=True)
    (repo / "models/team/deep/fraud.mlspec.yaml").write_text(MINIMAL.replace("name: churn", "name: fraud"))
    (repo / "models/.hidden").mkdir()
    (repo / "models/.hidden/x.mlspec.yaml").write_text(MINIMAL.replace("name: churn", "name: hidden"))
    result = run("validate", "models/**/*.mlspec.yaml", cwd=repo)
    assert result.exit_code == 0 and "ok: 2 spec(s)" in result.stderr, result.output
    assert "ok: 1 spec(s)" in run("validate", "models/*/*/*.yaml", cwd=repo).stderr
    assert "ok: 1 spec(s)" in run("validate", "models/c?urn.*", cwd=repo).stderr
    refused(run("validate", "models/*/nothing-*.yaml", cwd=repo), "models/*/nothing-*.yaml", "no spec matches")


@pytest.mark.parametrize("where", ["models/pipe.yaml", "named"])
def test_a_fifo_is_refused_not_waited_on(repo, where):
    fifo = repo / "models/pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes: discovery hung
    result = run("validate", "models" if where != "named" else "models/pipe.yaml", cwd=repo)
    refused(result, "models/pipe.yaml", "is not a regular file")


def test_a_huge_spec_is_refused_after_reading_a_bounded_prefix(repo):
    big = repo / "models/big.mlspec.yaml"
    with big.open("wb") as handle:
        handle.write(MINIMAL.encode())
        handle.truncate(400 * 1024 * 1024)  # sparse: 400 MB that costs no disk
    refused(run("validate", "models/big.mlspec.yaml", cwd=repo), "models/big.mlspec.yaml", "file is larger than")


# --- Lows: init, history, rollback, diff --------------------------------------------


@pytest.mark.parametrize("command", ["history", "rollback"])
@pytest.mark.parametrize("name", ["../../outside/credentials", "churn/../x", "/etc/passwd", "Churn"])
def test_history_and_rollback_take_only_a_model_name(repo, command, name):
    before = snapshot(repo.parent)
    extra = ["--to", "1.0.0"] if command == "rollback" else []
    result = run(command, name, *extra, "-o", "deploy", cwd=repo)
    assert result.exit_code == 2 and "is not a model name" in result.stderr, result.output
    assert snapshot(repo.parent) == before


def test_history_does_not_read_a_linked_ledger_file(repo):
    ledger = repo / "deploy/_ledger/churn.yaml"
    ledger.unlink()
    ledger.symlink_to(repo.parent / "outside" / "credentials.yaml")
    refused(run("history", "churn", "-o", "deploy", cwd=repo), "deploy/_ledger/churn.yaml")


@pytest.mark.parametrize("out, shown, message", [
    ("linked/x.mlspec.yaml", "linked", LINK),
    ("../x.mlspec.yaml", "../x.mlspec.yaml", "`..` is not allowed here"),
    ("dangling.mlspec.yaml", "dangling.mlspec.yaml", "file exists; refusing to overwrite it"),
])
def test_init_does_not_write_through_links_or_dot_dot(repo, out, shown, message):
    (repo / "linked").symlink_to(repo.parent / "outside")
    (repo / "dangling.mlspec.yaml").symlink_to(repo.parent / "outside" / "new.yaml")
    before = snapshot(repo.parent)
    refused(run("init", "x", "-o", out, cwd=repo), shown, message)
    assert snapshot(repo.parent) == before


def test_init_does_not_write_the_schema_through_a_linked_mlspec_directory(repo):
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".mlspec").symlink_to(repo.parent / "outside")
    before = snapshot(repo.parent)
    refused(run("init", "x", cwd=repo / "models"), repo / ".mlspec")
    assert snapshot(repo.parent) == before


def test_diff_base_is_never_a_git_option(repo):
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    before = snapshot(repo.parent)
    for base in ("--output=../pwned", "-p"):
        result = run("diff", f"--base={base}", "models/churn.mlspec.yaml", cwd=repo)
        refused(result, "models/churn.mlspec.yaml", "--base")
    assert snapshot(repo.parent) == before and not (repo.parent / "pwned").exists()
    assert run("diff", "--base=HEAD", "models/churn.mlspec.yaml", cwd=repo).exit_code == 0


def test_root_confines_every_path_argument_of_build(repo):
    (repo / "linked").symlink_to(repo.parent / "outside")
    before = snapshot(repo.parent)
    for args, shown, message in ((["models", "-o", "../out"], "../out", "`..` is not allowed here"),
                                 (["models", "-o", "linked"], "linked", LINK),
                                 (["models", "--stdout", "--ledger", "linked"], "linked", LINK),
                                 ([repo / "models", "-o", "deploy"], repo / "models", "must be a relative path")):
        refused(run("build", "--root", ".", *args, cwd=repo), shown, message)
    assert snapshot(repo.parent) == before
    assert run("build", "--root", ".", "models", "-o", "deploy", "--check", cwd=repo).exit_code == 0
