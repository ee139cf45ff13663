"""An entry without its seal is not trusted: removing an entry's `digest` made a hand edit
of its metrics look like an entry an earlier mlspec wrote, which the next `build` or
`gate --record` then sealed as genuine. Every reader that uses an entry refuses it at the
entry, until `mlspec ledger migrate` seals it on purpose; and the ledger directory itself
cannot be replaced by a file or a link that reads as "no history"."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from test_ledger_integrity import METRICS, GitRepo, run
from test_reconcile import FULL, tree

from mlspec.records import ledger


@pytest.fixture()
def repo(tmp_path) -> GitRepo:
    r = GitRepo(tmp_path)
    r.release_a()
    return r


def strip_seal(repo: GitRepo, version: str, auc: float | None = None) -> tuple[int, int]:
    """Remove the entry's digest (and nudge a metric, as a forger would); where it starts."""
    data = yaml.safe_load(repo.ledger.read_text())
    for entry in data["releases"]:
        if entry["version"] == version:
            del entry["digest"]
            if auc is not None:
                entry["metrics"]["auc"] = auc
    text = ledger.dump(ledger.Ledger(data["model"], data["current"], data["releases"]))
    repo.ledger.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("- version:") and version in t)
    return line, 3  # the entry's mapping, after `- `


FORGED = 0.99  # lets a 0.03 drop of the next release pass maxDrop: 0.005


def test_a_forged_unsealed_entry_is_refused_by_every_reader_and_nothing_is_written(repo):
    line, col = strip_seal(repo, "2026.10.1", auc=FORGED)
    at = f"{repo.ledger}:{line}:{col}: error: the entry of release '2026.10.1' has no `digest`"
    metrics = repo.root / "metrics.json"
    metrics.write_text(json.dumps(METRICS))
    repo.spec.write_text(FULL)  # the next release: its baseline is the forged entry
    before = tree(repo.out)
    for args in (["build", repo.spec, "-o", repo.out], ["build", repo.spec, "-o", repo.out, "--check"],
                 ["build", repo.spec, "--stdout", "--env", "prod", "--ledger", repo.out],
                 ["gate", repo.spec, "--metrics", metrics, "--record", "-o", repo.out],
                 ["gate", repo.spec, "--metrics", metrics, "-o", repo.out],
                 ["rollback", "fraud-detector", "--to", "2026.10.1", "-o", repo.out]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert at in result.stderr and "mlspec ledger migrate" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output and result.stdout == "" and tree(repo.out) == before
    assert "digest" not in yaml.safe_load(repo.ledger.read_text())["releases"][0]  # nobody sealed it


def test_ledger_migrate_seals_on_purpose_listing_what_it_vouches_for(repo):
    strip_seal(repo, "2026.10.1")
    listed = run("ledger", "migrate", "-o", repo.out, "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith("fraud-detector 2026.10.1: gate passed, metrics auc=0.95, false_positive_rate=0.01\n"
                                    "  pins artifact.uri: s3://acme-models/fraud-detector/2026.10.1/model.joblib\n")
    assert "would seal 1 entry in 1 ledger(s)" in listed.stderr
    assert "digest" not in yaml.safe_load(repo.ledger.read_text())["releases"][0]  # a dry run writes nothing
    sealed = run("ledger", "migrate", "fraud-detector", "-o", repo.out)
    assert sealed.exit_code == 0 and "sealed 1 entry in 1 ledger(s)" in sealed.stderr, sealed.output
    (entry,) = ledger.load(repo.out, "fraud-detector").releases
    assert entry["digest"] == ledger.entry_digest(entry) and entry["metrics"] == METRICS
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0
    again = run("ledger", "migrate", "-o", repo.out)
    assert again.exit_code == 0 and again.stdout == "" and "nothing to seal" in again.stderr


def test_ledger_migrate_never_reseals_an_edited_sealed_entry(repo):
    data = yaml.safe_load(repo.ledger.read_text())
    data["releases"][0]["metrics"]["auc"] = FORGED  # the digest stays: it no longer matches
    repo.ledger.write_text(yaml.safe_dump(data, sort_keys=False))
    before = tree(repo.out)
    result = run("ledger", "migrate", "-o", repo.out)
    assert result.exit_code == 1 and "does not match its digest" in result.stderr, result.output
    assert tree(repo.out) == before


def test_ledger_migrate_of_a_model_without_a_ledger_is_refused(repo):
    result = run("ledger", "migrate", "churn", "-o", repo.out)
    assert result.exit_code == 1
    assert f"{repo.out / ledger.relpath('churn')}:1:1: error: no releases of churn recorded" in result.stderr


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_file_or_link_in_place_of_the_ledger_directory_is_refused_not_read_as_no_history(repo, kind):
    target = repo.root / "elsewhere"
    os.rename(repo.out / ledger.LEDGER_DIR, target)
    if kind == "file":
        (repo.out / ledger.LEDGER_DIR).write_text("not a directory\n")
    else:
        os.symlink(target, repo.out / ledger.LEDGER_DIR)
    before = tree(repo.root)
    message = "is not a directory" if kind == "file" else "is a symbolic link"
    for args in (["rollback", "fraud-detector", "--to", "2026.10.1", "-o", repo.out],
                 ["history", "fraud-detector", "-o", repo.out], ["ledger", "migrate", "-o", repo.out],
                 ["build", repo.spec, "-o", repo.out]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"{repo.out / ledger.LEDGER_DIR}:1:1: error: {message}" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output and tree(repo.root) == before
    with pytest.raises(Exception) as info:
        ledger.load_all(repo.out)
    assert message in str(info.value)
