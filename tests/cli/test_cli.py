from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from test_placeholders import real_pins

from mlspec.cli.main import main
from mlspec.pipeline import render

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "examples" / "fraud-detector.yaml"
MINIMAL = ROOT / "examples" / "minimal.yaml"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_build_writes_one_directory_per_environment(tmp_path):
    result = run("build", FULL, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.iterdir()) == ["_attestations", "_ledger", "prod", "staging"]
    files = sorted(p.name for p in (tmp_path / "prod" / "fraud-detector").iterdir())
    assert "kustomization.yaml" in files and "rollout.yaml" in files
    assert "built 1 spec(s)" in result.stderr
    assert result.stdout == ""


def test_build_one_environment(tmp_path):
    assert run("build", FULL, "-o", tmp_path, "--env", "prod").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_attestations", "_ledger", "prod"]
    rollout = yaml.safe_load((tmp_path / "prod/fraud-detector/rollout.yaml").read_text())
    assert rollout["spec"]["replicas"] == 6 and rollout["metadata"]["namespace"] == "risk"


def test_unknown_environment_is_invalid_input(tmp_path):
    result = run("build", FULL, "-o", tmp_path, "--env", "qa")
    assert result.exit_code == 1
    assert "environment `qa` is not declared; declared: prod, staging" in result.stderr
    assert not tmp_path.joinpath("qa").exists()


def test_validate_reports_success():
    result = run("validate", ROOT / "examples")
    assert result.exit_code == 0
    # Every example's canary steps are ones its pods can give (docs/defaults.md): no warning;
    # llm-chat's environments and recommender's autoscaled ones have capacity notes
    assert "ok: 4 spec(s), 9 environment(s) valid, 6 note(s)" in result.stderr
    assert "warning" not in result.stderr
    assert "in environment `prod`: setWeight 10 " not in result.stderr


@pytest.mark.parametrize("args", [["build"], ["validate", str(FULL), "--format", "xml"],
                                  ["build", str(FULL), "--stdout", "-o", "x"], ["nonsense"]])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_missing_file_is_invalid_input():
    result = run("validate", "does-not-exist.yaml")
    assert result.exit_code == 1
    # No fake `1:1`: there is no line in a file that does not exist.
    assert result.stderr.startswith("error: no such file: does-not-exist.yaml [no-such-file]")
    assert ":1:1:" not in result.stderr


def test_internal_error_is_short_and_exit_3(monkeypatch, tmp_path):
    def broken(release):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(render, "render", broken)
    result = run("build", MINIMAL, "-o", tmp_path)
    assert result.exit_code == 3
    assert "mlspec: internal error: RuntimeError: template exploded" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run("--debug", "build", MINIMAL, "-o", tmp_path)
    assert debug.exit_code == 3 and "Traceback" in debug.stderr
    assert list(tmp_path.iterdir()) == []


def test_all_errors_of_all_specs_in_one_run(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text(MINIMAL.read_text().replace("seed: 7", "seed: x").replace("name: churn", "name: Churn"))
    b = tmp_path / "b.yaml"
    b.write_text(MINIMAL.read_text().replace("replicas", "x").replace("  serving:\n", "  serving:\n    replica: 2\n"))
    result = run("validate", a, b, "--format", "json")
    assert result.exit_code == 1
    errors = json.loads(result.stdout)
    assert [(Path(e["file"]).name, e["line"]) for e in errors] == [("a.yaml", 6), ("a.yaml", 17), ("b.yaml", 21)]


def test_github_annotations(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.read_text().replace("seed: 7", "seed: 1.5"))
    result = run("validate", bad, "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"::error file={bad},line=17,col=11::`spec.training.seed`: expected an integer")


def test_stdout_prints_one_environment_as_a_stream():
    result = run("build", FULL, "--stdout", "--env", "staging")
    assert result.exit_code == 0
    docs = list(yaml.safe_load_all(result.stdout))
    assert len(docs) == 14 and {d["metadata"]["namespace"] for d in docs} == {"risk-staging"}
    ambiguous = run("build", FULL, "--stdout")
    assert ambiguous.exit_code == 2 and "select one with --env" in ambiguous.stderr


def test_check_reports_drift_and_writes_nothing(tmp_path):
    assert run("build", FULL, "-o", tmp_path).exit_code == 0
    clean = run("build", FULL, "-o", tmp_path, "--check")
    assert clean.exit_code == 0 and "up to date" in clean.stderr
    rollout = tmp_path / "prod/fraud-detector/rollout.yaml"
    rollout.write_text(rollout.read_text().replace("replicas: 6", "replicas: 7"))
    (tmp_path / "staging/fraud-detector/job-eval.yaml").unlink()
    drift = run("build", FULL, "-o", tmp_path, "--check")
    assert drift.exit_code == 1
    assert "prod/fraud-detector/rollout.yaml:1:1: error: changed" in drift.stderr
    assert "staging/fraud-detector/job-eval.yaml:1:1: error: missing" in drift.stderr
    assert "replicas: 7" in rollout.read_text()


def test_gate_passes_and_fails(tmp_path):
    metrics = tmp_path / "m.json"
    baseline = tmp_path / "b.json"
    baseline.write_text('{"auc": 0.93, "false_positive_rate": 0.01}')
    metrics.write_text('{"auc": 0.925, "false_positive_rate": 0.015}')
    ok = run("gate", FULL, "--metrics", metrics, "--baseline-metrics", baseline)
    assert ok.exit_code == 0, ok.output
    assert "auc" in ok.stdout and "FAIL" not in ok.stdout
    metrics.write_text('{"auc": 0.921}')
    bad = run("gate", FULL, "--metrics", metrics, "--baseline-metrics", baseline, "--format", "json")
    assert bad.exit_code == 1
    verdicts = json.loads(bad.stdout)["verdicts"]
    failed = {(v["metric"], v["check"]) for v in verdicts if not v["passed"]}
    assert failed == {("auc", "maxDrop"), ("false_positive_rate", "max")}


def test_init_scaffolds_a_spec_that_builds(tmp_path):
    spec = tmp_path / "fraud.mlspec.yaml"
    result = run("init", "fraud", "-o", spec)
    assert result.exit_code == 0, result.output
    text = spec.read_text()
    assert text.startswith("# yaml-language-server: $schema=./.mlspec/schema.json\n")
    assert (tmp_path / ".mlspec" / "schema.json").is_file()
    assert "TODO" in text
    assert run("validate", spec).exit_code == 0  # its placeholders warn (tests/cli/test_placeholders.py)
    refused = run("build", spec, "-o", tmp_path / "out")
    assert refused.exit_code == 1 and "is a placeholder" in refused.stderr and not (tmp_path / "out").exists()
    spec.write_text(real_pins(text, tmp_path))
    built = run("build", spec, "-o", tmp_path / "out")
    assert built.exit_code == 0, built.output
    assert (tmp_path / "out/default/fraud/rollout.yaml").exists()


def test_init_refuses_to_overwrite(tmp_path):
    spec = tmp_path / "x.yaml"
    spec.write_text("mine\n")
    result = run("init", "fraud", "-o", spec)
    assert result.exit_code == 1 and "refusing to overwrite" in result.stderr
    assert spec.read_text() == "mine\n"


def test_init_rejects_a_bad_name(tmp_path):
    result = run("init", "Fraud_Model", "-o", tmp_path / "x.yaml")
    assert result.exit_code == 2 and "DNS-1123" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_build_verify_checks_kubernetes_strict_schemas(tmp_path, monkeypatch):
    ok = run("build", ROOT / "examples", "-o", tmp_path / "out", "--verify")
    assert ok.exit_code == 0, ok.output
    # A renderer bug --verify exists to catch: a field the Kubernetes strict schemas do not
    # know, in a pod template that mlspec's own invariants accept. The real kubernetes-validate
    # must reject it; the renderer, not the validator, is what is changed here.
    real_render = render.render

    def with_unknown_field(release):
        objects = real_render(release)
        objects["rollout.yaml"]["spec"]["template"]["spec"]["containers"][0]["bogusField"] = 1
        return objects

    monkeypatch.setattr(render, "render", with_unknown_field)
    bad = run("build", MINIMAL, "-o", tmp_path / "bad", "--verify")
    assert bad.exit_code == 1, bad.output
    line = next(line for line in bad.stderr.splitlines() if "Kubernetes schema" in line)
    assert line.startswith("default/churn/rollout.yaml:1:1: error: Kubernetes schema: Rollout pod template: "
                           "spec.template.spec.containers.0:"), bad.stderr
    assert "bogusField" in line
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
    unchecked = run("build", MINIMAL, "-o", tmp_path / "unchecked")  # without --verify it is not validated
    assert unchecked.exit_code == 0, unchecked.output


def test_one_sided_resources_copy_the_other_side():
    text = MINIMAL.read_text().replace("  serving:\n", "  serving:\n    resources: {requests: {cpu: \"4\", memory: 8Gi}}\n")
    from mlspec import compile_spec

    rollout = yaml.safe_load(compile_spec(text, "r.yaml")["default/churn/rollout.yaml"])
    resources = rollout["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}


def test_a_gpu_limit_alone_keeps_the_cpu_and_memory_defaults():
    text = MINIMAL.read_text().replace("  serving:\n", "  serving:\n    resources: {limits: {nvidia.com/gpu: 1, memory: 6Gi}}\n")
    from mlspec import compile_spec

    rollout = yaml.safe_load(compile_spec(text, "r.yaml")["default/churn/rollout.yaml"])
    resources = rollout["spec"]["template"]["spec"]["containers"][0]["resources"]
    # cpu keeps both defaults; memory takes the given limit on both sides; the GPU is added with request = limit
    assert resources == {"requests": {"cpu": "500m", "memory": "6Gi", "nvidia.com/gpu": "1"},
                         "limits": {"cpu": "1", "memory": "6Gi", "nvidia.com/gpu": "1"}}


def test_unwritable_output_is_reported_not_an_internal_error(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should go")
    result = run("build", MINIMAL, "-o", blocker / "deploy")
    assert result.exit_code == 1, result.output
    assert "error: cannot write" in result.stderr and "internal error" not in result.stderr
    assert blocker.read_text().startswith("a file")


def _batch(directory: Path, count: int, broken: int | None = None) -> Path:
    """`count` specs (enough for worker processes); spec number `broken` invalid."""
    directory.mkdir()
    text = MINIMAL.read_text()
    for i in range(count):
        spec = text.replace("name: churn", f"name: churn-{i}")
        (directory / f"m{i}.yaml").write_text(spec.replace("seed: 7", "seed: x") if i == broken else spec)
    return directory


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


def test_a_batch_with_one_bad_spec_writes_nothing_even_from_workers(tmp_path):
    good = _batch(tmp_path / "good", 12)
    out = tmp_path / "out"
    assert run("build", good, "-o", out, "-j", "2").exit_code == 0
    before = _snapshot(out)
    bad = _batch(tmp_path / "bad", 12, broken=11)
    for spec in bad.glob("*.yaml"):  # every good spec changes: its workers stage new output
        spec.write_text(spec.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    result = run("build", bad, "-o", out, "-j", "2")
    assert result.exit_code == 1 and "m11.yaml" in result.stderr
    assert _snapshot(out) == before  # no stage left behind, nothing swapped in
    fresh = tmp_path / "fresh" / "deploy"
    assert run("build", bad, "-o", fresh, "-j", "2").exit_code == 1
    assert not (tmp_path / "fresh").exists()  # directories made for the stages are gone too


def test_strict_warnings_fail_a_batch_without_writing(tmp_path):
    specs = _batch(tmp_path / "specs", 10)
    for spec in specs.glob("*.yaml"):
        # steps two pods cannot give (the default steps are ones they can: docs/defaults.md)
        spec.write_text(spec.read_text().replace(
            "  serving:\n", "  rollout: {steps: [{setWeight: 10}, {pause: 5m}]}\n  serving:\n    replicas: 2\n", 1))
    out = tmp_path / "out"
    result = run("build", specs, "-o", out, "-j", "2", "--strict")
    assert result.exit_code == 1 and "setWeight" in result.stderr, result.output
    assert not out.exists()
    assert run("build", specs, "-o", out, "-j", "2").exit_code == 0  # warnings alone do not fail
    assert len(list(out.glob("*/churn-*/kustomization.yaml"))) == 10


def test_check_compares_bytes_and_reads_crlf_checkouts_as_git_does(tmp_path):
    out = tmp_path / "out"
    assert run("build", MINIMAL, "-o", out).exit_code == 0
    rollout = next(out.glob("*/churn/rollout.yaml"))
    rollout.write_bytes(rollout.read_bytes().replace(b"\n", b"\r\n"))  # core.autocrlf on Windows
    assert run("build", MINIMAL, "-o", out, "--check").exit_code == 0
    rollout.write_bytes(rollout.read_bytes() + b"\xff\xfe")  # not UTF-8: different, not a crash
    result = run("build", MINIMAL, "-o", out, "--check")
    assert result.exit_code == 1 and "rollout.yaml:1:1: error: changed" in result.stderr, result.output


def test_a_damaged_ledger_fails_only_the_spec_that_needs_it(tmp_path):
    specs = _batch(tmp_path / "specs", 10)
    out = tmp_path / "out"
    assert run("build", specs, "-o", out, "-j", "2").exit_code == 0
    (out / "_ledger" / "churn-3.yaml").write_text("kind: [unclosed\n")
    (out / "_ledger" / "retired-model.yaml").write_text("not: a ledger\n")  # no spec needs it: ignored
    before = _snapshot(out)
    result = run("build", specs, "-o", out, "-j", "2")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    # positioned where the YAML breaks: the end of the unclosed flow sequence
    assert len(errors) == 1 and "_ledger/churn-3.yaml:2:1: error: the ledger is damaged: invalid YAML" in errors[0], \
        result.stderr
    assert _snapshot(out) == before
    (specs / "m3.yaml").unlink()
    assert run("build", specs, "-o", out, "-j", "2", "--check").exit_code == 0


def test_recorded_metrics_are_read_on_demand(tmp_path):
    from mlspec.records import ledger, releases

    metrics = releases.RecordedMetrics(tmp_path)
    assert dict(metrics) == {} and metrics.get("churn") is None  # no ledger directory yet
    def entry(version: str, **more: object) -> dict[str, object]:  # the shape `ledger.record` writes
        pins = {"artifact": {}, "code": {}, "data": {"uri": "s3://d", "version": "v1"}, "seed": 1, "environment": {}}
        made = {"version": version, "source": "churn.yaml", "specDigest": "sha256:0", "pins": pins, "spec": {}, **more}
        return {**made, "digest": ledger.entry_digest(made)}  # sealed: an unsealed entry is refused

    lg = ledger.Ledger("churn", "1.0.0", [entry("1.0.0", metrics={"f1": 0.9}), entry("0.9.0")])
    (tmp_path / "_ledger").mkdir()
    (tmp_path / ledger.relpath("churn")).write_text(ledger.dump(lg))
    (tmp_path / ledger.relpath("idle")).write_text(ledger.dump(ledger.Ledger("idle")))
    metrics = releases.RecordedMetrics(tmp_path)
    assert metrics["churn"] == {"1.0.0": {"f1": 0.9}}
    assert "idle" not in metrics and list(metrics) == ["churn"] and len(metrics) == 1
    assert releases.RecordedMetrics(None).get("churn") is None
