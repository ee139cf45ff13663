"""`mlspec release`: the spec file edited in place, only values changing, validated
before anything is written, and every refusal leaving the file byte-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.pod import digest

HEX1, HEX2, HEX3 = "a1" * 20, "b2" * 20, "1234567890" * 4  # HEX3 is read as a number unless quoted
OLD_DIGEST = "sha256:" + "a" * 64
SPEC = f"""\
# yaml-language-server: $schema=../schemas/mlspec.schema.json
# Churn model: cut releases with `mlspec release`, never by hand.
apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: churn                     # DNS label
spec:

  model:
    version: "1.0.0"              # release id: always quoted
    format: sklearn
    artifact:
      uri: s3://models/churn/1.0.0/model.joblib   # plain on purpose
      digest: {OLD_DIGEST}

  training:
    runId: 'kubeflow:run-1'
    # the code, one line
    code: {{repo: https://github.com/acme/churn, commit: {HEX1}}}
    data:
      uri: gs://data/churn
      version: v42                # plain: a YAML-safe word
    seed: 7
    environment:
      image: ghcr.io/acme/churn-train@sha256:{"6" * 64}
    hyperparameters: {{depth: 3}}
  features:
    pipelineVersion: "fp-1"
  serving:
    image: docker.io/seldonio/mlserver@sha256:{"3" * 64}
    storageInitializer: {{image: docker.io/kserve/storage-initializer@sha256:{"4" * 64}}}
  evaluation:
    image: ghcr.io/acme/churn-eval@sha256:{"e" * 64}
    dataset: {{uri: gs://data/churn-holdout, version: "h-1"}}
    thresholds:
        - {{metric: f1, min: 0.8}}    # absolute bar

  # overlays change deployment, never pins
  environments:
    staging: {{serving: {{replicas: 1}}}}
    prod:
      serving: {{replicas: 4}}
"""


def run(*args: object, **kwargs: object):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # a repository root: where release looks for deploy/
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "churn.mlspec.yaml").write_text(SPEC)
    return tmp_path


def _artifact(tmp: Path, name: str, content: bytes) -> tuple[Path, str]:
    path = tmp / name
    path.mkdir()
    (path / "model.joblib").write_bytes(content)
    (path / "MLmodel").write_text("flavors: {}\n")
    return path, digest.digest(str(path))


def _commented(original: str, prefix: str) -> str:
    """`prefix` with the end-of-line comment of `original`, which stays in its column."""
    column = original.index(" #") + 1
    return prefix.ljust(column) + original[column:] if len(prefix) < column else f"{prefix} {original[column:]}"


V, URI, DATA = ('    version: "1.0.0"              # release id: always quoted',
                "      uri: s3://models/churn/1.0.0/model.joblib   # plain on purpose",
                "      version: v42                # plain: a YAML-safe word")


def _changed(diff: str) -> tuple[list[str], list[str]]:
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    return [line[1:] for line in lines if line.startswith("-")], [line[1:] for line in lines if line.startswith("+")]


def test_release_twice_changes_only_the_values(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    dir1, d1 = _artifact(repo, "m1", b"model one")
    first = run("release", spec, "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/", "--digest-of", dir1,
                "--commit", HEX2, "--data-version", "2026-12-01", "--seed", 8, "--run-id", "kubeflow:run-2",
                "--format", "mlflow", "--dry-run")
    assert first.exit_code == 0, first.output
    assert spec.read_text() == SPEC  # --dry-run writes nothing
    removed, added = _changed(first.stdout)
    assert removed == [
        V,
        "    format: sklearn",
        URI,
        f"      digest: {OLD_DIGEST}",
        "    runId: 'kubeflow:run-1'",
        f"    code: {{repo: https://github.com/acme/churn, commit: {HEX1}}}",
        DATA,
        "    seed: 7",
    ]
    assert added == [
        _commented(V, '    version: "1.1.0"'),
        "    format: mlflow",
        _commented(URI, "      uri: s3://models/churn/1.1.0/"),
        f"      digest: {d1}",
        "    runId: 'kubeflow:run-2'",  # single quotes stay single
        f"    code: {{repo: https://github.com/acme/churn, commit: {HEX2}}}",  # flow stays flow
        _commented(DATA, '      version: "2026-12-01"'),  # a date must be quoted
        "    seed: 8",
        "  rollback:",
        "    previous:",
        '      version: "1.0.0"',
        "      artifact:",
        "        uri: s3://models/churn/1.0.0/model.joblib",
        f"        digest: {OLD_DIGEST}",
        "      dataVersion: v42",
        '      featurePipelineVersion: "fp-1"',
    ]
    assert "  rollback:\n" in first.stdout and first.stdout.index("+  rollback:") < first.stdout.index("   environments:")

    assert run("release", spec, "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/", "--digest-of", dir1,
               "--commit", HEX2, "--data-version", "2026-12-01", "--seed", 8, "--run-id", "kubeflow:run-2",
               "--format", "mlflow").exit_code == 0
    text1 = spec.read_text()
    dir2, d2 = _artifact(repo, "m2", b"model two")
    second = run("release", spec, "--version", "1.10", "--artifact", "s3://models/churn/1.10/", "--digest-of", dir2,
                 "--commit", HEX3, "--data-version", "v44", "--seed", 9, "--run-id", "kubeflow:run-3")
    assert second.exit_code == 0, second.output
    text2 = spec.read_text()
    changed = [(a, b) for a, b in zip(text1.splitlines(), text2.splitlines()) if a != b]
    assert len(text1.splitlines()) == len(text2.splitlines())  # the existing rollback is updated in place
    assert changed == [
        (_commented(V, '    version: "1.1.0"'), _commented(V, '    version: "1.10"')),
        (_commented(URI, "      uri: s3://models/churn/1.1.0/"), _commented(URI, "      uri: s3://models/churn/1.10/")),
        (f"      digest: {d1}", f"      digest: {d2}"),
        ("    runId: 'kubeflow:run-2'", "    runId: 'kubeflow:run-3'"),
        (f"    code: {{repo: https://github.com/acme/churn, commit: {HEX2}}}",
         f'    code: {{repo: https://github.com/acme/churn, commit: "{HEX3}"}}'),  # quoted: YAML-safe
        (_commented(DATA, '      version: "2026-12-01"'), _commented(DATA, '      version: "v44"')),  # the quotes stay
        ("    seed: 8", "    seed: 9"),
        ('      version: "1.0.0"', '      version: "1.1.0"'),
        ("        uri: s3://models/churn/1.0.0/model.joblib", "        uri: s3://models/churn/1.1.0/"),
        (f"        digest: {OLD_DIGEST}", f"        digest: {d1}"),
        ("      dataVersion: v42", '      dataVersion: "2026-12-01"'),
    ]
    # every comment and blank line of the original is still there
    assert [line for line in SPEC.splitlines() if line.lstrip().startswith("#") or not line.strip()] == \
        [line for line in text2.splitlines() if line.lstrip().startswith("#") or not line.strip()]


def test_released_values_reach_history_lineage_and_annotations_exactly(repo: Path):
    spec, out = repo / "models" / "churn.mlspec.yaml", repo / "deploy"
    assert run("build", spec, "-o", out).exit_code == 0
    dir1, d1 = _artifact(repo, "m1", b"model one")
    result = run("release", spec, "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/", "--digest-of", dir1,
                 "--commit", HEX2, "--data-version", "2026-12-01", "--seed", 8, "--run-id", "kubeflow:run-2")
    assert result.exit_code == 0, result.output
    assert f"checked against the ledger under {out}" in result.stderr  # found: the repository's deploy/
    built = run("build", spec, "-o", out)
    assert built.exit_code == 0, built.output
    history = json.loads(run("history", "churn", "-o", out, "--format", "json").stdout)
    assert [(r["version"], r["dataVersion"], r["seed"], r["current"]) for r in history] == [
        ("1.0.0", "v42", 7, False), ("1.1.0", "2026-12-01", 8, True)]
    lineage = yaml.safe_load((out / "prod/churn/configmap-lineage.yaml").read_text())
    record = json.loads(next(v for v in lineage["data"].values() if v.lstrip().startswith("{")))
    flat = json.dumps(record)
    for value in ("1.1.0", d1, HEX2, "2026-12-01", "kubeflow:run-2", "s3://models/churn/1.1.0/"):
        assert f'"{value}"' in flat, value
    rollout = yaml.safe_load((out / "prod/churn/rollout.yaml").read_text())
    annotations = rollout["metadata"]["annotations"]
    assert {"1.1.0", d1, HEX2, "2026-12-01", "8"} <= set(annotations.values())


def test_from_record_end_to_end(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    dir1, d1 = _artifact(repo / "models", "out", b"trained")
    record = repo / "models" / "record.json"
    record.write_text(json.dumps({
        "apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",
        "artifact": {"uri": "s3://models/churn/1.1.0/", "path": "out"},  # relative to the record file
        "runId": "airflow:dag-run-9", "code": {"commit": HEX2},
        "data": {"version": "v43", "digest": "sha256:" + "d" * 64}, "seed": 11,
        "features": {"pipelineVersion": "fp-2", "schemaDigest": "sha256:" + "f" * 64},
    }))
    result = run("release", spec, "--from-record", record, "--seed", 12, "--ledger", "none")  # the flag wins
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(spec.read_text())["spec"]
    assert data["model"]["version"] == "1.1.0" and data["model"]["artifact"] == {"uri": "s3://models/churn/1.1.0/", "digest": d1}
    assert data["training"]["seed"] == 12 and data["training"]["runId"] == "airflow:dag-run-9"
    assert data["training"]["data"] == {"uri": "gs://data/churn", "version": "v43", "digest": "sha256:" + "d" * 64}
    assert data["features"] == {"pipelineVersion": "fp-2", "schemaDigest": "sha256:" + "f" * 64}
    assert data["rollback"]["previous"]["featurePipelineVersion"] == "fp-1"
    assert "featureSchemaDigest" not in data["rollback"]["previous"]
    assert run("build", spec, "-o", repo / "deploy").exit_code == 0


def _refused(spec: Path, *args: object, code: int = 1) -> str:
    before = spec.read_bytes()
    result = run("release", spec, *args)
    assert result.exit_code == code, result.output
    assert spec.read_bytes() == before
    assert "Traceback" not in result.output
    assert sorted(p.name for p in spec.parent.iterdir()) == sorted(p.name for p in spec.parent.iterdir()
                                                                   if not p.name.endswith(".tmp"))
    return result.stderr


def _flags(repo: Path, **overrides: object) -> list[object]:
    dir1 = repo / "m1"
    if not dir1.exists():
        _artifact(repo, "m1", b"model one")
    values: dict[str, object] = {"--version": "1.1.0", "--artifact": "s3://models/churn/1.1.0/", "--digest-of": dir1,
                                 "--commit": HEX2, "--data-version": "v43", "--seed": 8, "--run-id": "kubeflow:run-2"}
    values.update(overrides)
    return [x for k, v in values.items() if v is not None for x in (k, v)]


def test_refuses_a_commit_that_is_not_hex(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo, **{"--commit": "main"}))
    assert f"{spec}:19:57: error: --commit: 'main' is not a full commit id" in err


def test_refuses_the_current_version_again(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo, **{"--version": "1.0.0"}))
    assert f"{spec}:10:14: error: version '1.0.0' is the current release" in err


def test_refuses_a_digest_that_disagrees_with_the_bytes(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo), "--digest", "sha256:" + "0" * 64)
    assert f"{spec}:14:15: error: --digest sha256:{'0' * 64} disagrees with the bytes at" in err
    assert f"whose digest is {digest.digest(str(repo / 'm1'))}" in err


def test_refuses_a_digest_without_bytes(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo, **{"--digest-of": None}), "--digest", "sha256:" + "0" * 64)
    assert (f"{spec}:14:15: error: missing pin: the artifact's bytes, to compute `spec.model.artifact.digest` "
            "from; give --digest-of PATH or the record's `artifact.path` (`--digest` alone is not enough") in err


def test_refuses_an_unreadable_digest_of(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo, **{"--digest-of": repo / "nowhere"}))
    assert f"{spec}:14:15: error: cannot compute the artifact digest: {repo / 'nowhere'}: No such file" in err


def test_refuses_a_result_that_does_not_validate_positioned_in_the_spec(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, *_flags(repo), "--format", "triton")
    assert err.startswith(f"{spec}:11:13: error: ") and "triton" in err


def test_a_record_that_lacks_pins_lists_every_one(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    record = repo / "record.json"
    record.write_text('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",\n'
                      ' "data": {"version": "v43"}}\n')
    err = _refused(spec, "--from-record", record)
    where = f"in {record}"
    assert err.splitlines() == [
        f"{spec}:13:12: error: missing pin {where}: `spec.model.artifact.uri`; give --artifact VALUE or the record's `artifact.uri` [missing-pin]",
        f"{spec}:14:15: error: missing pin {where}: the artifact's bytes, to compute `spec.model.artifact.digest` from; "
        "give --digest-of PATH or the record's `artifact.path` [missing-pin]",
        f"{spec}:17:12: error: missing pin {where}: `spec.training.runId`; give --run-id VALUE or the record's `runId` [missing-pin]",
        f"{spec}:19:57: error: missing pin {where}: `spec.training.code.commit`; give --commit VALUE or the record's `code.commit` [missing-pin]",
        f"{spec}:23:11: error: missing pin {where}: `spec.training.seed`; give --seed VALUE or the record's `seed` [missing-pin]",
    ]


def test_a_new_feature_pipeline_needs_its_schema_when_the_spec_pins_one(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    spec.write_text(SPEC.replace('    pipelineVersion: "fp-1"\n', f'    pipelineVersion: "fp-1"\n    schemaDigest: sha256:{"5" * 64}\n'))
    err = _refused(spec, *_flags(repo), "--feature-pipeline-version", "fp-2")
    assert f"missing pin: `spec.features.schemaDigest`; give --feature-schema-digest VALUE" in err


def test_refuses_an_unreadable_record(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    err = _refused(spec, "--from-record", repo / "missing.json")
    assert err.splitlines() == [f"{repo / 'missing.json'}:1:1: error: cannot read: No such file or directory [record-invalid]"]


def test_refuses_a_record_with_a_bad_value_positioned_in_the_record(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    record = repo / "record.json"
    record.write_text('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord",\n "seed": -1}\n')
    err = _refused(spec, "--from-record", record)
    assert err.startswith(f"{record}:2:10: error: `seed`: ")


def test_refuses_an_overlay_that_overrides_a_pin(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    spec.write_text(SPEC.replace("    staging: {serving: {replicas: 1}}", "    staging: {training: {seed: 3}}"))
    err = _refused(spec, *_flags(repo))
    assert f"{spec}:40:26: error: environment `staging` overrides `spec.training.seed`" in err
    spec.write_text(SPEC.replace("    staging: {serving: {replicas: 1}}", "    staging: {model: {format: xgboost}}"))
    assert run("release", spec, *_flags(repo)).exit_code == 0  # a pin release leaves alone may differ per environment
    err = _refused(spec, *_flags(repo, **{"--version": "1.2.0"}), "--format", "onnx")
    line = spec.read_text().splitlines().index("    staging: {model: {format: xgboost}}") + 1  # below the new rollback
    assert f"{spec}:{line}:23: error: environment `staging` overrides `spec.model.format`" in err


def test_refuses_a_version_recorded_with_other_pins(repo: Path):
    spec, out = repo / "models" / "churn.mlspec.yaml", repo / "deploy"
    assert run("build", spec, "-o", out).exit_code == 0
    for version, commit in (("1.1.0", HEX2), ("1.2.0", HEX3)):
        assert run("release", spec, *_flags(repo, **{"--version": version, "--commit": commit})).exit_code == 0
        assert run("build", spec, "-o", out).exit_code == 0
    err = _refused(spec, *_flags(repo, **{"--version": "1.0.0"}))  # recorded, with other pins
    assert f"{spec}:10:14: error: version '1.0.0' is already released with other pins" in err
    err = _refused(spec, *_flags(repo, **{"--version": "1.1.0"}))
    assert "is the release the current one replaced" in err


def test_one_record_at_a_time_is_a_usage_error(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    _refused(spec, "--from-record", "a.json", "--from-mlflow", "models:/churn@champion", code=2)


def test_a_failed_rename_leaves_the_spec_whole(repo: Path, monkeypatch: pytest.MonkeyPatch):
    spec = repo / "models" / "churn.mlspec.yaml"

    def refuse(src: object, dst: object, **dir_fds: object) -> None:  # the safe-path layer renames within a directory
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "rename", refuse)
    err = _refused(spec, *_flags(repo))
    assert f"{spec}:1:1: error: cannot write: No space left on device" in err
    assert sorted(p.name for p in spec.parent.iterdir()) == ["churn.mlspec.yaml"]  # no temporary file left


def test_a_killed_release_leaves_the_spec_whole(repo: Path):
    # Killed between writing the temporary file and the rename: the spec is the old file.
    spec = repo / "models" / "churn.mlspec.yaml"
    _artifact(repo, "m1", b"model one")
    program = ("import os, signal, sys\n"
               "from mlspec.cli.main import main\n"
               "os.rename = lambda src, dst, **dir_fds: os.kill(os.getpid(), signal.SIGKILL)\n"
               "main(sys.argv[1:])\n")
    proc = subprocess.run([sys.executable, "-c", program, "release", str(spec), *map(str, _flags(repo))],
                          capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert spec.read_text() == SPEC


def test_build_does_not_import_ruamel(repo: Path):
    program = ("import sys\n"
               "from mlspec.cli.main import main\n"
               "try:\n    main(['build', sys.argv[1], '--stdout', '--env', 'prod'])\n"
               "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
               "print(sorted(m for m in sys.modules if m.startswith('ruamel')))\n")
    proc = subprocess.run([sys.executable, "-c", program, str(repo / "models" / "churn.mlspec.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
    proc = subprocess.run([sys.executable, "-c", "import sys, mlspec.records.release\nfrom mlspec.records import yamledit\n"
                           "yamledit.Editor('a: 1\\n')\nprint('ruamel.yaml' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True"  # the check above can see ruamel when it is loaded


def test_a_record_uri_pods_cannot_fetch_needs_artifact(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    _artifact(repo, "m1", b"model one")
    record = repo / "record.json"
    record.write_text(json.dumps({"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",
                                  "artifact": {"uri": "mlflow-artifacts:/1/abc/artifacts/model", "path": "m1"},
                                  "runId": "mlflow:abc", "code": {"commit": HEX2}, "data": {"version": "v43"}, "seed": 5}))
    err = _refused(spec, "--from-record", record)
    assert (f"{spec}:13:12: error: new artifact uri 'mlflow-artifacts:/1/abc/artifacts/model' is not where pods can "
            "fetch it: expected `scheme://...`") in err and "give --artifact URI naming where the same bytes live" in err
    result = run("release", spec, "--from-record", record, "--artifact", "s3://mlflow/1/abc/artifacts/model")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(spec.read_text())["spec"]["model"]["artifact"]["uri"] == "s3://mlflow/1/abc/artifacts/model"


def test_a_baseline_that_named_the_replaced_release_follows_it(tmp_path: Path):
    example = Path(__file__).resolve().parents[2] / "examples" / "fraud-detector.yaml"
    spec = tmp_path / "fraud.mlspec.yaml"
    spec.write_bytes(example.read_bytes())
    _artifact(tmp_path, "m1", b"model one")
    result = run("release", spec, "--version", "2026.12.1", "--artifact", "s3://acme-models/fraud-detector/2026.12.1/",
                 "--digest-of", tmp_path / "m1", "--commit", HEX2, "--data-version", "v43", "--data-digest",
                 "sha256:" + "d" * 64, "--seed", 5, "--run-id", "mlflow:f00d", "--dry-run")
    assert result.exit_code == 0, result.output
    removed, added = _changed(result.stdout)
    assert '    baseline: "2026.10.1"         # defaults to rollback.previous.version' in removed
    assert '    baseline: "2026.11.3"         # defaults to rollback.previous.version' in added
    assert '      version: "2026.11.3"' in added and '      featurePipelineVersion: "fp-17"' in added


def test_a_new_data_version_needs_its_digest_when_the_spec_pins_one(tmp_path: Path):
    example = Path(__file__).resolve().parents[2] / "examples" / "fraud-detector.yaml"
    spec = tmp_path / "fraud.mlspec.yaml"
    spec.write_bytes(example.read_bytes())
    _artifact(tmp_path, "m1", b"model one")
    err = _refused(spec, "--version", "2026.12.1", "--artifact", "s3://acme-models/fraud-detector/2026.12.1/",
                   "--digest-of", tmp_path / "m1", "--commit", HEX2, "--data-version", "v43", "--seed", 5,
                   "--run-id", "mlflow:f00d", "--ledger", "none")
    assert err.splitlines() == [f"{spec}:23:15: error: missing pin: `spec.training.data.digest`; "
                                "give --data-digest VALUE or the record's `data.digest` [missing-pin]"]


def test_schema_record_prints_the_published_schema():
    committed = Path(__file__).resolve().parents[2] / "schemas" / "record.schema.json"
    assert run("schema", "--record").stdout == committed.read_text()


def test_the_docs_training_script_example_writes_a_record_release_takes(repo: Path):
    readme = (Path(__file__).resolve().parents[2] / "docs" / "release-loop.md").read_text()
    example = readme.split("writes it, after saving the model into `model_dir`:\n\n```python\n", 1)[1].split("```", 1)[0]
    assert len(example.splitlines()) <= 10
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # the script records the training code's commit
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ml@example.com", "-c", "user.name=ml", "commit", "-q",
                    "--allow-empty", "-m", "train"], check=True)
    model_dir = repo / "out" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "model.joblib").write_bytes(b"trained")
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/release-loop.md", "exec"), namespace)
    old = os.getcwd()
    os.chdir(repo)
    try:
        namespace["write_record"](model_dir, "1.1.0", "v43", 8)  # type: ignore[operator]
    finally:
        os.chdir(old)
    spec = repo / "models" / "churn.mlspec.yaml"
    result = run("release", spec, "--from-record", repo / "out" / "record.json")
    assert result.exit_code == 0, result.output
    training = yaml.safe_load(spec.read_text())["spec"]["training"]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert training["code"]["commit"] == head and training["seed"] == 8 and training["runId"] == "airflow:local"
    assert yaml.safe_load(spec.read_text())["spec"]["model"]["artifact"]["digest"] == digest.digest(str(model_dir))


def test_a_record_behind_a_symbolic_link_is_refused(repo: Path):
    spec = repo / "models" / "churn.mlspec.yaml"
    before = spec.read_bytes()
    outside = repo.parent / "outside-record.json"
    outside.write_text('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord"}')
    link = repo / "record.json"
    link.symlink_to(outside)
    result = CliRunner().invoke(main, ["release", str(spec), "--from-record", str(link), "--ledger", "none"])
    assert result.exit_code == 1, result.output
    assert f"{link}:1:1: error: is a symbolic link" in result.stderr
    assert spec.read_bytes() == before
