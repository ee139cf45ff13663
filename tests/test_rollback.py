"""`mlspec rollback NAME --to V` in real Git repositories: the spec's pins go back to V's
(only those values change in its diff), the output is what `build` writes for the edited
spec (`build --check` green right after, and after the next `build`), the ledger records
the rollback (history and lineage show it, a rebuild keeps it); refusals (unknown or
current version, feature mismatch, a tampered entry, a registry the platform forbids)
write nothing; the emergency path (no spec file) writes the same bytes and prints the
spec edit to commit."""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.pod import digest
from mlspec.records import ledger

HEX = {"1.0.0": "a1" * 20, "1.1.0": "b2" * 20, "1.2.0": "c3" * 20, "1.3.0": "d4" * 20}
SCHEMA_X, SCHEMA_Y = "sha256:" + "a" * 64, "sha256:" + "b" * 64
EVAL_QUAY = f"quay.io/acme/eval@sha256:{'e' * 64}"
EVAL_GHCR = f"ghcr.io/acme/eval@sha256:{'f' * 64}"
SPEC = f"""\
# yaml-language-server: $schema=../schemas/mlspec.schema.json
# The scorer: cut releases with `mlspec release`, roll back with `mlspec rollback`.
apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: scorer                    # DNS label
spec:

  model:
    version: "1.0.0"              # release id: always quoted
    format: sklearn
    artifact:
      uri: pvc://models/scorer/1.0.0/model.joblib   # a claim, mounted read-only
      digest: {{digest}}

  training:
    # the code, one line
    code: {{{{repo: https://github.com/acme/scorer, commit: {HEX['1.0.0']}}}}}
    data:
      uri: gs://data/scorer
      version: v1                 # plain: a YAML-safe word
    seed: 7
    environment:
      image: ghcr.io/acme/train@sha256:{"6" * 64}
  features: {{{{pipelineVersion: fp-1, schemaDigest: '{SCHEMA_X}'}}}}
  serving:
    image: docker.io/seldonio/mlserver@sha256:{"3" * 64}
  evaluation:
    image: {EVAL_QUAY}
    dataset: {{{{uri: gs://data/holdout, version: "h-1"}}}}
    thresholds:
        - {{{{metric: f1, min: 0.8}}}}    # absolute bar

  # overlays change deployment, never pins
  environments:
    staging: {{{{namespace: scorer-staging, serving: {{{{replicas: 1}}}}}}}}
    prod:
      namespace: scorer-prod
      serving: {{{{replicas: 3}}}}
"""


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


class Repo:
    """A GitOps repository: models/scorer.mlspec.yaml, deploy/, releases cut and built."""

    def __init__(self, path: Path) -> None:
        self.path, self.spec, self.out = path, path / "models" / "scorer.mlspec.yaml", path / "deploy"
        self.artifacts = path.parent / f"{path.name}-artifacts"
        self.artifacts.mkdir()
        self.spec.parent.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                              cwd=self.path, check=True, capture_output=True, text=True).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def artifact(self, version: str) -> Path:
        path = self.artifacts / f"{version}.joblib"
        path.write_bytes(f"model {version}".encode())
        return path

    def first(self) -> None:
        self.spec.write_text(SPEC.format(digest=digest.digest(str(self.artifact("1.0.0")))))
        self.build()

    def release(self, version: str, *extra: str, edit: tuple[str, str] | None = None) -> None:
        result = run("release", self.spec, "--version", version, "--artifact",
                     f"pvc://models/scorer/{version}/model.joblib", "--digest-of", self.artifact(version),
                     "--commit", HEX[version], "--data-version", f"v{version}", "--seed", str(7 + int(version.split(".")[1])),
                     *extra)
        assert result.exit_code == 0, result.output
        if edit is not None:  # a hand edit beside the release (a new evaluator image)
            self.spec.write_text(self.spec.read_text().replace(*edit))
        self.build()

    def build(self, *extra: str) -> None:
        result = run("build", self.spec, "-o", self.out, *extra)
        assert result.exit_code == 0, result.output
        self.commit("build")

    def status(self) -> str:
        return self.git("status", "--porcelain")

    def tree(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.out)): p.read_bytes() for p in sorted(self.out.rglob("*")) if p.is_file()}

    def lineage(self, env: str) -> dict:
        cm = yaml.safe_load((self.out / env / "scorer" / "configmap-lineage.yaml").read_text())
        return json.loads(cm["data"]["lineage.json"])


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """Releases 1.0.0, 1.1.0 and 1.2.0 (1.2.0 current), each cut with `release`, built and committed;
    1.1.0 also changed the evaluator image (to another registry)."""
    repo = Repo(tmp_path / "gitops")
    monkeypatch.chdir(repo.path)
    repo.first()
    repo.release("1.1.0", edit=(EVAL_QUAY, EVAL_GHCR))
    repo.release("1.2.0")
    return repo


def changed_lines(old: str, new: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Lines changed in place (old, new), and lines added; nothing may be removed."""
    pairs: list[tuple[str, str]] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old.splitlines(), new.splitlines()).get_opcodes():
        if tag == "insert":
            added += new.splitlines()[j1:j2]
        elif tag != "equal":
            assert tag == "replace" and i2 - i1 == j2 - j1, (tag, old.splitlines()[i1:i2], new.splitlines()[j1:j2])
            pairs += zip(old.splitlines()[i1:i2], new.splitlines()[j1:j2])
    return pairs, added


# --- the one command ------------------------------------------------------------


def test_rollback_leaves_build_check_green_now_and_after_the_next_build(repo):
    before = repo.spec.read_text()
    result = run("rollback", "scorer", "--to", "1.1.0")  # -o: deploy/ at the repository root
    assert result.exit_code == 0, result.output
    assert "rolled scorer back to 1.1.0 (leaving 1.2.0)" in result.stderr
    assert repo.spec.read_text() != before and repo.status()  # spec, output and ledger changed
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0
    repo.commit("rollback")
    rebuilt = run("build", "models/", "-o", "deploy")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert repo.status() == ""  # the next build writes the very same bytes
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0
    # The neighbour: the release left, built again, is drift (the check sees what changed).
    repo.git("checkout", "HEAD~1", "--", "models/")
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 1


def test_the_spec_diff_shows_only_the_pins_that_changed(repo):
    before = repo.spec.read_text()
    assert run("rollback", "scorer", "--to", "1.1.0").exit_code == 0
    after = repo.spec.read_text()
    pairs, added = changed_lines(before, after)
    keys = sorted(old.split(":")[0].strip() for old, _ in pairs)
    # version, artifact uri + digest, code commit, data version, seed; previous: version, uri, digest, data version
    # (the evaluator image is 1.1.0's already: 1.2.0 kept it).
    assert keys == sorted(["version", "uri", "digest", "code", "version", "seed",
                           "version", "uri", "digest", "dataVersion"]), pairs
    # 1.1.0 was judged against 1.0.0: its baseline stays that, now that `previous` names 1.2.0.
    assert added == ['    baseline: "1.0.0"']
    for old, new in pairs:  # same key, same indentation, same trailing comment: only the value moved
        assert old.split(":")[0] == new.split(":")[0]
        assert ("#" in old) == ("#" in new)
    spec = yaml.safe_load(after)["spec"]
    assert spec["model"]["version"] == "1.1.0" and '"1.1.0"              # release id' in after  # quoting kept
    assert spec["training"]["code"]["commit"] == HEX["1.1.0"] and spec["training"]["data"]["version"] == "v1.1.0"
    assert spec["rollback"]["previous"]["version"] == "1.2.0"  # the release being left
    assert spec["rollback"]["previous"]["artifact"]["uri"] == "pvc://models/scorer/1.2.0/model.joblib"
    # The neighbour: what is not a pin stays as the current spec has it.
    assert spec["environments"] == yaml.safe_load(before)["spec"]["environments"]
    assert spec["evaluation"]["thresholds"] == yaml.safe_load(before)["spec"]["evaluation"]["thresholds"]


def test_a_rollback_to_a_first_release_removes_what_it_did_not_have(repo):
    assert run("rollback", "scorer", "--to", "1.0.0").exit_code == 0
    spec = yaml.safe_load(repo.spec.read_text())["spec"]
    assert spec["model"]["version"] == "1.0.0" and spec["evaluation"]["image"] == EVAL_QUAY
    assert spec["rollback"]["previous"]["version"] == "1.2.0" and "baseline" not in spec["evaluation"]
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def test_history_and_lineage_show_the_rollback_and_a_rebuild_keeps_it(repo):
    assert "rollback" not in repo.lineage("prod")  # the neighbour: an ordinary release has none
    assert run("rollback", "scorer", "--to", "1.1.0").exit_code == 0
    rows = json.loads(run("history", "scorer", "-o", "deploy", "--format", "json").stdout)
    assert [r["version"] for r in rows if r["current"]] == ["1.1.0"]
    assert rows[-1] == {"rollback": True, "sequence": 4, "from": "1.2.0", "version": "1.1.0", "current": False,
                        "acceptedFeatureMismatch": False}
    assert "rollback #4: 1.2.0 -> 1.1.0" in run("history", "scorer", "-o", "deploy").stdout
    for env in ("staging", "prod"):
        assert repo.lineage(env)["rollback"] == {"sequence": 4, "to": "1.1.0", "from": "1.2.0"}
        assert repo.lineage(env)["spec"]["rollback"]["previous"]["version"] == "1.2.0"
    repo.commit("rollback")
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    assert repo.lineage("prod")["rollback"]["from"] == "1.2.0" and repo.status() == ""
    # A rebuild that drops the rollback (1.1.0's original `previous`) is refused at the spec's field.
    repo.spec.write_text(repo.spec.read_text().replace('version: "1.2.0"', 'version: "1.0.0"'))
    refused = run("build", repo.spec, "-o", repo.out)
    assert refused.exit_code == 1 and "restored by rollback #4 from '1.2.0'" in refused.stderr


def test_the_next_release_after_a_rollback_names_the_restored_one(repo):
    assert run("rollback", "scorer", "--to", "1.1.0").exit_code == 0
    repo.commit("rollback")
    repo.release("1.3.0")
    assert yaml.safe_load(repo.spec.read_text())["spec"]["rollback"]["previous"]["version"] == "1.1.0"
    assert "rollback" not in repo.lineage("prod")


# --- refusals: nothing written ---------------------------------------------------


@pytest.mark.parametrize(("to", "message"), [
    ("0.9.0", "scorer has no recorded release '0.9.0'; recorded: 1.0.0, 1.1.0, 1.2.0"),
    ("1.2.0", "'1.2.0' is already the current release of scorer"),
])
def test_an_unknown_or_the_current_version_is_refused(repo, to, message):
    result = run("rollback", "scorer", "--to", to)
    assert result.exit_code == 1 and f"deploy/_ledger/scorer.yaml:1:1: error: {message}" in result.stderr
    assert repo.status() == ""


def test_a_feature_mismatch_is_refused_then_accepted_and_recorded(repo):
    repo.release("1.3.0", "--feature-pipeline-version", "fp-2", "--feature-schema-digest", SCHEMA_Y)
    refused = run("rollback", "scorer", "--to", "1.2.0")
    assert refused.exit_code == 1 and "fp-1" in refused.stderr and "fp-2" in refused.stderr
    assert "--accept-feature-mismatch" in refused.stderr and repo.status() == ""
    accepted = run("rollback", "scorer", "--to", "1.2.0", "--accept-feature-mismatch")
    assert accepted.exit_code == 0, accepted.output
    record = yaml.safe_load((repo.out / "_ledger" / "scorer.yaml").read_text())["rollbacks"][-1]
    assert record["acceptedFeatureMismatch"] is True and "fp-2" in record["reason"]
    assert repo.lineage("prod")["rollback"]["acceptedFeatureMismatch"] is True
    assert yaml.safe_load(repo.spec.read_text())["spec"]["features"] == {"pipelineVersion": "fp-1",
                                                                          "schemaDigest": SCHEMA_X}
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def _reseal(repo: Repo, version: str, change) -> None:
    """Edit release `version`'s entry and recompute every digest, as an attacker with PR rights can."""
    path = repo.out / "_ledger" / "scorer.yaml"
    lg = ledger.parse(path.read_bytes(), str(path), "scorer")
    entry = lg.find(version)
    change(entry)
    entry["specDigest"] = ledger.digest(entry["spec"])
    entry["digest"] = ledger.entry_digest(entry)
    path.write_text(ledger.dump(lg))
    repo.commit("tampered")


EVIL = "sha256:" + "9" * 64


@pytest.mark.parametrize("where", ["spec", "pins"])
def test_a_tampered_entry_is_refused_and_an_untampered_older_one_rolls_back(repo, where):
    def change(entry):
        if where == "spec":  # the recorded spec serves other bytes; the pins still say the old ones
            entry["spec"]["spec"]["model"]["artifact"]["digest"] = EVIL
        else:
            entry["pins"]["artifact"]["digest"] = EVIL
    _reseal(repo, "1.1.0", change)
    for extra in ([], ["--no-spec"]):
        refused = run("rollback", "scorer", "--to", "1.1.0", *extra)
        assert refused.exit_code == 1, refused.output
        assert f"the entry of release '1.1.0': its recorded spec pins artifact.digest" in refused.stderr
        line = next(i for i, text in enumerate((repo.out / "_ledger/scorer.yaml").read_text().splitlines(), 1)
                    if text == "- version: '1.1.0'")
        assert f"deploy/_ledger/scorer.yaml:{line}:3: error:" in refused.stderr
        assert repo.status() == ""
    ok = run("rollback", "scorer", "--to", "1.0.0")
    assert ok.exit_code == 0, ok.output
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


def test_a_recorded_spec_from_a_registry_the_platform_now_forbids_is_refused(repo):
    platform = repo.path / ".mlspec" / "platform.yaml"
    platform.parent.mkdir()
    platform.write_text("apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  policy:\n"
                        "    allowedRegistries: [docker.io/, ghcr.io/]\n")
    repo.build()  # the platform's digest reaches the current output
    for extra in ([], ["--no-spec"]):
        refused = run("rollback", "scorer", "--to", "1.0.0", *extra)  # 1.0.0's evaluator came from quay.io
        assert refused.exit_code == 1, refused.output
        assert "the entry of release '1.0.0': its recorded spec is refused today" in refused.stderr
        assert f"image `{EVAL_QUAY}` is not from an allowed registry" in refused.stderr
        assert repo.status() == ""
    ok = run("rollback", "scorer", "--to", "1.1.0")  # the neighbour: 1.1.0's images are allowed
    assert ok.exit_code == 0, ok.output
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0


# --- environments and the emergency path ------------------------------------------


def test_env_rolls_back_one_environment_only_on_the_emergency_path(repo):
    usage = run("rollback", "scorer", "--to", "1.1.0", "--env", "prod")
    assert usage.exit_code == 2 and "--no-spec --env" in usage.output and repo.status() == ""
    staging = {k: v for k, v in repo.tree().items() if k.startswith("staging/")}
    result = run("rollback", "scorer", "--to", "1.1.0", "--no-spec", "--env", "prod")
    assert result.exit_code == 0, result.output
    changed = {line[3:] for line in repo.status().splitlines()}
    assert changed and all(p.startswith(("deploy/prod/", "deploy/_ledger/")) for p in changed), changed
    assert {k: v for k, v in repo.tree().items() if k.startswith("staging/")} == staging
    assert repo.lineage("prod")["spec"]["model"]["version"] == "1.1.0"
    assert repo.lineage("staging")["spec"]["model"]["version"] == "1.2.0"


def test_the_emergency_path_writes_what_the_one_command_writes_and_prints_the_spec_edit(repo, tmp_path):
    other = tmp_path / "checkout"
    shutil.copytree(repo.path, other)
    one = run("rollback", "scorer", "--to", "1.1.0")
    assert one.exit_code == 0, one.output
    expected = repo.tree()
    emergency = run("rollback", "scorer", "--to", "1.1.0", "-o", other / "deploy", "--no-spec")
    assert emergency.exit_code == 0, emergency.output
    assert {str(p.relative_to(other / "deploy")): p.read_bytes() for p in sorted((other / "deploy").rglob("*"))
            if p.is_file()} == expected  # byte for byte
    assert "from the ledger alone (--no-spec)" in emergency.stderr
    printed = emergency.stdout
    assert printed.startswith("--- a/scorer.mlspec.yaml (as recorded for 1.2.0)\n")
    assert "-    version: '1.2.0'\n+    version: '1.1.0'\n" in printed
    assert f"+      commit: {HEX['1.1.0']}\n" in printed
    # Where the spec is, the same command finishes the rollback: the spec edit, nothing else.
    spec = other / "models" / "scorer.mlspec.yaml"
    finish = run("rollback", "scorer", "--to", "1.1.0", "-o", other / "deploy", "--spec", spec)
    assert finish.exit_code == 0, finish.output
    assert "kept rollback #4" in finish.stderr
    assert spec.read_text() == repo.spec.read_text()
    assert {str(p.relative_to(other / "deploy")): p.read_bytes() for p in sorted((other / "deploy").rglob("*"))
            if p.is_file()} == expected
    assert run("build", spec, "-o", other / "deploy", "--check").exit_code == 0


def test_without_a_spec_in_the_repository_the_emergency_path_is_taken(repo):
    repo.spec.unlink()
    repo.commit("spec moved elsewhere")
    result = run("rollback", "scorer", "--to", "1.1.0")
    assert result.exit_code == 0, result.output
    assert "no spec of scorer found under" in result.stderr and "+    version: '1.1.0'" in result.stdout


def test_dry_run_prints_the_spec_diff_and_writes_nothing(repo):
    result = run("rollback", "scorer", "--to", "1.1.0", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- a/") and '+    version: "1.1.0"' in result.stdout
    assert repo.status() == "" and not any(p.name.startswith(".") for p in repo.out.rglob("*") if p.is_dir())


def test_review_sees_no_history_rewritten_and_two_specs_of_the_model_need_spec(repo):
    assert run("rollback", "scorer", "--to", "1.1.0").exit_code == 0
    reviewed = run("diff", repo.spec, "--base", "HEAD", "--fail-on-loosened")
    assert reviewed.exit_code == 0, reviewed.output  # same pins, same metrics: nothing loosened
    repo.git("checkout", "--", ".")
    shutil.copy(repo.spec, repo.path / "models" / "copy.mlspec.yaml")
    ambiguous = run("rollback", "scorer", "--to", "1.1.0")
    assert ambiguous.exit_code == 1 and "one of 2 specs of model scorer: name the one to edit with --spec" in ambiguous.stderr
    named = run("rollback", "scorer", "--to", "1.1.0", "--spec", repo.spec)
    assert named.exit_code == 0, named.output
    assert "1.1.0" in yaml.safe_load(repo.spec.read_text())["spec"]["model"]["version"]
    assert yaml.safe_load((repo.path / "models" / "copy.mlspec.yaml").read_text())["spec"]["model"]["version"] == "1.2.0"


def test_a_rollback_record_is_sealed_like_an_entry(repo):
    assert run("rollback", "scorer", "--to", "1.1.0").exit_code == 0
    repo.commit("rollback")
    assert run("build", repo.spec, "-o", repo.out, "--check").exit_code == 0  # the neighbour: as written, accepted
    path = repo.out / "_ledger" / "scorer.yaml"
    text = path.read_text()
    path.write_text(text.replace("  from: '1.2.0'\n", "  from: '1.0.0'\n"))  # who was left, rewritten
    check = run("build", repo.spec, "-o", repo.out, "--check")
    assert check.exit_code == 1 and "the rollback record #4 does not match its digest" in check.stderr
    line = text.splitlines().index("- sequence: 4") + 1
    assert f"deploy/_ledger/scorer.yaml:{line}:3: error:" in check.stderr
    path.write_text(text.replace("  from: '1.2.0'\n", "  from: '0.9.0'\n"))  # a release nobody recorded
    check = run("build", repo.spec, "-o", repo.out, "--check")
    assert check.exit_code == 1 and "rollback #4 names release '0.9.0', which is not recorded" in check.stderr


def test_a_spec_that_is_not_at_the_current_release_is_refused_at_its_version(repo):
    text = repo.spec.read_text().replace('version: "1.2.0"              #', 'version: "1.3.0"              #')
    repo.spec.write_text(text)  # a release cut but not built yet
    repo.commit("cut 1.3.0")
    result = run("rollback", "scorer", "--to", "1.1.0")
    line = text.splitlines().index('    version: "1.3.0"              # release id: always quoted') + 1
    assert result.exit_code == 1
    assert (f"models/scorer.mlspec.yaml:{line}:14: error: this spec is at version '1.3.0', but the current release "
            "of scorer is '1.2.0'") in result.stderr
    assert repo.status() == ""
