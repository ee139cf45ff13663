"""In-toto attestations of each release (DESIGN.md, Trust, third bullet).

The statements are checked against the in-toto specifications with implementations that
are not ours: parsed into the upstream protobuf bindings (`in-toto-attestation`, which
refuse an unknown field), plus field checks written from the spec pages at
in-toto/attestation commit 051624ce466deaed4c5a66e66877f69b471fccbe (spec/v1/statement.md,
resource_descriptor.md, envelope.md, spec/predicates/test-result.md) and SLSA Provenance
v1; signed envelopes are verified with securesystemslib's DSSE implementation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey
from test_ledger_integrity import METRICS, GitRepo, run
from test_reconcile import FULL, spec_a, tree

from mlspec.records import attest

A, B = "2026.10.1", "2026.11.3"
HEX = re.compile(r"^[0-9a-f]{64}$")


def key_file(path: Path, seed: int, mode: int = 0o600) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(mode)
    return key


def public_key_file(path: Path) -> None:  # a key of the wrong type: the public half
    path.write_text(public_pem(Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)))
    path.chmod(0o600)


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def spki_keyid(key: Ed25519PrivateKey) -> str:  # the contract's keyid, computed here independently
    return hashlib.sha256(key.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def attestation(repo: GitRepo, version: str) -> Path:
    return repo.out / attest.relpath("fraud-detector", version)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def statement(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


def trust(repo: GitRepo, *keys: Ed25519PrivateKey) -> None:
    entries = "".join(f"      - name: key-{i}\n        publicKey: |\n" + "".join(
        f"          {line}\n" for line in public_pem(k).splitlines()) for i, k in enumerate(keys))
    home = repo.root / ".mlspec"
    home.mkdir(exist_ok=True)
    (home / "platform.yaml").write_text("apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  trust:\n"
                                        f"    attestationKeys:\n{entries}")


@pytest.fixture()
def repo(tmp_path: Path) -> GitRepo:
    """Release 2026.10.1 built and gated (passed), committed."""
    r = GitRepo(tmp_path)
    r.release_a()
    return r


# --- the statements, against the upstream bindings and spec pages ------------------------


def check_descriptor(rd: dict) -> None:
    # resource_descriptor.md: at least one of uri, digest, content; digest values hex per algorithm
    assert {"uri", "digest", "content"} & rd.keys(), rd
    for algorithm, value in rd.get("digest", {}).items():
        assert algorithm in ("sha256", "gitCommit") and re.fullmatch(r"[0-9a-f]{40,64}", value), rd


def check_statement(st: dict, predicate_type: str, artifact: dict) -> None:
    parsed = json_format.ParseDict(st, statement_pb2.Statement())  # unknown fields are refused
    Statement.copy_from_pb(parsed).validate()  # the bindings' own rules (subject digest, predicate)
    assert st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"] == predicate_type
    (subject,) = st["subject"]
    assert subject == {"name": f"fraud-detector@{A}", "uri": artifact["uri"],
                       "digest": {"sha256": artifact["digest"].removeprefix("sha256:")}}
    assert HEX.match(subject["digest"]["sha256"])


def test_provenance_and_test_result_meet_the_in_toto_and_slsa_specs(repo):
    envelopes = lines(attestation(repo, A))
    assert len(envelopes) == 2  # provenance, then the verdict `gate --record` added
    for envelope in envelopes:  # envelope.md: payloadType, base64 payload, a signatures list
        assert envelope["payloadType"] == "application/vnd.in-toto+json" and envelope["signatures"] == []
    spec = json.loads(json.dumps(__import__("yaml").safe_load(spec_a())))["spec"]
    provenance, verdict = (statement(e) for e in envelopes)
    check_statement(provenance, "https://slsa.dev/provenance/v1", spec["model"]["artifact"])
    slsa = json_format.ParseDict(provenance["predicate"], provenance_pb2.Provenance())
    assert slsa.build_definition.build_type == "https://mlspec.dev/attestation/training/v1"
    assert slsa.run_details.builder.id and slsa.run_details.metadata.invocation_id == spec["training"]["runId"]
    external = provenance["predicate"]["buildDefinition"]["externalParameters"]
    assert external["seed"] == str(spec["training"]["seed"]) and isinstance(external["seed"], str)
    assert external["hyperparameters"] == spec["training"]["hyperparameters"]
    dependencies = {d["name"]: d for d in provenance["predicate"]["buildDefinition"]["resolvedDependencies"]}
    for rd in dependencies.values():
        check_descriptor(rd)
    training = spec["training"]
    assert dependencies["training-data"]["uri"] == training["data"]["uri"]
    assert dependencies["training-data"]["digest"] == {"sha256": training["data"]["digest"].removeprefix("sha256:")}
    assert dependencies["code"] == {"name": "code", "uri": f"git+{training['code']['repo']}",
                                    "digest": {"gitCommit": training["code"]["commit"]}}
    image = training["environment"]["image"]
    assert dependencies["training-environment"] == {"name": "training-environment", "uri": image,
                                                    "digest": {"sha256": image.rpartition(":")[2]}}
    assert dependencies["lockfile"]["digest"] == {
        "sha256": training["environment"]["lockfileDigest"].removeprefix("sha256:")}

    check_statement(verdict, "https://in-toto.io/attestation/test-result/v0.1", spec["model"]["artifact"])
    result = json_format.ParseDict(verdict["predicate"], test_result_pb2.TestResult())
    assert result.result == "PASSED" and list(result.failed_tests) == []  # test-result.md: PASSED|WARNED|FAILED
    assert list(result.passed_tests) == ["auc min 0.92", "false_positive_rate max 0.02"]  # one per threshold
    configuration = {c["name"]: c for c in verdict["predicate"]["configuration"]}
    for rd in configuration.values():
        check_descriptor(rd)
    assert configuration["evaluation-dataset"]["uri"] == spec["evaluation"]["dataset"]["uri"]
    assert configuration["evaluator"]["uri"] == spec["evaluation"]["image"]


def test_a_failed_verdict_names_the_failed_threshold_only(tmp_path):
    r = GitRepo(tmp_path)
    r.spec.write_text(spec_a())
    metrics = r.root / "m.json"
    metrics.write_text(json.dumps({"auc": 0.95, "false_positive_rate": 0.05}))
    assert run("build", r.spec, "-o", r.out).exit_code == 0  # `gate --record` records built releases only
    assert run("gate", r.spec, "--metrics", metrics, "--record", "-o", r.out).exit_code == 1
    verdict = statement(lines(attestation(r, A))[1])["predicate"]
    assert verdict["result"] == "FAILED"
    assert (verdict["passedTests"], verdict["failedTests"]) == (["auc min 0.92"], ["false_positive_rate max 0.02"])


def test_the_seed_is_a_string_that_keeps_every_digit(tmp_path):
    seed = 2**53 + 1  # a JSON number read as a double would be 2**53
    out = tmp_path / "out"
    spec = tmp_path / "s.yaml"
    spec.write_text(FULL.replace("seed: 1234", f"seed: {seed}"))
    assert run("build", spec, "-o", out).exit_code == 0
    (envelope,) = lines(out / attest.relpath("fraud-detector", B))
    assert statement(envelope)["predicate"]["buildDefinition"]["externalParameters"]["seed"] == str(seed)


# --- signatures, verified by securesystemslib --------------------------------------------


def test_signed_envelopes_verify_with_securesystemslib_and_are_deterministic(tmp_path):
    key = key_file(tmp_path / "ci.pem", 7)
    other = key_file(tmp_path / "other.pem", 8)
    spec = tmp_path / "s.yaml"
    spec.write_text(FULL)
    outs = [tmp_path / "one", tmp_path / "two"]
    for out in outs:
        assert run("build", spec, "-o", out, "--attest-key", tmp_path / "ci.pem").exit_code == 0
    first, second = (out / attest.relpath("fraud-detector", B) for out in outs)
    assert first.read_bytes() == second.read_bytes()  # Ed25519: the same bytes on every machine
    (raw,) = lines(first)
    assert [s["keyid"] for s in raw["signatures"]] == [spki_keyid(key)]
    envelope = Envelope.from_dict(json.loads(json.dumps(raw)))  # from_dict consumes its argument
    ours = SSlibKey.from_crypto(key.public_key(), keyid=spki_keyid(key))
    assert list(envelope.verify([ours], 1)) == [spki_keyid(key)]
    with pytest.raises(VerificationError):  # the neighbouring key does not verify it
        envelope.verify([SSlibKey.from_crypto(other.public_key(), keyid=spki_keyid(key))], 1)
    tampered = dict(raw, payload=base64.b64encode(base64.b64decode(raw["payload"]).replace(b"1234", b"1235")).decode())
    with pytest.raises(VerificationError):  # one changed byte of the statement
        Envelope.from_dict(json.loads(json.dumps(tampered))).verify([ours], 1)
    env_signed = tmp_path / "env"
    os.environ["MLSPEC_ATTEST_KEY"] = str(tmp_path / "ci.pem")
    try:
        assert run("build", spec, "-o", env_signed).exit_code == 0
    finally:
        del os.environ["MLSPEC_ATTEST_KEY"]
    assert (env_signed / attest.relpath("fraud-detector", B)).read_bytes() == first.read_bytes()


def test_attest_signs_only_what_lacks_a_signature_and_a_rebuild_keeps_it(repo, tmp_path):
    key_file(tmp_path / "ci.pem", 7)
    unsigned = attestation(repo, A).read_text()
    result = run("attest", "-o", repo.out, "--key", tmp_path / "ci.pem")
    assert result.exit_code == 0 and result.stdout == f"signed fraud-detector {A}\n", result.output
    signed = attestation(repo, A).read_text()
    assert [statement(e) for e in lines(attestation(repo, A))] == [json.loads(
        base64.b64decode(json.loads(line)["payload"])) for line in unsigned.splitlines()]  # the same statements
    again = run("attest", "-o", repo.out, "--key", tmp_path / "ci.pem")
    assert again.exit_code == 0 and again.stdout == "" and "nothing to sign" in again.stderr
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    assert attestation(repo, A).read_text() == signed


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: None, "no such attestation key file"),
    (lambda d: key_file(d / "k.pem", 7, mode=0o644), "the attestation key is readable by others (mode 0644)"),
    (lambda d: key_file(d / "k.pem", 7, mode=0o640), "the attestation key is readable by others (mode 0640)"),
    (lambda d: public_key_file(d / "k.pem"), "not an unencrypted PEM private key"),
    (lambda d: (d / "k.pem").symlink_to(d / "real.pem") if key_file(d / "real.pem", 7) else None,
     "is a symbolic link"),
])
def test_a_bad_key_file_is_a_positioned_error_and_nothing_is_written(tmp_path, make, message):
    make(tmp_path)
    spec = tmp_path / "s.yaml"
    spec.write_text(FULL)
    for args in (["build", spec, "-o", tmp_path / "out", "--attest-key", tmp_path / "k.pem"],
                 ["attest", "-o", tmp_path / "out", "--key", tmp_path / "k.pem"]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert f"{tmp_path / 'k.pem'}:1:1: error: {message}" in result.stderr and "Traceback" not in result.output
        assert not (tmp_path / "out").exists()
    key_file(tmp_path / "ok.pem", 7)  # the neighbour: an Ed25519 key, mode 0600
    assert run("build", spec, "-o", tmp_path / "out", "--attest-key", tmp_path / "ok.pem").exit_code == 0


# --- the trust rules, with keys listed in the platform file -------------------------------


def release_b(repo: GitRepo) -> None:
    repo.spec.write_text(FULL)
    metrics = repo.root / "b.json"
    metrics.write_text(json.dumps(METRICS))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    assert run("gate", repo.spec, "--metrics", metrics, "--record", "-o", repo.out).exit_code == 0


@pytest.fixture()
def trusted(repo: GitRepo, tmp_path: Path) -> tuple[GitRepo, Path]:
    """The platform trusts ci.pem; release A is signed with it, release B (its baseline A) built after."""
    trust(repo, key_file(tmp_path / "ci.pem", 7))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0  # the platform digest annotations
    assert run("attest", "-o", repo.out, "--key", tmp_path / "ci.pem").exit_code == 0
    release_b(repo)
    repo.commit()
    return repo, tmp_path / "ci.pem"


def refused(repo: GitRepo, needle: str, *commands: list[object]) -> None:
    before = tree(repo.out)
    for args in commands or (["build", repo.spec, "-o", repo.out], ["build", repo.spec, "-o", repo.out, "--check"],
                             ["diff", repo.spec]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert needle in result.stderr and "Traceback" not in result.output, (args, result.stderr)
        assert tree(repo.out) == before


def test_an_unsigned_release_after_the_last_signed_one_builds(trusted):
    repo, _ = trusted
    assert lines(attestation(repo, B))[0]["signatures"] == []  # not yet through the protected branch
    for args in (["build", repo.spec, "-o", repo.out, "--check"], ["diff", repo.spec, "--fail-on-loosened"]):
        assert run(*args).exit_code == 0, args


def test_a_stripped_signature_before_a_signed_release_is_refused(trusted):
    repo, key = trusted
    assert run("attest", "-o", repo.out, "--key", key).exit_code == 0  # B signed too
    path = attestation(repo, A)
    path.write_text("".join(json.dumps(dict(e, signatures=[]), sort_keys=True, separators=(",", ":")) + "\n"
                            for e in lines(path)))
    refused(repo, f"release '{A}' of fraud-detector: its attestation is missing or unsigned, but a later release's "
                  "is signed")


def test_a_missing_attestation_before_a_signed_release_is_refused(trusted):
    repo, key = trusted
    assert run("attest", "-o", repo.out, "--key", key).exit_code == 0
    attestation(repo, A).unlink()
    refused(repo, f"release '{A}' of fraud-detector: its attestation is missing or unsigned")


def test_a_signature_by_an_unlisted_key_is_refused(trusted, tmp_path):
    repo, _ = trusted
    key_file(tmp_path / "pr-author.pem", 9)
    assert run("attest", "-o", repo.out, "--key", tmp_path / "pr-author.pem").exit_code == 0
    refused(repo, "which the platform file does not list in `spec.trust.attestationKeys`")


def test_an_attestation_that_disagrees_with_its_entry_is_refused(trusted):
    repo, _ = trusted
    repo.edit_entry(A, lambda e: e["pins"].update(seed=99), reseal=True)  # every seal recomputed
    refused(repo, f"release '{A}' of fraud-detector: line 1 of its attestation disagrees with the entry")


def test_a_maxdrop_baseline_must_be_signed(repo, tmp_path):
    trust(repo, key_file(tmp_path / "ci.pem", 7))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0  # A unsigned: nothing signed yet, accepted
    repo.spec.write_text(FULL)  # B's maxDrop compares against A
    refused(repo, f"release '{A}' of fraud-detector cannot be the maxDrop baseline",
            ["build", repo.spec, "-o", repo.out])
    assert run("attest", "-o", repo.out, "--key", tmp_path / "ci.pem").exit_code == 0
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0  # the neighbour: a signed baseline


# --- damaged attestations: positioned, within the budget ----------------------------------


def _valid(repo: GitRepo) -> str:
    return attestation(repo, A).read_text()


@pytest.mark.parametrize(("damage", "where", "message"), [
    (lambda t: t[:-1], 2, "the attestation is truncated (its last line has no newline)"),
    (lambda t: t.replace('"payloadType"', '"payloadType":"x","payloadType"', 1), 1, "duplicate key 'payloadType'"),
    (lambda t: "{not json\n" + t, 1, "the attestation is damaged: Expecting property name"),
    (lambda t: json.dumps({"payload": base64.b64encode(json.dumps({
        "_type": "https://in-toto.io/Statement/v1", "predicateType": "https://example.com/other/v1"}).encode()).decode(),
        "payloadType": "application/vnd.in-toto+json", "signatures": []}) + "\n", 1,
     "predicate type 'https://example.com/other/v1' is not one mlspec writes"),
    (lambda t: t + ("x" * 80 + "\n") * (attest.MAX_BYTES // 80), 1, f"file is larger than {attest.MAX_BYTES} bytes"),
])
def test_a_damaged_attestation_is_a_positioned_error(repo, damage, where, message):
    path = attestation(repo, A)
    path.write_text(damage(_valid(repo)))
    before = tree(repo.out)
    result = run("build", repo.spec, "-o", repo.out)
    assert result.exit_code == 1, result.output
    assert re.search(rf"{re.escape(str(path))}:{where}:\d+: error: .*{re.escape(message)}", result.stderr), result.stderr
    assert "Traceback" not in result.output and tree(repo.out) == before


def test_an_attestation_behind_a_symlink_is_refused(repo):
    path = attestation(repo, A)
    real = repo.root / "elsewhere.jsonl"
    real.write_text(_valid(repo))
    path.unlink()
    path.symlink_to(real)
    result = run("build", repo.spec, "-o", repo.out)
    assert result.exit_code == 1 and f"{path}:1:1: error: is a symbolic link" in result.stderr, result.output


# --- the protected branch's signing job ---------------------------------------------------

WORKFLOW = Path(__file__).resolve().parent.parent / "deploy" / "github-actions" / "mlspec-attest.yml"


def test_the_signing_job_runs_only_on_the_protected_branch_with_the_secret_as_a_variable():
    import yaml

    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow[True] == {"push": {"branches": ["main"], "paths": ["deploy/_ledger/**", "deploy/_attestations/**"]}}
    job = flow["jobs"]["sign"]
    assert job["environment"] == "release" and job["permissions"] == {"contents": "write"}
    (sign,) = [s for s in job["steps"] if "mlspec attest" in s.get("run", "")]
    assert sign["env"] == {"ATTEST_KEY": "${{ secrets.MLSPEC_ATTEST_KEY }}"} and "secrets." not in sign["run"]


def test_the_signing_step_signs_and_commits_with_the_real_shell(repo, tmp_path):
    import subprocess
    import sys

    import yaml

    (sign,) = [s for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["sign"]["steps"]
               if "mlspec attest" in s.get("run", "")]
    key = key_file(tmp_path / "ci.pem", 7)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", remote], check=True)
    repo.git("remote", "add", "origin", str(remote))
    env = {**os.environ, "ATTEST_KEY": (tmp_path / "ci.pem").read_text(),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for _ in range(2):  # the second run finds nothing to sign and commits nothing
        done = subprocess.run(["bash", "-c", sign["run"]], cwd=repo.root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    pushed = subprocess.run(["git", "--git-dir", remote, "log", "--format=%s", "main"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert pushed == ["Sign release attestations [skip ci]", "release"]  # one signing commit, pushed
    (envelope, _) = lines(attestation(repo, A))
    assert [s["keyid"] for s in envelope["signatures"]] == [spki_keyid(key)]


# --- rollback targets must be signed when keys are trusted ---------------------------------


def test_an_unsigned_rollback_target_is_refused(repo, tmp_path):
    trust(repo, key_file(tmp_path / "ci.pem", 7))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0  # A unsigned: nothing signed yet, accepted
    # B without a maxDrop threshold (a maxDrop baseline must be signed: another rule), built unsigned
    repo.spec.write_text("".join(line for line in FULL.splitlines(keepends=True) if "maxDrop" not in line))
    assert run("build", repo.spec, "-o", repo.out).exit_code == 0
    before = tree(repo.out)
    result = run("rollback", "fraud-detector", "--to", A, "-o", repo.out, "--no-spec", "--accept-feature-mismatch")
    # ...the neighbour: the same rollback to an unsigned A is refused, nothing written
    assert result.exit_code == 1, result.output
    assert f"release '{A}' of fraud-detector cannot be the rollback target" in result.stderr, result.stderr
    assert tree(repo.out) == before
