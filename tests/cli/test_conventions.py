"""Warnings people can live with (rule ids, folding, --quiet, acknowledgements), messages
that say what to do, and the CLI conventions (examples in --help, quiet closed pipes,
--format json described by schemas/output/, shell completion)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mlspec.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
OUTPUT_SCHEMAS = ROOT / "schemas" / "output"
# Explicit, so the warnings do not depend on the defaults: 2 replicas, no router, a 10% step.
WARNS = MINIMAL.replace("  serving:\n", "  rollout:\n    steps: [{setWeight: 10}, {pause: 1m}]\n  serving:\n    replicas: 2\n")
UNMET = "setWeight 10 cannot be met with 2 replica(s)"


def run(*args: object, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def named(text: str, name: str) -> str:
    return text.replace("name: churn", f"name: {name}", 1)


def validated(kind: str, text: str) -> object:
    """`text` parsed and validated against schemas/output/<kind>.schema.json, with the
    real jsonschema (the referenced diagnostics schema resolved from the folder)."""
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text()) for p in OUTPUT_SCHEMAS.glob("*.schema.json")}
    registry = Registry().with_resources(
        (f"https://mlspec.dev/schemas/output/{name}", Resource.from_contents(s)) for name, s in schemas.items())
    schema = schemas[f"{kind}.schema.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(text)
    jsonschema.Draft202012Validator(schema, registry=registry).validate(data)
    return data


# --- rule ids ------------------------------------------------------------------------


def _ids_in_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "compiler").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "rule" and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
            elif (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "rule" for t in node.targets)
                  and isinstance(node.value, ast.Constant)):
                found.add(node.value.value)
            elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
                  and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "diagnostic"):
                assert any(k.arg == "rule" for k in node.keywords), f"{path}:{node.lineno}: diagnostic() without rule"
    from mlspec.files.errors import WARNING_RULES

    return found | set(WARNING_RULES)


def test_every_rule_id_in_the_code_is_documented_and_every_documented_id_is_used():
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", (ROOT / "docs" / "rules.md").read_text(), re.MULTILINE))
    used = _ids_in_code()
    assert used - {""} == documented
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule) for rule in used)


def test_a_warning_prints_its_rule_id_in_text_and_json(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(WARNS)
    text = run("validate", spec, "--platform", "none")
    assert text.exit_code == 0, text.output
    assert re.search(rf"{re.escape(str(spec))}:\d+:\d+: warning: {re.escape(UNMET)}.* \[canary-weight-unmet\]$",
                     text.stderr, re.MULTILINE)
    as_json = validated("validate", run("validate", spec, "--platform", "none", "--format", "json").stdout)
    assert {d["rule"] for d in as_json} == {"canary-weight-unmet"}


def test_errors_carry_rule_ids_too_specific_or_their_class_default(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("seed: 7", "seed: seven").replace("  serving:\n", "  servng: {}\n  serving:\n"))
    result = run("validate", bad, "--platform", "none", "--format", "json")
    assert result.exit_code == 1
    rules = {d["message"].split(":")[0].split(" (")[0]: d["rule"] for d in validated("validate", result.stdout)}
    assert rules == {"`spec.training.seed`": "wrong-type", "unknown field `servng` in `spec`": "unknown-key"}
    # every invalid case of the corpus carries an id
    for case in sorted((ROOT / "tests" / "cases" / "invalid").glob("*.yaml"))[::10]:
        out = run("validate", case, "--platform", "none", "--format", "json")
        assert out.exit_code == 1 and all(d["rule"] for d in json.loads(out.stdout)), case.name


# --- batches, --quiet --------------------------------------------------------------------


def test_a_batch_prints_each_distinct_warning_once_with_the_number_of_specs(tmp_path):
    for i in range(12):
        (tmp_path / f"m{i:02}.yaml").write_text(named(WARNS, f"model-{i:02}"))
    # the nearest neighbour: one spec with 3 replicas warns differently, and is printed on its own
    (tmp_path / "other.yaml").write_text(named(WARNS.replace("replicas: 2", "replicas: 3"), "other"))
    result = run("validate", tmp_path, "--platform", "none")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(lines) == 2  # was 13: one per spec
    assert lines[0].startswith(f"{tmp_path}/m00.yaml:") and lines[0].endswith("[canary-weight-unmet] (and 11 more spec(s))")
    assert "setWeight 10 cannot be met with 3 replica(s)" in lines[1] and "more spec" not in lines[1]
    assert "13 warning(s)" in result.stderr  # the count still counts each
    annotations = run("validate", tmp_path, "--platform", "none", "--format", "github").stdout.splitlines()
    assert len(annotations) == 2 and annotations[0].endswith("[canary-weight-unmet] (and 11 more spec(s))")
    assert len(json.loads(run("validate", tmp_path, "--platform", "none", "--format", "json").stdout)) == 13


def test_quiet_hides_warnings_but_not_errors_and_strict_still_fails(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(WARNS)
    for command in (["validate", spec], ["build", spec, "-o", tmp_path / "out"], ["build", spec, "--stdout"]):
        loud, quiet = run(*command, "--platform", "none"), run(*command, "--platform", "none", "--quiet")
        assert loud.exit_code == quiet.exit_code == 0
        assert "warning:" in loud.stderr and "warning:" not in quiet.stderr, command
    strict = run("validate", spec, "--platform", "none", "--quiet", "--strict")
    assert strict.exit_code == 1 and "[canary-weight-unmet]" in strict.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(WARNS.replace("seed: 7", "seed: seven"))
    assert "error:" in run("validate", bad, "--platform", "none", "--quiet").stderr


# --- acknowledgements ------------------------------------------------------------------------


def test_a_spec_acknowledges_a_warning_rule_and_diff_shows_it(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(WARNS)
    new.write_text(WARNS.replace("  serving:\n", "  acknowledge: [canary-weight-unmet]\n  serving:\n"))
    assert "[canary-weight-unmet]" in run("validate", old, "--platform", "none").stderr
    silenced = run("validate", new, "--platform", "none", "--strict")
    assert silenced.exit_code == 0 and "warning" not in silenced.stderr, silenced.output
    # the neighbouring rule is not acknowledged by it: a capacity note still prints
    gpu = tmp_path / "gpu.yaml"
    gpu.write_text(new.read_text().replace("replicas: 2", "replicas: 2\n    resources: {requests: {nvidia.com/gpu: 1}, "
                                                          "limits: {nvidia.com/gpu: 1}}"))
    assert "[capacity-note]" in run("validate", gpu, "--platform", "none").stderr
    diff = run("diff", old, new, "--platform", "none")
    assert 'acknowledged warnings: (none) -> ["canary-weight-unmet"]' in diff.stdout


def test_errors_cannot_be_acknowledged(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(WARNS.replace("  serving:\n", "  acknowledge: [unknown-key]\n  serving:\n"))
    result = run("validate", spec, "--platform", "none")
    assert result.exit_code == 1
    assert "`spec.acknowledge[0]`: string 'unknown-key' is not one of 'canary-weight-unmet' or 'capacity-note'" \
        in result.stderr and "[invalid-choice]" in result.stderr


def test_the_platform_file_acknowledges_for_all_models_or_one_environment(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".mlspec").mkdir()
    platform = tmp_path / ".mlspec" / "platform.yaml"
    spec = tmp_path / "churn.yaml"
    spec.write_text(WARNS + "  environments:\n    staging: {}\n    prod: {}\n")
    header = "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n"
    platform.write_text(header + "  defaults:\n    acknowledge: [canary-weight-unmet]\n")
    everywhere = run("validate", spec)
    assert everywhere.exit_code == 0 and "warning" not in everywhere.stderr, everywhere.output
    platform.write_text(header + "  environments:\n    staging:\n      defaults:\n        acknowledge: [canary-weight-unmet]\n"
                        "    prod: {}\n")  # a platform that declares environments knows each one a spec uses
    one = run("validate", spec).stderr
    assert "in environment `prod`: " + UNMET in one  # the other environment still warns
    assert "in environment `staging`" not in one
    # a model's own list adds to the platform's (it does not replace it)
    spec.write_text(spec.read_text().replace("  serving:\n", "  acknowledge: [capacity-note]\n  serving:\n"))
    assert "in environment `staging`" not in run("validate", spec).stderr


# --- messages ------------------------------------------------------------------------------


def test_a_missing_file_has_no_fake_position_and_suggests_a_sibling_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("churn.mlspec.yaml").write_text(WARNS)
    typo = run("validate", "churn.mlspec.yml")
    assert typo.exit_code == 1
    assert typo.stderr.startswith("error: no such file: churn.mlspec.yml; did you mean churn.mlspec.yaml? [no-such-file]")
    far = run("validate", "payments.yaml")  # nothing close: no suggestion
    assert far.stderr.strip() == "error: no such file: payments.yaml [no-such-file]"
    gate = run("gate", "churn.mlspec.yml", "--metrics", "m.json")  # the one-spec commands say the same
    assert gate.stderr.startswith("error: no such file: churn.mlspec.yml; did you mean churn.mlspec.yaml?")


def test_init_suggests_a_valid_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "My_Model")
    assert result.exit_code == 2
    assert "did you mean `mlspec init my-model`?" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert "did you mean" not in run("init", "___").stderr  # no valid name to suggest


def _git(path: Path, *args: str, author: str = "Ada Lovelace") -> None:
    subprocess.run(["git", "-c", f"user.name={author}", "-c", "user.email=a@example.com", *args], cwd=path,
                   check=True, capture_output=True)


def test_gate_record_refuses_a_release_the_ledger_does_not_hold(tmp_path):
    spec, out, metrics = tmp_path / "churn.yaml", tmp_path / "deploy", tmp_path / "m.json"
    spec.write_text(MINIMAL)
    metrics.write_text('{"f1": 0.9}')
    refused = run("gate", spec, "--metrics", metrics, "--record", "-o", out, "--platform", "none")
    assert refused.exit_code == 1
    assert "churn has no recorded release '1.0.0' to record this gate on (recorded: none); build it first" in refused.stderr
    assert not (out / "_ledger" / "churn.yaml").exists()
    assert run("build", spec, "-o", out, "--platform", "none").exit_code == 0  # the neighbour: once built, recorded
    assert run("gate", spec, "--metrics", metrics, "--record", "-o", out, "--platform", "none").exit_code == 0
    assert "gate: passed" in (out / "_ledger" / "churn.yaml").read_text()


def test_history_shows_who_recorded_each_release_when_and_in_which_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec, out = Path("churn.yaml"), Path("deploy")
    spec.write_text(MINIMAL)
    assert run("build", spec, "-o", out, "--platform", "none").exit_code == 0
    outside = validated("history", run("history", "churn", "-o", out, "--format", "json").stdout)
    assert [(r["date"], r["author"], r["commit"]) for r in outside] == [(None, None, None)]  # no Git: blank
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "release 1.0.0", author="Ada Lovelace")
    second = MINIMAL.replace('version: "1.0.0"', 'version: "1.1.0"').replace("seed: 7", "seed: 8") + (
        '  rollback:\n    previous:\n      version: "1.0.0"\n      artifact: {uri: pvc://models/churn/1.0.0/model.joblib, '
        "digest: sha256:f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21}\n      dataVersion: \"2026-11-01\"\n")
    spec.write_text(second)
    built = run("build", spec, "-o", out, "--platform", "none")
    assert built.exit_code == 0, built.output
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "release 1.1.0", author="Grace Hopper")
    heads = subprocess.run(["git", "log", "--format=%H %aI"], cwd=tmp_path, capture_output=True, text=True).stdout.split("\n")
    (second_commit, second_date), (first_commit, first_date) = (h.split() for h in heads[:2])
    rows = validated("history", run("history", "churn", "-o", out, "--format", "json").stdout)
    assert [(r["version"], r["author"], r["commit"], r["date"]) for r in rows] == [
        ("1.0.0", "Ada Lovelace", first_commit, first_date), ("1.1.0", "Grace Hopper", second_commit, second_date)]
    assert rows[0]["artifactDigest"].startswith("sha256:f2b0e8bf65dd")
    table = run("history", "churn", "-o", out).stdout.splitlines()
    assert table[0].split()[:6] == ["version", "date", "author", "commit", "artifact", "data"]
    assert f"Grace Hopper  {second_commit[:12]}" in table[2] and table[2].startswith("*")


def test_history_of_an_unknown_model_lists_the_recorded_ones(tmp_path):
    spec, out = tmp_path / "churn.yaml", tmp_path / "deploy"
    spec.write_text(MINIMAL)
    assert run("build", spec, "-o", out, "--platform", "none").exit_code == 0
    result = run("history", "churm", "-o", out)
    assert result.exit_code == 1
    assert "no releases of churm recorded under" in result.stderr and "recorded models: churn [unknown-model]" in result.stderr


# --- CLI conventions --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS) + ["ledger migrate"])
def test_every_help_ends_with_examples_and_keeps_its_first_line(name):
    result = run(*name.split(), "--help")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.rstrip().splitlines()]
    examples = max(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    assert examples > max(i for i, line in enumerate(lines) if line.startswith("Options:"))  # after the options
    assert lines[examples + 1:] and all("mlspec " in line or line.startswith("      ") for line in lines[examples + 1:])
    assert any(f"mlspec {name}" in line for line in lines[examples + 1:])
    if name in COMMANDS:  # the first docstring line still agrees with the command table
        assert " ".join(COMMANDS[name][2].split()[:4]) in " ".join(result.stdout.split())


def test_output_into_a_closed_pipe_ends_quietly():
    mlspec = Path(sys.executable).parent / "mlspec"
    proc = subprocess.Popen([str(mlspec), "build", str(ROOT / "examples" / "fraud-detector.yaml"), "--stdout", "--env",
                             "prod", "--platform", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "internal error" not in stderr and "BrokenPipe" not in stderr and "Traceback" not in stderr
    # the real shell pipeline the issue measured
    shell = subprocess.run(f"'{mlspec}' build '{ROOT}/examples/fraud-detector.yaml' --stdout --env prod --platform none "
                           "| head -1", shell=True, capture_output=True, text=True, timeout=60)
    assert shell.stdout == "# Generated by mlspec from fraud-detector.yaml. Do not edit.\n" or shell.stdout.startswith("#")
    assert "internal error" not in shell.stderr


def test_bash_completion_completes_a_command_in_a_real_bash():
    bash = shutil.which("bash")
    assert bash is not None
    bindir = Path(sys.executable).parent
    script = run("completion", "bash").stdout
    # What bash does on `mlspec bu<TAB>`: the function `complete -F` registered, called with the command name.
    probe = script + "".join(
        f"\nCOMPREPLY=(); COMP_WORDS=(mlspec {word}); COMP_CWORD=1; $(complete -p mlspec | sed 's/.*-F \\([^ ]*\\).*/\\1/') "
        f"mlspec {word} mlspec; printf '%s\\n' \"${{COMPREPLY[@]}}\"" for word in ("bu", "hi", "zz"))
    done = subprocess.run([bash, "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["build", "history"]


# --- --format json on every command that prints results ----------------------------------------


def test_every_result_printing_command_has_json_valid_against_its_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec, out, metrics = Path("churn.yaml"), Path("deploy"), Path("m.json")
    spec.write_text(WARNS)
    metrics.write_text('{"f1": 0.9}')
    built = validated("build", run("build", spec, "-o", out, "--platform", "none", "--format", "json").stdout)
    assert (built["specs"], built["written"], built["directories"]) == (1, True, ["_attestations/churn", "_ledger", "default/churn"])
    assert [w["rule"] for w in built["warnings"]] == ["canary-weight-unmet"]
    checked = validated("build", run("build", spec, "-o", out, "--platform", "none", "--check", "--format", "json",
                                     "--quiet").stdout)
    assert (checked["upToDate"], checked["files"], checked["warnings"]) == (True, [], [])
    assert validated("validate", run("validate", spec, "--platform", "none", "--format", "json").stdout)
    gated = validated("gate", run("gate", spec, "--metrics", metrics, "--record", "-o", out, "--platform", "none",
                                  "--format", "json").stdout)
    assert gated["passed"] is True
    assert validated("history", run("history", "churn", "-o", out, "--format", "json").stdout)[0]["gate"] == "passed"
    digests = validated("digest", run("digest", spec, metrics, "--format", "json").stdout)
    assert [d["path"] for d in digests] == ["churn.yaml", "m.json"]
    # the real digest algorithm, not a hand-computed value
    from mlspec.pod import digest

    assert digests[0]["digest"] == digest.digest("churn.yaml")
    release = run("release", spec, "--version", "1.1.0", "--seed", "8", "--artifact", "pvc://models/churn/1.1.0/m",
                  "--digest-of", metrics, "--commit", "1" * 40, "--data-version", "2026-12-01", "--format", "json",
                  "--ledger", out)
    assert release.exit_code == 0, release.output
    cut = validated("release", release.stdout)
    assert (cut["version"], cut["previous"], cut["written"]) == ("1.1.0", "1.0.0", True)
    assert 'version: "1.1.0"' in spec.read_text()
    assert run("build", spec, "-o", out, "--platform", "none").exit_code == 0
    rolled = validated("rollback", run("rollback", "churn", "--to", "1.0.0", "-o", out, "--format", "json").stdout)
    assert (rolled["from"], rolled["to"]) == ("1.1.0", "1.0.0") and "default/churn/rollout.yaml" in rolled["files"]
    old = tmp_path / "old.yaml"
    old.write_text(WARNS)
    diffed = validated("diff", run("diff", old, spec, "--platform", "none", "--format", "json").stdout)
    assert diffed["name"] == "churn"
    assert ("model version", "1.0.0", "1.1.0") in [(c["field"], c["old"], c["new"]) for c in diffed["changes"]]


def test_an_output_schema_rejects_the_nearest_wrong_shape():
    good = {"specs": 1, "output": "deploy", "written": True, "directories": [], "files": 0, "warnings": []}
    validated("build", json.dumps(good))
    for wrong in ({**good, "warnings": [{"file": "a", "line": 1, "col": 1, "severity": "warning", "message": "m"}]},
                  {**good, "files": -1}, {k: v for k, v in good.items() if k != "written"}):
        with pytest.raises(jsonschema.ValidationError):
            validated("build", json.dumps(wrong))
