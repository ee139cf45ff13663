"""Ledger history is append-only under review (issue 27, "Measured"): each attack a
teammate with pull-request rights made on the landed code, and beside it the honest
change it must not be confused with (an untouched older entry, an honest new release).

The seals are checksums anyone can recompute: they stop accidents (a hand edit that
forgot the seal, `current` changed locally). What stops people is `diff --base`, which
reports every rewrite of an entry that existed at the base as *history rewritten*."""

from __future__ import annotations

import json

import pytest
import yaml
from test_ledger_integrity import METRICS, GitRepo, run
from test_reconcile import FULL, tree

from mlspec.records import ledger

B_ARTIFACT = "s3://acme-models/fraud-detector/2026.11.3/model.joblib"
B_DIGEST = "sha256:2256f9ef1ae0295c618e35848c3ec45dbfe05851c00d6325d8677b1f1055572e"
C_DIGEST = "sha256:" + "c" * 64
EVIL = "s3://attacker/model.joblib"


def release_c(previous: str) -> str:
    """Release 2026.12.1 naming `previous` (2026.11.3: honest; 2026.10.1: skips the deployed one)."""
    text = FULL.replace('version: "2026.11.3"', 'version: "2026.12.1"', 1).replace(
        B_ARTIFACT, "s3://acme-models/fraud-detector/2026.12.1/model.joblib").replace(B_DIGEST, C_DIGEST)
    text = text.replace('    baseline: "2026.10.1"         # defaults to rollback.previous.version\n', "")
    if previous == "2026.11.3":
        text = text.replace('version: "2026.10.1"\n      artifact: {uri: s3://acme-models/fraud-detector/2026.10.1/model'
                            '.joblib, digest: sha256:3a67254ee37e9204683a3520298158dc37a922db609866bf89a92ca52e7f32ed}\n'
                            '      dataVersion: "v41"\n      featurePipelineVersion: "fp-16"',
                            f'version: "2026.11.3"\n      artifact: {{uri: {B_ARTIFACT}, digest: {B_DIGEST}}}\n'
                            '      dataVersion: "v42"\n      featurePipelineVersion: "fp-17"')
        assert 'version: "2026.11.3"' in text
    return text


@pytest.fixture()
def repo(tmp_path) -> GitRepo:
    """Releases 2026.10.1 and 2026.11.3 (current), both gated, committed."""
    r = GitRepo(tmp_path)
    r.release_a()
    r.spec.write_text(FULL)
    assert run("build", r.spec, "-o", r.out).exit_code == 0
    metrics = r.root / "metrics.json"
    metrics.write_text(json.dumps(METRICS))
    assert run("gate", r.spec, "--metrics", metrics, "--record", "-o", r.out).exit_code == 0
    r.commit()
    return r


def history_rewritten(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if "history rewritten" in line]


def assert_reported_everywhere(repo: GitRepo, needle: str) -> None:
    """`needle` is reported in every format, and `--fail-on-loosened` fails on it."""
    failed = run("diff", repo.spec, "--fail-on-loosened")
    assert failed.exit_code == 1, failed.output
    assert any(needle in line for line in history_rewritten(failed)), failed.stdout
    assert needle in run("diff", repo.spec, "--format", "markdown").stdout
    fields = [c["field"] for c in json.loads(run("diff", repo.spec, "--format", "json").stdout)["recorded"]]
    assert any(needle in f and "history rewritten" in f for f in fields), fields


def assert_honest_release_is_clean(repo: GitRepo) -> None:
    repo.git("checkout", "--", ".")
    repo.spec.write_text(release_c("2026.11.3"))
    built = run("build", repo.spec, "-o", repo.out)
    assert built.exit_code == 0, built.output
    result = run("diff", repo.spec, "--fail-on-loosened")
    assert result.exit_code == 0 and history_rewritten(result) == [], result.output


def test_a_resealed_edit_of_an_old_recorded_spec_is_history_rewritten(repo):
    def swap(entry: dict) -> None:  # another artifact and images from a registry the policy would forbid
        entry["spec"]["spec"]["model"]["artifact"]["uri"] = EVIL
        entry["spec"]["spec"]["serving"]["image"] = "evil.example/mlserver@sha256:" + "6" * 64

    repo.edit_entry("2026.10.1", swap, reseal=True)
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0  # the seal alone cannot see it
    assert_reported_everywhere(repo, "recorded spec `spec.model.artifact.uri` of release 2026.10.1")
    assert EVIL in run("diff", repo.spec).stdout
    assert_honest_release_is_clean(repo)


def test_the_neighbouring_entry_is_not_reported(repo):
    repo.edit_entry("2026.11.3", lambda e: e["spec"]["spec"]["serving"].update(replicas=9), reseal=True)
    lines = history_rewritten(run("diff", repo.spec))
    assert lines and all("2026.11.3" in line and "2026.10.1" not in line for line in lines), lines


def test_environment_pins_added_to_an_old_entry_are_history_rewritten(repo):
    def overlay_swap(entry: dict) -> None:
        prod = json.loads(json.dumps(entry["pins"]))
        prod["artifact"]["digest"] = "sha256:" + "1" * 64
        entry["environmentPins"] = {"prod": prod}

    repo.edit_entry("2026.10.1", overlay_swap, reseal=True)
    assert_reported_everywhere(repo, "pin `artifact.digest` of release 2026.10.1 in environment `prod`")
    staging = [line for line in history_rewritten(run("diff", repo.spec)) if "environment `staging`" in line]
    assert staging == []  # the other environment kept the base's pins
    assert_honest_release_is_clean(repo)


def test_migrate_dry_run_lists_every_pin_it_would_vouch_for(repo):
    data = yaml.safe_load(repo.ledger.read_text())
    stripped = data["releases"][0]
    del stripped["digest"]
    stripped["pins"]["artifact"]["digest"] = "sha256:" + "2" * 64
    repo.ledger.write_text(ledger.dump(ledger.Ledger(data["model"], data["current"], data["releases"])))
    result = run("ledger", "migrate", "-o", repo.out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "  pins artifact.digest: sha256:" + "2" * 64 in result.stdout
    assert "  pins data.version: v41" in result.stdout and "  pins seed: 1234" in result.stdout
    assert "2026.11.3" not in result.stdout  # the sealed neighbour is not vouched for again
    assert run("ledger", "migrate", "-o", repo.out).exit_code == 0
    assert_reported_everywhere(repo, "")  # the re-sealed edit still shows under review
    assert "pin `artifact` of release 2026.10.1" in run("diff", repo.spec).stdout


def test_current_set_locally_to_an_older_release_is_refused(repo):
    data = yaml.safe_load(repo.ledger.read_text())
    data["current"] = "2026.10.1"  # lets 2026.12.1 take the weaker 2026.10.1 as its baseline
    repo.ledger.write_text(yaml.safe_dump(data, sort_keys=False))
    repo.spec.write_text(release_c("2026.10.1"))
    before = tree(repo.out)
    for args in ([], ["--check"]):
        result = run("build", repo.spec, "-o", repo.out, *args)
        assert result.exit_code == 1, result.output
        line = repo.ledger.read_text().splitlines().index(f"seal: {data['seal']}") + 1
        assert f"{repo.ledger}:{line}:7: error: the ledger's `seal` does not match its current release" in result.stderr
        assert "Traceback" not in result.output and tree(repo.out) == before
    assert_honest_release_is_clean(repo)


def test_current_set_to_an_older_release_and_resealed_is_history_rewritten(repo):
    lg = ledger.load(repo.out, "fraud-detector")
    lg.current = "2026.10.1"
    repo.ledger.write_text(ledger.dump(lg))  # the seal recomputed, as an attacker can
    repo.spec.write_text(release_c("2026.10.1"))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    assert ledger.load(repo.out, "fraud-detector").current == "2026.12.1"  # the committed ledger looks normal
    assert_reported_everywhere(repo, "baseline of release 2026.12.1")
    assert_honest_release_is_clean(repo)


def test_an_old_release_made_current_by_hand_is_history_rewritten(repo):
    lg = ledger.load(repo.out, "fraud-detector")
    lg.current = "2026.10.1"
    repo.ledger.write_text(ledger.dump(lg))
    assert_reported_everywhere(repo, "current release (history rewritten)")


def test_every_entry_is_checked_on_every_read(repo):
    repo.edit_entry("2026.10.1", lambda e: e["metrics"].update(auc=0.99), reseal=False)  # not the current one
    line = repo.ledger.read_text().splitlines().index("- version: '2026.10.1'") + 1
    for args in (["history", "fraud-detector", "-o", repo.out], ["diff", repo.spec]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"{repo.ledger}:{line}:3: error: the entry of release '2026.10.1' does not match its digest" in (
            result.stderr) and "Traceback" not in result.output
    repo.git("checkout", "--", ".")
    assert run("history", "fraud-detector", "-o", repo.out).exit_code == 0  # the untouched ledger reads


def test_a_removed_ledger_seal_is_refused_until_migrated(repo):
    data = yaml.safe_load(repo.ledger.read_text())
    del data["seal"]
    repo.ledger.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run("build", repo.spec, "-o", repo.out, "--check")
    assert result.exit_code == 1 and "the ledger has no `seal`" in result.stderr and "ledger migrate" in result.stderr
    migrated = run("ledger", "migrate", "-o", repo.out)
    assert migrated.exit_code == 0, migrated.output
    assert "fraud-detector: current release 2026.11.3 (the ledger's seal)" in migrated.stdout
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0
