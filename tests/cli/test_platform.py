"""The platform file: defaults merged under every spec, policy, positions, digests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli.main import main

H = "a" * 64
REG = "registry.acme.example"
PLATFORM = f"""\
apiVersion: mlspec.dev/v1alpha1
kind: Platform
spec:
  defaults:
    serving:
      image: {REG}/seldonio/mlserver@sha256:{H}
      storageInitializer: {{image: {REG}/kserve/storage-initializer@sha256:{H}}}
      securityContext: {{runAsUser: 10001, runAsGroup: 10001}}
    training:
      environment: {{image: {REG}/ml/train@sha256:{H}}}
    evaluation:
      image: {REG}/ml/eval@sha256:{H}
      gateImage: {REG}/ml/gate@sha256:{H}
    rollout:
      analysis: {{prometheus: {{address: "http://prometheus.monitoring:9090"}}}}
  policy:
    allowedRegistries: [{REG}/]
    requireOwner: true
  environments:
    prod:
      defaults: {{serving: {{replicas: 4}}}}
      policy: {{minReplicas: 3}}
    staging: {{}}
"""
# A spec that omits every platform-provided field (images, initializer, user, Prometheus).
SPEC = f"""\
apiVersion: mlspec.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: NAME
  owner: team-a
spec:
  model:
    version: "1.0.0"
    format: sklearn
    artifact: {{uri: "s3://models/NAME/1.0.0/model.joblib", digest: "sha256:{H}"}}
  training:
    code: {{repo: "https://github.com/acme/NAME", commit: c25581cc75e0ebf2bbe0e564efcdfeb69f198bab}}
    data: {{uri: "gs://data/NAME", version: "2026-11-01"}}
    seed: 7
  evaluation:
    dataset: {{uri: "gs://data/NAME-holdout", version: "2026-11-01"}}
    thresholds:
      - {{metric: f1, min: 0.8}}
  rollout:
    analysis:
      metrics:
        - {{name: error-rate, query: "sum(rate(errors[5m]))", max: 0.05}}
  environments:
    staging: {{}}
    prod: {{}}
"""


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _repo(root: Path, platform: str | None = PLATFORM, names: tuple[str, ...] = ("churn", "fraud", "recs")) -> Path:
    (root / ".git").mkdir(parents=True)
    if platform is not None:
        (root / ".mlspec").mkdir()
        (root / ".mlspec" / "platform.yaml").write_text(platform)
    (root / "models").mkdir()
    for name in names:
        (root / "models" / f"{name}.yaml").write_text(SPEC.replace("NAME", name))
    return root


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = _repo(tmp_path / "repo")
    monkeypatch.chdir(root)  # diagnostics name the files relative to here
    return root


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _container(rollout: dict, name: str, init: bool = False) -> dict:
    pod = rollout["spec"]["template"]["spec"]
    return next(c for c in pod["initContainers" if init else "containers"] if c["name"] == name)


def test_three_specs_omitting_platform_fields_build_with_the_defaults_in_place(repo):
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 0, result.output
    for env, replicas in (("staging", 2), ("prod", 4)):  # prod: the environment's platform default
        for name in ("churn", "fraud", "recs"):
            rollout = _load(repo / "out" / env / name / "rollout.yaml")
            assert rollout["spec"]["replicas"] == replicas
            pod = rollout["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsUser"] == 10001
            assert pod["containers"][0]["image"] == f"{REG}/seldonio/mlserver@sha256:{H}"
            images = {c["image"] for c in pod["initContainers"]}
            assert f"{REG}/kserve/storage-initializer@sha256:{H}" in images
            job = _load(repo / "out" / env / name / "job-eval.yaml")
            job_pod = job["spec"]["template"]["spec"]
            job_images = {c["image"] for c in job_pod["containers"] + job_pod.get("initContainers", [])}
            assert {f"{REG}/ml/eval@sha256:{H}", f"{REG}/ml/gate@sha256:{H}"} <= job_images
            online = _load(repo / "out" / env / name / "analysistemplate-online.yaml")
            assert online["spec"]["metrics"][0]["provider"]["prometheus"]["address"] == "http://prometheus.monitoring:9090"


def test_the_specs_own_value_wins_over_both_platform_layers(repo):
    spec = repo / "models" / "recs.yaml"
    spec.write_text(spec.read_text().replace("  evaluation:\n", "  serving: {replicas: 5, securityContext: "
                                             "{runAsUser: 2000, runAsGroup: 2000}}\n  evaluation:\n", 1))
    assert run("build", "models", "-o", "out").exit_code == 0
    for env in ("staging", "prod"):
        rollout = _load(repo / "out" / env / "recs" / "rollout.yaml")
        assert rollout["spec"]["replicas"] == 5
        assert rollout["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 2000
        # the rest of `serving` still comes from the platform
        assert rollout["spec"]["template"]["spec"]["containers"][0]["image"].startswith(REG)
    assert _load(repo / "out" / "prod" / "churn" / "rollout.yaml")["spec"]["replicas"] == 4


def test_the_specs_environment_overlay_wins_over_the_platforms_environment_defaults(repo):
    spec = repo / "models" / "recs.yaml"
    spec.write_text(spec.read_text().replace("    prod: {}", "    prod: {serving: {replicas: 7}}"))
    assert run("build", "models", "-o", "out").exit_code == 0
    assert _load(repo / "out" / "prod" / "recs" / "rollout.yaml")["spec"]["replicas"] == 7


def test_the_platform_digest_is_in_the_lineage_and_on_no_object(repo):
    import hashlib

    digest = "sha256:" + hashlib.sha256((repo / ".mlspec" / "platform.yaml").read_bytes()).hexdigest()
    assert run("build", "models", "-o", "out").exit_code == 0
    # stable bytes: a platform edit changes only the objects whose behaviour it changes
    for path in (repo / "out" / "prod" / "churn").glob("*.yaml"):
        if path.name != "configmap-lineage.yaml":
            assert digest not in path.read_text() and "platform-digest" not in path.read_text(), path.name
    lineage = _load(repo / "out" / "prod" / "churn" / "configmap-lineage.yaml")
    assert f'"platformDigest": "{digest}"' in next(iter(lineage["data"].values()))


def test_platform_none_ignores_the_file_and_output_without_a_platform_has_no_digest(repo, tmp_path):
    result = run("validate", "models", "--platform", "none")
    assert result.exit_code == 1
    assert "models/churn.yaml:" in result.stderr and "missing required field `serving`" in result.stderr
    other = _repo(tmp_path / "plain", platform=None, names=())
    spec = SPEC.replace("NAME", "solo").replace("  evaluation:\n", f"  serving: {{image: \"{REG}/s@sha256:{H}\", "
                                               f"storageInitializer: {{image: \"{REG}/i@sha256:{H}\"}}}}\n  evaluation:\n", 1)
    spec = spec.replace("    seed: 7\n", f"    seed: 7\n    environment: {{image: \"{REG}/t@sha256:{H}\"}}\n")
    spec = spec.replace("    dataset:", f"    image: \"{REG}/e@sha256:{H}\"\n    dataset:")
    spec = spec.replace("  rollout:\n", "  rollout:\n    analysis:\n      prometheus: {address: \"http://p:9090\"}\n", 1)
    spec = spec.replace("    analysis:\n      metrics:", "      metrics:")
    (other / "models" / "solo.yaml").write_text(spec)
    result = run("build", other / "models", "-o", other / "out")
    assert result.exit_code == 0, result.output
    assert "platform-digest" not in (other / "out" / "prod" / "solo" / "rollout.yaml").read_text()


def test_an_explicit_platform_file_is_used(repo, tmp_path):
    moved = tmp_path / "elsewhere.yaml"
    (repo / ".mlspec" / "platform.yaml").rename(moved)
    assert run("validate", "models").exit_code == 1
    result = run("validate", "models", "--platform", moved)
    assert result.exit_code == 0, result.output


def test_the_batch_path_in_worker_processes_gets_the_parsed_platform(repo):
    for i in range(9):  # at least specfiles.PARALLEL_FROM specs: a process pool
        (repo / "models" / f"m{i}.yaml").write_text(SPEC.replace("NAME", f"m{i}"))
    result = run("build", "models", "-o", "out", "-j", "2")
    assert result.exit_code == 0, result.output
    assert _load(repo / "out" / "prod" / "m8" / "rollout.yaml")["spec"]["replicas"] == 4


def test_validate_checks_the_platform_file_itself(repo):
    result = run("validate", ".mlspec/platform.yaml")
    assert result.exit_code == 0 and "1 platform file(s) valid" in result.stderr


# --- bad platform files: positioned in the platform file, never a traceback ----------


@pytest.mark.parametrize("edit, where, message", [
    (lambda t: t.replace("kind: Platform", "kind: Platform\n  oops: [", 1), ".mlspec/platform.yaml:3:", "invalid YAML"),
    (lambda t: t.replace("    requireOwner: true", "    requireOwnr: true"), ".mlspec/platform.yaml:18:5:",
     "unknown field `requireOwnr` in `spec.policy` (did you mean `requireOwner`?)"),
    (lambda t: t.replace(f"ml/gate@sha256:{H}", "ml/gate:1.0"), ".mlspec/platform.yaml:13:18:",
     "`spec.defaults.evaluation.gateImage`: image 'registry.acme.example/ml/gate:1.0' is not pinned by digest"),
    (lambda t: t.replace("replicas: 4", "replicas: -1"), ".mlspec/platform.yaml:21:38:",
     "`spec.environments.prod.defaults.serving.replicas`"),
    (lambda t: t.replace("    serving:\n", "    serving:\n      replicaz: 3\n", 1), ".mlspec/platform.yaml:6:7:",
     "unknown field `replicaz` in `spec.defaults.serving`"),
    (lambda t: t.replace("kind: Platform", "kind: Platfrom"), ".mlspec/platform.yaml:2:7:", "`kind`"),
])
def test_bad_platform_input_is_positioned_in_the_platform_file(repo, edit, where, message):
    path = repo / ".mlspec" / "platform.yaml"
    path.write_text(edit(path.read_text()))
    for args in (("validate", "models"), ("build", "models", "-o", "out"), ("validate", ".mlspec/platform.yaml")):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(where), result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert not (repo / "out").exists()


def test_an_error_in_a_merged_value_points_into_the_file_it_came_from(repo):
    # the spec's own bad value: positioned in the spec
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("    seed: 7", "    seed: seven"))
    result = run("validate", "models")
    assert result.exit_code == 1
    assert re.search(r"^models/churn\.yaml:14:11: error: .*spec\.training\.seed", result.stderr, re.M), result.stderr
    # a platform default that makes specs invalid (weights going down): positioned at the platform's
    # line, for each spec that takes it
    spec.write_text(spec.read_text().replace("    seed: seven", "    seed: 7"))
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace(
        "    rollout:\n", "    rollout:\n      steps: [{setWeight: 50}, {setWeight: 20}]\n", 1))
    result = run("validate", "models")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith(".mlspec/platform.yaml:15:44: error:") for line in lines), lines
    assert "canary weight 20 is lower than the previous step's" in lines[0]


# --- policy: one test per rule, violated and satisfied --------------------------------

ROLLBACK = (f'  rollback:\n    previous:\n      version: "0.9.0"\n      artifact: {{uri: "s3://models/NAME/0.9.0/m.joblib", '
            f'digest: "sha256:{H}"}}\n      dataVersion: "2026-10-01"\n')


def _spec_edit(old: str, new: str):
    return lambda t: t.replace(old, new, 1)


def _both(*edits):
    def apply(t: str) -> str:
        for edit in edits:
            t = edit(t)
        return t
    return apply


NO_OP = _spec_edit("", "")
# rule line in the platform, violating edit of the spec, where the error points, message, satisfying edit
POLICY_CASES = {
    "allowedRegistries": ("    allowedRegistries: [registry.acme.example/]",
                          _spec_edit("  evaluation:\n", f'  serving: {{image: "docker.io/x/y@sha256:{H}"}}\n  evaluation:\n'),
                          "models/churn.yaml:15:20", "image `docker.io/x/y@sha256:", NO_OP),
    "requireOwner": ("    requireOwner: true", _spec_edit("  owner: team-a\n", ""), "models/churn.yaml:3:1",
                     "`metadata.owner` is required", NO_OP),
    "requireDataDigest": ("    requireDataDigest: true", NO_OP, "models/churn.yaml:3:1",
                          "`spec.training.data.digest` is required",
                          _spec_edit('version: "2026-11-01"}', f'version: "2026-11-01", digest: "sha256:{H}"}}')),
    "minReplicas": ("    minReplicas: 2", _spec_edit("  evaluation:\n", "  serving: {replicas: 1}\n  evaluation:\n"),
                    "models/churn.yaml:15:23", "`spec.serving.replicas` is 1; at least 2 required", NO_OP),
    "maxFirstStepWeight": ("    maxFirstStepWeight: 25", _spec_edit("  rollout:\n", "  rollout:\n    steps: [{setWeight: 50}]\n"),
                           "models/churn.yaml:20:25", "the first canary step (setWeight 50) sends 50",
                           _spec_edit("  rollout:\n", "  rollout:\n    trafficRouting: {nginx: {host: churn.acme.example}}\n"
                                      "    steps: [{setWeight: 20}, {setWeight: 60}]\n")),
    "requireRelativeThreshold": ("    requireRelativeThreshold: true", _spec_edit("  environments:\n", ROLLBACK + "  environments:\n"),
                                 "models/churn.yaml:18:7", "a `maxDrop` threshold (relative to it) is required",
                                 _both(_spec_edit("  environments:\n", ROLLBACK + "  environments:\n"),
                                       _spec_edit("{metric: f1, min: 0.8}", "{metric: f1, maxDrop: 0.01}"))),
    "requireTrafficRouting": ("    requireTrafficRouting: true", NO_OP, "models/churn.yaml:20:5",
                              "exact traffic weights are required",
                              _spec_edit("  rollout:\n", "  rollout:\n    trafficRouting: {nginx: {host: churn.acme.example}}\n")),
    "maxPeakPods": ("    maxPeakPods: 6", _spec_edit("  evaluation:\n", "  serving: {replicas: 6}\n  evaluation:\n"),
                    "models/churn.yaml:15:23", "the rollout runs up to 8 pod(s) at once (6 replicas + 2 surge while "
                    "pods are replaced); at most 6 allowed",
                    _spec_edit("  evaluation:\n", "  serving: {replicas: 4}\n  evaluation:\n")),
    "maxPeakExtendedResources": ("    maxPeakExtendedResources: {nvidia.com/gpu: 8}",
                                 _spec_edit("  evaluation:\n", "  serving: {replicas: 6, resources: {limits: "
                                            "{nvidia.com/gpu: 2}}}\n  evaluation:\n"),
                                 "models/churn.yaml:15:37", "the rollout requests 12 nvidia.com/gpu at its peak (6 "
                                 "pod(s): no pod beyond the 6 replica(s): 1 replaced at a time); at most 8 allowed",
                                 _spec_edit("  evaluation:\n", "  serving: {replicas: 4, resources: {limits: "
                                            "{nvidia.com/gpu: 2}}}\n  evaluation:\n")),
}


def _policy_repo(root: Path, rule_line: str) -> Path:
    platform = PLATFORM.replace("    allowedRegistries: [registry.acme.example/]\n    requireOwner: true\n", rule_line + "\n")
    platform = platform.replace("      policy: {minReplicas: 3}\n", "")  # only the rule under test
    return _repo(root, platform, names=("churn",))


def _build_with_rule(tmp_path, monkeypatch, rule_line, edit):
    """A one-spec repo whose platform has only `rule_line`, the spec edited by `edit`, built."""
    repo = _policy_repo(tmp_path / "repo", rule_line)
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(edit(spec.read_text()))
    return repo, run("build", "models", "-o", "out")


@pytest.mark.parametrize("rule", sorted(POLICY_CASES))
def test_a_policy_violation_is_positioned_in_the_spec_and_names_the_rule_and_its_platform_line(tmp_path, monkeypatch, rule):
    rule_line, violate, where, message, _ = POLICY_CASES[rule]
    repo, result = _build_with_rule(tmp_path, monkeypatch, rule_line, violate)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"{where}: error: in environment `") for line in lines), result.stderr
    assert all(message in line and line.endswith(f"(policy {rule}, .mlspec/platform.yaml:17) [platform-policy]")
               for line in lines), lines
    assert not (repo / "out").exists()


@pytest.mark.parametrize("rule", sorted(POLICY_CASES))
def test_a_policy_that_is_met_builds(tmp_path, monkeypatch, rule):
    rule_line, _, _, _, satisfy = POLICY_CASES[rule]
    _, result = _build_with_rule(tmp_path, monkeypatch, rule_line, satisfy)
    assert result.exit_code == 0, result.output


def test_an_environment_relaxes_and_another_tightens_a_global_rule(tmp_path, monkeypatch):
    platform = PLATFORM.replace("      policy: {minReplicas: 3}",
                                "      policy: {minReplicas: 3, requireOwner: false}\n"
                                "    staging:\n      policy: {requireDataDigest: true}").replace("    staging: {}\n", "")
    repo = _repo(tmp_path / "repo", platform, names=("churn",))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(spec.read_text().replace("  owner: team-a\n", ""))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    # prod relaxes requireOwner; staging keeps it and adds requireDataDigest
    assert lines == [
        "models/churn.yaml:3:1: error: in environment `staging`: `metadata.owner` is required "
        "(policy requireOwner, .mlspec/platform.yaml:18) [platform-policy]",
        "models/churn.yaml:3:1: error: in environment `staging`: `spec.training.data.digest` is required "
        "(policy requireDataDigest, .mlspec/platform.yaml:24) [platform-policy]",
    ], lines
    # prod tightens minReplicas (3) over the platform's default of 4 replicas: a spec asking for 2 fails there only
    spec.write_text(spec.read_text().replace("  owner: team-a\n", "").replace(
        "    prod: {}", "    prod: {serving: {replicas: 2}}").replace("metadata:\n", "metadata:\n  owner: team-a\n")
        .replace('version: "2026-11-01"}', f'version: "2026-11-01", digest: "sha256:{H}"}}', 1))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "models/churn.yaml:25:32: error: in environment `prod`: `spec.serving.replicas` is 2; at least 3 required "
        "(policy minReplicas, .mlspec/platform.yaml:22) [platform-policy]"], result.stderr
    assert not (repo / "out").exists()


# --- a platform change ---------------------------------------------------------------


def _drifted(result, out: Path) -> set[str]:
    """The model directories `build --check --format json` names (`OUT/<env>/<name>/...`): every
    drifted file is in the JSON report, where the text report bounds its lines."""
    import json

    parts = [Path(f["path"]).relative_to(out).parts for f in json.loads(result.stdout)["files"]]
    return {"/".join(p[:2]) for p in parts if p[0] not in ("_ledger", "_attestations")}


def test_a_platform_change_makes_build_check_name_exactly_the_models_built_with_it(repo, tmp_path):
    out = tmp_path / "out"
    assert run("build", "models", "-o", out).exit_code == 0
    (repo / "models" / "solo.yaml").write_text((repo / "models" / "churn.yaml").read_text().replace("name: churn", "name: solo"))
    assert run("build", "models/solo.yaml", "-o", out, "--platform", "none").exit_code == 1  # needs the platform
    assert run("build", "models", "-o", out, "--check").exit_code == 1  # solo is not built yet
    (repo / "models" / "solo.yaml").unlink()
    assert run("build", "models", "-o", out, "--check").exit_code == 0
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace("replicas: 4", "replicas: 5"))
    result = run("build", "models", "-o", out, "--check", "--format", "json")
    assert result.exit_code == 1
    every = {f"{env}/{name}" for env in ("prod", "staging") for name in ("churn", "fraud", "recs")}
    assert _drifted(result, out) == every
    # a change anywhere in the file (a comment too) changes its digest: every model built with it is named
    platform.write_text(platform.read_text().replace("replicas: 5", "replicas: 4") + "# reviewed\n")
    result = run("build", "models", "-o", out, "--check", "--format", "json")
    assert result.exit_code == 1 and _drifted(result, out) == every
    platform.write_text(platform.read_text().replace("# reviewed\n", ""))
    assert run("build", "models", "-o", out, "--check").exit_code == 0


# --- schema and init -----------------------------------------------------------------


def test_schema_platform_is_generated_from_the_models():
    import json

    from mlspec.platform import platformfile

    result = run("schema", "--platform")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["properties"]["kind"]["const"] == "Platform"
    policy = schema["definitions"]["Policy"]["properties"]
    assert set(policy) == {"allowedRegistries", "requireOwner", "requireDataDigest", "minReplicas",
                           "maxFirstStepWeight", "requireRelativeThreshold", "requireTrafficRouting", "requireSignature",
                           "maxPeakPods", "maxPeakExtendedResources"}
    serving = schema["definitions"]["PartialServing"]
    assert "required" not in serving and {"image", "replicas", "storageInitializer"} <= set(serving["properties"])
    # the partial copy follows the spec's model: a field added there is offered here
    from mlspec.spec.model import Serving
    assert {f.alias for f in Serving.model_fields.values()} == set(serving["properties"])
    assert result.stdout == platformfile.schema_text()


def test_init_writes_the_platform_schema_beside_the_spec_schema_when_a_platform_file_exists(repo):
    # (the platform's `rollout.analysis` default opens a section each spec completes with its metrics,
    # which a scaffold cannot know: without it, the scaffold validates as written)
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(re.sub(r"    rollout:\n.*\n", "", platform.read_text()))
    result = run("init", "churn2", "-o", "models/churn2.yaml")
    assert result.exit_code == 0, result.output
    assert (repo / ".mlspec" / "schema.json").is_file()
    assert (repo / ".mlspec" / "platform.schema.json").read_text() == run("schema", "--platform").stdout
    # the scaffold leaves out what the platform provides (every image, the initializer) and validates with it
    text = (repo / "models" / "churn2.yaml").read_text()
    assert not re.search(r"^\s*(image|storageInitializer|environment):", text, re.M), text
    assert "runtime: mlserver" in text and "seed: 42" in text
    assert run("validate", "models/churn2.yaml").exit_code == 0
    assert run("validate", "models/churn2.yaml", "--platform", "none").exit_code == 1


def test_init_platform_scaffolds_a_valid_platform_file_once(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run("init", "--platform").exit_code == 0
    assert run("validate", ".mlspec/platform.yaml").exit_code == 0
    again = run("init", "--platform")
    assert again.exit_code == 1 and "file exists; refusing to overwrite it" in again.stderr
    assert run("init").exit_code == 2


def test_diff_platform_lists_the_models_and_objects_a_platform_change_changes(tmp_path, monkeypatch):
    import json
    import subprocess

    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    _repo_files = _repo(tmp_path / "scratch")  # the same files, then moved into the real repository
    for rel in (".mlspec/platform.yaml", "models/churn.yaml", "models/fraud.yaml", "models/recs.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text((_repo_files / rel).read_text())
    # recs sets its own prod replicas: the platform's prod default does not reach it
    recs = root / "models" / "recs.yaml"
    recs.write_text(recs.read_text().replace("    prod: {}", "    prod: {serving: {replicas: 6}}"))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    monkeypatch.chdir(root)
    result = run("diff", "--platform", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"] == {}  # unchanged: nothing changes
    platform = root / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace("replicas: 4", "replicas: 5"))
    result = run("diff", "--platform", "--format", "json")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert set(models) == {"churn", "fraud"}
    assert "prod/churn/rollout.yaml" in models["churn"] and not any(p.startswith("staging/") for p in models["churn"])
    text = run("diff", "--platform").stdout
    assert text.startswith("platform change since HEAD: 2 model(s) change\n")


def test_release_validates_with_the_repositorys_platform_file(repo, tmp_path):
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"weights")
    args = ("release", "models/churn.yaml", "--version", "1.1.0", "--artifact", "s3://models/churn/1.1.0/model.joblib",
            "--digest-of", artifact, "--data-version", "2026-12-01", "--seed", "7",
            "--commit", "1" * 40, "--ledger", "none")
    result = run(*args)
    assert result.exit_code == 0, result.output
    text = (repo / "models" / "churn.yaml").read_text()
    assert 'version: "1.1.0"' in text and "image:" not in text  # still leaves the platform's fields out
    assert run("validate", "models/churn.yaml").exit_code == 0
