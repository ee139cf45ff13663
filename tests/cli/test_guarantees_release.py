"""Issue 28, the release editor and records: `mlspec release` round-trips every value it
does not set exactly as mlspec's own reader (YAML 1.1) read it, on lines it rewrites too;
a training record is read within a spec's budget and names bytes only inside its own
directory; and the behaviours the mutation probe found unguarded (a baseline that names
another release, `--digest` compared whole, an overlay of `rollback.previous`), each with
its nearest wrong neighbour."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.files import loader
from mlspec.pod import digest

HEX1, HEX2 = "a1" * 20, "b2" * 20
IMAGE = "ghcr.io/acme/churn-train@sha256:" + "6" * 64
# Every class of plain scalar YAML 1.1 (mlspec) and YAML 1.2 (ruamel) read differently, and
# their quoted neighbours: hyperparameters are free-form, recorded in the lineage as read.
VALUES = {
    "sexagesimal": "1:20", "sexagesimal_float": "1:20.5", "octal_12": "0o17", "octal_11": "017",
    "signed_dot_exp": "+.5e-3", "underscores": "1_000", "neg_underscores": "-1_0", "float_underscores": "1_0.5",
    "yes": "yes", "No": "No", "on": "on", "OFF": "OFF", "y": "y", "n": "n", "tilde": "~", "null": "null",
    "Null": "Null", "empty": "", "inf": ".inf", "neg_inf": "-.inf", "NaN": ".NaN", "date": "2026-12-01",
    "timestamp": "2001-12-14t21:59:43.10-05:00", "spaced_timestamp": "2001-12-14 21:59:43.10 -5",
    "binary": "0b101", "hex": "0x1F", "hex_underscore": "0x_1F", "exp_no_dot": "1e5", "exp_unsigned": "1.5e5",
    "trailing_dot": "1.", "plus": "+12", "minus_zero": "-0", "true": "True",
    "quoted_sexagesimal": '"1:20"', "quoted_yes": "'yes'", "quoted_tilde": '"~"', "tagged_str": "!!str 017",
}
FLOW = "{" + ", ".join(f"{k}: {v}" for k, v in VALUES.items()) + ", keys: {017: a, yes: b, 1:20: c}" \
    + ", seq: [1:20, yes, ~, +.5e-3, -1_0, 0o17, 2026-12-01]}"


def spec_text(training: str, tail: str = "") -> str:
    return f"""\
apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: churn
spec:
  model:
    version: "1.0.0"
    format: sklearn
    artifact:
      uri: s3://models/churn/1.0.0/model.joblib
      digest: sha256:{"a" * 64}
{training}  serving:
    image: docker.io/seldonio/mlserver@sha256:{"3" * 64}
    storageInitializer: {{image: docker.io/kserve/storage-initializer@sha256:{"4" * 64}}}
  evaluation:
    image: ghcr.io/acme/churn-eval@sha256:{"e" * 64}
    dataset: {{uri: gs://data/churn-holdout, version: "h-1"}}
    thresholds:
      - {{metric: f1, min: 0.8}}
{tail}"""


# the whole training section on one flow line: release rewrites it (new commit, data, seed)
ONE_LINE = (f"  training: {{runId: 'kubeflow:run-1', code: {{repo: https://github.com/acme/churn, commit: {HEX1}}}, "
            f"data: {{uri: gs://data/churn, version: v42}}, seed: 7, environment: {{image: {IMAGE}}}, "
            f"hyperparameters: {FLOW}}}\n")
BLOCK = ("  training:\n    runId: 'kubeflow:run-1'\n"
         f"    code: {{repo: https://github.com/acme/churn, commit: {HEX1}}}\n"
         "    data: {uri: gs://data/churn, version: v42}\n    seed: 7\n"
         f"    environment: {{image: {IMAGE}}}\n    hyperparameters:\n"
         + "".join(f"      {k}: {v}\n" for k, v in VALUES.items()))


SIMPLE = BLOCK.split("    hyperparameters:")[0] + "    hyperparameters: {depth: 3}\n"  # no YAML 1.1 corner


def run(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def flags(tmp: Path, **overrides: object) -> list[object]:
    model = tmp / "m1"
    if not model.exists():
        model.mkdir()
        (model / "model.joblib").write_bytes(b"model one")
    values: dict[str, object] = {"--version": "1.1.0", "--artifact": "s3://models/churn/1.1.0/", "--digest-of": model,
                                 "--commit": HEX2, "--data-version": "v43", "--seed": 8, "--run-id": "kubeflow:run-2",
                                 "--ledger": "none"}
    values.update(overrides)
    return [x for k, v in values.items() if v is not None for x in (k, v)]


def released(tmp: Path, text: str, *extra: object, newline: str = "\n") -> tuple[str, str]:
    spec = tmp / "churn.mlspec.yaml"
    spec.write_bytes(text.replace("\n", newline).encode())
    result = run("release", spec, *flags(tmp), *extra)
    assert result.exit_code == 0, result.output
    return text, spec.read_bytes().decode()


def same(a: Any, b: Any) -> bool:
    """Equal in type and value, recursively (NaN equals NaN: the same reading)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


def hyperparameters(text: str) -> dict[str, Any]:
    data: dict[str, Any] = loader.load(text, "spec.yaml").data["spec"]["training"]["hyperparameters"]
    return data


def changed(before: str, after: str) -> dict[str, tuple[Any, Any]]:
    old, new = hyperparameters(before), hyperparameters(after)
    return {k: (old.get(k), new.get(k)) for k in old.keys() | new.keys() if not same(old.get(k), new.get(k))}


# --- 1. the editor and YAML 1.1 -----------------------------------------------------------

@pytest.mark.parametrize("layout", [ONE_LINE, BLOCK], ids=["rewritten-flow-line", "untouched-block-lines"])
def test_every_value_release_does_not_set_reads_back_as_mlspec_read_it(tmp_path: Path, layout: str):
    before, after = released(tmp_path, spec_text(layout))
    assert changed(before, after) == {}
    training = loader.load(after, "spec.yaml").data["spec"]["training"]
    assert (training["seed"], training["code"]["commit"], training["data"]["version"]) == (8, HEX2, "v43")  # it did edit
    read = hyperparameters(after)  # what mlspec reads, spelled out for the classes the issue names
    assert (read["signed_dot_exp"], read["neg_underscores"], read["sexagesimal"], read["octal_11"]) == ("+.5e-3", -10, 80, 15)
    assert (read["octal_12"], read["binary"], read["yes"], read["y"], read["empty"]) == ("0o17", 5, True, "y", None)
    assert (read["date"], read["quoted_yes"], read["tagged_str"]) == ("2026-12-01", "yes", "017")


def test_the_rewritten_line_keeps_each_neighbours_text(tmp_path: Path):
    before, after = released(tmp_path, spec_text(ONE_LINE))
    line = next(x for x in after.splitlines() if x.startswith("  training: "))
    for key, value in VALUES.items():  # as written; only the empty value reads `~` (null in 1.1 and 1.2)
        assert re.search(rf"[{{ ]{key}: {re.escape(value or '~')}[,}}]", line), key
    assert "seq: [1:20, yes, ~, +.5e-3, -1_0, 0o17, 2026-12-01]" in line and "keys: {017: a, yes: b, 1:20: c}" in line
    assert f"seed: 8," in line and "seed: 7" not in line


def test_new_values_that_yaml_would_retype_are_quoted(tmp_path: Path):
    for value in ("1:20", "0o17", "+.5e-3", "1_000", "yes", "~", "2026-12-01", "0b101", "1e5"):
        spec = tmp_path / "churn.mlspec.yaml"
        spec.write_text(spec_text(BLOCK))
        result = run("release", spec, *flags(tmp_path, **{"--data-version": value}))
        assert result.exit_code == 0, result.output
        read = loader.load(spec.read_text(), "spec.yaml").data["spec"]["training"]["data"]["version"]
        assert read == value, value


@pytest.mark.parametrize("comment", ["\t# tab", " \t # space tab space", "\t\t# two"])
def test_a_tab_before_a_comment_is_released_and_the_comment_kept(tmp_path: Path, comment: str):
    text = spec_text(BLOCK).replace("    seed: 7\n", f"    seed: 7{comment}\n").replace(
        '    version: "1.0.0"\n', f'    version: "1.0.0"{comment}\n').replace(
        "      yes: yes\n", f"      yes: yes{comment}\n")
    assert run("validate", _write(tmp_path, text), "--platform", "none").exit_code == 0  # build accepts it
    before, after = released(tmp_path, text)
    assert changed(before, after) == {}
    lines = after.splitlines()
    assert f"      yes: yes{comment}" in lines  # a line no edit touches keeps its tab
    assert any(x.startswith("    seed: 8") and x.endswith(comment.lstrip(" \t")) for x in lines)
    assert any(x.startswith('    version: "1.1.0"') and x.endswith(comment.lstrip(" \t")) for x in lines)


def _write(tmp: Path, text: str) -> Path:
    spec = tmp / "churn.mlspec.yaml"
    spec.write_text(text)
    return spec


def test_crlf_stays_crlf_and_comments_stay(tmp_path: Path):
    text = spec_text(ONE_LINE.replace("\n", "   # all on one line\n")).replace("  model:\n", "  # the model\n  model:\n")
    before, after = released(tmp_path, text, newline="\r\n")
    assert "\n" not in after.replace("\r\n", "")  # every line ends CRLF, none LF alone
    assert "  # the model\r\n" in after and "}}  # all on one line\r\n" in after  # kept, after the rewritten line
    assert changed(before, after.replace("\r\n", "\n")) == {}


@pytest.mark.parametrize(("line", "message"), [
    ("      merged: {<<: {a: 1}}\n", "19:16: error: merge keys (`<<`) are not supported"),
    ("      blob: !!binary aGVsbG8=\n", "19:13: error: unsupported YAML tag 'tag:yaml.org,2002:binary'"),
])
def test_yaml_mlspec_refuses_is_refused_positioned_by_release_too(tmp_path: Path, line: str, message: str):
    text = spec_text(BLOCK.replace("    hyperparameters:\n", f"    hyperparameters:\n{line}"))
    spec = _write(tmp_path, text)
    result = run("release", spec, *flags(tmp_path))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{spec}:{message}")
    assert spec.read_text() == text


# --- 2. records within budgets, and the bytes they name inside their directory --------------

RECORD = {"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord", "version": "1.1.0",
          "artifact": {"uri": "s3://models/churn/1.1.0/"}, "runId": "airflow:run-9", "code": {"commit": HEX2},
          "data": {"version": "v43"}, "seed": 11}


def record_release(tmp: Path, artifact_path: str | None, text: str | None = None) -> tuple[Path, Path, Any]:
    spec = _write(tmp, spec_text(SIMPLE))
    record = tmp / "run" / "record.json"
    record.parent.mkdir(exist_ok=True)
    body = {**RECORD, "artifact": {**RECORD["artifact"], **({"path": artifact_path} if artifact_path else {})}}
    record.write_text(text if text is not None else json.dumps(body, indent=1))
    return spec, record, run("release", spec, "--from-record", record, "--ledger", "none")


def _model(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.joblib").write_bytes(b"trained")
    return directory


@pytest.mark.parametrize(("path", "why"), [
    ("/proc/self/environ", "must be a relative path inside the directory it belongs to"),
    ("../elsewhere", "`..` is not allowed here"),
    ("model/../model", "`..` is not allowed here"),  # inside after all, but `..` is refused wherever it stands
])
def test_a_record_naming_bytes_outside_its_directory_is_refused_at_the_path(tmp_path: Path, path: str, why: str):
    _model(tmp_path / "run" / "model")
    _model(tmp_path / "elsewhere")
    spec, record, result = record_release(tmp_path, path)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{record}:7:11: error: `artifact.path` {path!r}")  # the value, in the record
    assert why in result.stderr and "[path-refused]" in result.stderr and "Traceback" not in result.output
    assert spec.read_text() == spec_text(SIMPLE)


def test_an_absolute_path_inside_the_records_directory_is_refused_too(tmp_path: Path):
    model = _model(tmp_path / "run" / "model")
    spec, record, result = record_release(tmp_path, str(model))
    assert result.exit_code == 1 and "must be a relative path" in result.stderr


@pytest.mark.parametrize("where", ["model", "sub/model"])
def test_a_symbolic_link_on_the_way_is_refused_even_to_bytes_inside(tmp_path: Path, where: str):
    outside = _model(tmp_path / "outside")
    (tmp_path / "run" / "real").mkdir(parents=True)
    _model(tmp_path / "run" / "real" / "model")
    link = tmp_path / "run" / where.split("/")[0]
    link.symlink_to(outside if where == "model" else tmp_path / "run" / "real")  # escaping; staying inside
    spec, record, result = record_release(tmp_path, where)
    assert result.exit_code == 1, result.output
    assert f"{record}:7:11: error: `artifact.path` {where!r}: {link} is a symbolic link" in result.stderr


@pytest.mark.parametrize("path", ["model", "model/model.joblib", "./model"])
def test_a_path_inside_the_records_directory_is_digested(tmp_path: Path, path: str):
    model = _model(tmp_path / "run" / "model")
    spec, _, result = record_release(tmp_path, path)
    assert result.exit_code == 0, result.output
    expected = digest.digest(str(model / "model.joblib" if path.endswith(".joblib") else model))
    assert loader.load(spec.read_text(), "s").data["spec"]["model"]["artifact"]["digest"] == expected


def test_a_record_path_is_relative_to_the_record_not_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _model(tmp_path / "run" / "model")
    monkeypatch.chdir(tmp_path / "run")  # `--from-record record.json`: its directory is `.`
    spec = _write(tmp_path, spec_text(SIMPLE))
    (tmp_path / "run" / "record.json").write_text(json.dumps({**RECORD, "artifact": {**RECORD["artifact"], "path": "model"}}))
    result = run("release", spec, "--from-record", "record.json", "--ledger", "none")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("text", "error"), [
    ('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord",\n "seed": ' + "7" * 5000 + "}",
     "2:10: error: a number of 5000 characters; a number may have at most 100"),
    ('{"apiVersion": "mlspec.dev/v1alpha1", "kind": "TrainingRecord",\n "seed": 1' + "0" * 5000 + ".5}",
     "2:10: error: a number of 5003 characters"),
    ('{"apiVersion": "mlspec.dev/v1alpha1",\n "data": ' + "[" * 64 + "]" * 64 + "}", "2:73: error: nesting deeper than 64 levels"),
    ('{"apiVersion": "mlspec.dev/v1alpha1",\n "data": ' + "[" * 5000 + "]" * 5000 + "}", "2:"),
    ('{"version": "' + "x" * (256 * 1024) + '"}', "1:1: error: file is 262159 bytes; a record may be at most 262144"),
])
def test_a_record_over_a_specs_budget_is_refused_positioned_never_exit_3(tmp_path: Path, text: str, error: str):
    spec, record, result = record_release(tmp_path, None, text)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{record}:{error}"), result.stderr



# --- 3. the behaviours the mutation probe found unguarded ---------------------------------

PREVIOUS = f"""\
  rollback:
    previous:
      version: "0.9.0"
      artifact: {{uri: s3://models/churn/0.9.0/model.joblib, digest: sha256:{"9" * 64}}}
      dataVersion: v41
"""


def _baseline(tmp: Path, baseline: str | None, previous: bool = True) -> str | None:
    text = spec_text(SIMPLE, PREVIOUS if previous else "")
    if baseline is not None:
        text = text.replace("    thresholds:\n", f'    baseline: "{baseline}"\n    thresholds:\n')
    _, after = released(tmp, text)
    data = loader.load(after, "spec.yaml").data["spec"]
    assert data["rollback"]["previous"]["version"] == "1.0.0"  # the release moved `previous` in every case
    baseline_after: str | None = data["evaluation"].get("baseline")
    return baseline_after


def test_a_baseline_naming_another_release_is_kept(tmp_path: Path):
    assert _baseline(tmp_path, "0.8.0") == "0.8.0"  # the user's choice: not the release being replaced


def test_a_baseline_naming_the_previous_release_moves_with_it(tmp_path: Path):
    assert _baseline(tmp_path, "0.9.0") == "1.0.0"  # it named the release replaced: it names the new previous


def test_a_baseline_on_a_first_release_is_kept(tmp_path: Path):
    assert _baseline(tmp_path, "0.9.0", previous=False) == "0.9.0"  # no previous it could have followed


def test_no_baseline_stays_none(tmp_path: Path):
    assert _baseline(tmp_path, None) is None  # the default (rollback.previous.version) needs no edit


@pytest.mark.parametrize("claimed", ["prefix", "algorithm-only", "one-char", "empty-hex", "suffix-extra"])
def test_digest_is_compared_whole(tmp_path: Path, claimed: str):
    flags(tmp_path)
    exact = digest.digest(str(tmp_path / "m1"))
    wrong = {"prefix": exact[:20], "algorithm-only": "sha256:", "one-char": exact[:-1] + ("0" if exact[-1] != "0" else "1"),
             "empty-hex": "", "suffix-extra": exact + "0"}[claimed]
    spec = _write(tmp_path, spec_text(SIMPLE))
    result = run("release", spec, *flags(tmp_path), "--digest", wrong)
    assert result.exit_code == 1, result.output
    assert f"error: --digest {wrong} disagrees with the bytes at {tmp_path / 'm1'}, whose digest is {exact}" in result.stderr
    assert spec.read_text() == spec_text(SIMPLE)


def test_the_exact_digest_passes(tmp_path: Path):
    flags(tmp_path)
    exact = digest.digest(str(tmp_path / "m1"))
    spec = _write(tmp_path, spec_text(SIMPLE))
    result = run("release", spec, *flags(tmp_path), "--digest", exact)
    assert result.exit_code == 0, result.output
    assert loader.load(spec.read_text(), "s").data["spec"]["model"]["artifact"]["digest"] == exact


@pytest.mark.parametrize("overlay", ['{previous: {version: "0.8.0"}}', "{previous: {dataVersion: v40}}",
                                     "{previous: {artifact: {uri: s3://models/churn/0.8.0/}}}"])
def test_an_overlay_overriding_rollback_previous_is_refused(tmp_path: Path, overlay: str):
    text = spec_text(SIMPLE, PREVIOUS + f"  environments:\n    prod: {{serving: {{replicas: 2}}}}\n"
                     f"    staging: {{rollback: {overlay}}}\n")  # the second environment
    spec = _write(tmp_path, text)
    result = run("release", spec, *flags(tmp_path))
    assert result.exit_code == 1, result.output
    assert f"{spec}:34:26: error: environment `staging` overrides `spec.rollback.previous`, which release sets" \
        in result.stderr and "[environment-overrides-pin]" in result.stderr
    assert spec.read_text() == text


@pytest.mark.parametrize("overlay", ["rollout: {steps: [{setWeight: 50}, {pause: 10m}]}", "serving: {replicas: 2}",
                                     'evaluation: {baseline: "0.9.0"}'])
def test_an_overlay_overriding_a_field_beside_it_is_released(tmp_path: Path, overlay: str):
    text = spec_text(SIMPLE, PREVIOUS + f"  environments:\n    staging: {{{overlay}}}\n")
    _, after = released(tmp_path, text)
    assert f"    staging: {{{overlay}}}\n" in after  # the overlay is left as written


# --- the mutation run's survivors in records/release.py, each with its neighbour -------------

def test_keys_release_adds_go_where_the_specs_order_has_them(tmp_path: Path):
    text = spec_text(SIMPLE.replace("    runId: 'kubeflow:run-1'\n", "")).replace("    format: sklearn\n", "").replace(
        "  serving:\n", "  serving:\n    env: [{name: MLSERVER_MODEL_IMPLEMENTATION, value: mlserver_sklearn.SKLearnModel}]\n")
    _, after = released(tmp_path, text, "--format", "sklearn", "--data-digest", "sha256:" + "d" * 64,
                        "--feature-pipeline-version", "fp-2")
    spec = loader.load(after, "spec.yaml").data["spec"]
    assert list(spec["training"])[:2] == ["runId", "code"]  # a new run id first
    assert list(spec["model"])[:3] == ["version", "format", "artifact"]  # a new format second
    assert list(spec["training"]["data"]) == ["uri", "version", "digest"]  # anything else last
    assert list(spec)[:4] == ["model", "training", "features", "serving"]  # a new features section before serving
    assert spec["features"] == {"pipelineVersion": "fp-2"}


def test_no_features_section_is_added_without_a_feature_pin(tmp_path: Path):
    _, after = released(tmp_path, spec_text(SIMPLE))
    assert "features" not in loader.load(after, "spec.yaml").data["spec"]


FEATURED = PREVIOUS + f"      featurePipelineVersion: fp-0\n      featureSchemaDigest: sha256:{'5' * 64}\n"


def test_previous_drops_feature_fields_the_replaced_release_did_not_have(tmp_path: Path):
    _, after = released(tmp_path, spec_text(SIMPLE, FEATURED))
    assert loader.load(after, "spec.yaml").data["spec"]["rollback"]["previous"] == {
        "version": "1.0.0", "artifact": {"uri": "s3://models/churn/1.0.0/model.joblib", "digest": "sha256:" + "a" * 64},
        "dataVersion": "v42"}


def test_previous_keeps_the_feature_field_the_replaced_release_had(tmp_path: Path):
    text = spec_text(SIMPLE, FEATURED).replace("  serving:\n", '  features:\n    pipelineVersion: "fp-1"\n  serving:\n', 1)
    _, after = released(tmp_path, text, "--feature-pipeline-version", "fp-2")
    previous = loader.load(after, "spec.yaml").data["spec"]["rollback"]["previous"]
    assert previous["featurePipelineVersion"] == "fp-1" and "featureSchemaDigest" not in previous


def test_a_flag_value_holding_the_separator_is_quoted_whole(tmp_path: Path):
    spec = _write(tmp_path, spec_text(SIMPLE))
    result = run("release", spec, *flags(tmp_path, **{"--commit": "x`: y"}))
    assert result.exit_code == 1
    assert "error: --commit: 'x`: y' is not a full commit id" in result.stderr


def test_the_spec_is_flushed_to_disk_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    released(tmp_path, spec_text(SIMPLE))
    assert synced, "release must fsync the new spec before renaming it over the old one"


def test_find_ledger_walks_up_to_the_repository_and_needs_this_models_ledger(tmp_path: Path):
    from mlspec.records import ledger, release

    (tmp_path / ".git").mkdir()
    models = tmp_path / "models" / "team"
    models.mkdir(parents=True)
    spec = str(models / "churn.mlspec.yaml")
    assert release.find_ledger(spec, "churn") is None  # a repository without deploy/
    (tmp_path / "deploy" / ledger.relpath("churn")).parent.mkdir(parents=True)
    (tmp_path / "deploy" / ledger.relpath("churn")).write_text("x")
    assert release.find_ledger(spec, "churn") == tmp_path / "deploy"  # two directories up
    assert release.find_ledger(spec, "fraud") is None  # another model's ledger is not this one's
    (models / ".git").mkdir()  # a nearer repository: its deploy/ (none) is the one
    assert release.find_ledger(spec, "churn") is None
    out = tmp_path / "out"
    (out / ledger.relpath("churn")).parent.mkdir(parents=True)
    (out / ledger.relpath("churn")).write_text("x")
    assert release.find_ledger(spec, "churn", out) == out and release.find_ledger(spec, "fraud", out) is None
