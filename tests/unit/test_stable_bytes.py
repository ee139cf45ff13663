"""Stable bytes (DESIGN.md "Reviewable output"): an object's bytes change only when what
the cluster does with it changes, or when its release does (its release stamps).

One test per row of DESIGN's table, on a spec with two environments built with a platform
file, each asserting the exact set of files whose bytes change: every other file is
byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES

from mlspec.pipeline import core
from mlspec.pipeline.resolve import NO_CONTEXT
from mlspec.platform import platformfile

MINIMAL = next(p for p in EXAMPLES if p.name == "minimal.yaml").read_text()
ENVS = ("staging", "prod")
# The minimal example with online analysis and two environments.
SPEC = MINIMAL.replace("      - {metric: f1, min: 0.8}\n", """      - {metric: f1, min: 0.8}
  rollout:
    analysis:
      prometheus: {address: http://prometheus.monitoring:9090}
      metrics:
        - {name: error-rate, query: "sum(rate(errors[5m]))", max: 0.01}
  environments:
    staging: {namespace: churn-staging, serving: {replicas: 2}}
    prod: {namespace: churn, serving: {replicas: 3}}
""")
PLATFORM = """apiVersion: mlspec.dev/v1alpha1
kind: Platform
spec:
  defaults:
    serving:
      env: [{name: LOG_LEVEL, value: info}]
"""
# What the threshold row lets change, per environment (the offline AnalysisTemplate and the
# Role name the evaluation Job, whose name is keyed on the thresholds).
EVALUATION = ("configmap-gate.yaml", "job-eval.yaml", "analysistemplate-offline-eval.yaml",
              "role-eval-reader.yaml", "configmap-lineage.yaml")
# Release stamps: the version label and the pin annotations.
STAMPS = {"app.kubernetes.io/version", "mlspec.dev/model-version", "mlspec.dev/artifact-digest",
          "mlspec.dev/data-version", "mlspec.dev/seed", "mlspec.dev/code-commit",
          "mlspec.dev/feature-pipeline-version", "mlspec.dev/owner"}


def _build(tmp_path: Path, spec: str = SPEC, platform: str = PLATFORM) -> dict[str, str]:
    path = tmp_path / f"platform-{abs(hash(platform))}.yaml"
    path.write_text(platform)
    context = platformfile.with_platform(NO_CONTEXT, platformfile.read(str(path)))
    return core.to_files(core.compile_releases(spec.encode(), "churn.yaml", context=context), "churn.yaml")


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert set(before) == set(after)  # no file appears or disappears in any row
    return {path for path in before if before[path] != after[path]}


def _files(names: tuple[str, ...] | list[str], envs: tuple[str, ...] = ENVS) -> set[str]:
    return {f"{env}/churn/{name}" for env in envs for name in names}


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _job_name(files: dict[str, str], env: str) -> str:
    return str(yaml.safe_load(files[f"{env}/churn/job-eval.yaml"])["metadata"]["name"])


@pytest.fixture
def before(tmp_path: Path) -> dict[str, str]:
    return _build(tmp_path)


def test_a_threshold_changes_the_gate_the_evaluation_job_what_names_it_and_the_lineage(tmp_path, before):
    after = _build(tmp_path, _edit(SPEC, "{metric: f1, min: 0.8}", "{metric: f1, min: 0.85}"))
    assert _changed(before, after) == _files(EVALUATION)
    for env in ENVS:  # a new evaluation: a new Job
        assert _job_name(after, env) != _job_name(before, env)


def test_replicas_in_one_environment_change_its_rollout_and_lineage_only(tmp_path, before):
    after = _build(tmp_path, _edit(SPEC, "prod: {namespace: churn, serving: {replicas: 3}}",
                                   "prod: {namespace: churn, serving: {replicas: 4}}"))
    assert _changed(before, after) == _files(["rollout.yaml", "configmap-lineage.yaml"], ("prod",))
    # the neighbour: the other environment is byte-identical, and no new evaluation runs
    assert all(before[p] == after[p] for p in before if p.startswith("staging/"))
    assert _job_name(after, "prod") == _job_name(before, "prod")


def test_replicas_the_disruption_budget_follows_change_it_too(tmp_path, before):
    # One replica has no PodDisruptionBudget (it would block every drain): 2 -> 1 removes it,
    # so the row's "PodDisruptionBudget if its numbers follow" is a file that disappears.
    after = _build(tmp_path, _edit(SPEC, "staging: {namespace: churn-staging, serving: {replicas: 2}}",
                                   "staging: {namespace: churn-staging, serving: {replicas: 1}}"))
    assert set(before) - set(after) == {"staging/churn/poddisruptionbudget.yaml"} and set(after) <= set(before)
    changed = {p for p in after if before[p] != after[p]}
    assert changed == _files(["rollout.yaml", "configmap-lineage.yaml", "kustomization.yaml"], ("staging",))


def test_an_online_metric_changes_the_online_analysis_and_the_lineage(tmp_path, before):
    after = _build(tmp_path, _edit(SPEC, "max: 0.01}", "max: 0.02}"))
    assert _changed(before, after) == _files(["analysistemplate-online.yaml", "configmap-lineage.yaml"])


def test_a_serving_env_var_in_the_spec_changes_the_rollout_and_the_lineage(tmp_path, before):
    after = _build(tmp_path, _edit(SPEC, "  serving:\n", "  serving:\n    env: [{name: THREADS, value: \"4\"}]\n"))
    assert _changed(before, after) == _files(["rollout.yaml", "configmap-lineage.yaml"])


def test_a_serving_env_var_in_the_platform_file_changes_the_rollout_and_the_lineage(tmp_path, before):
    after = _build(tmp_path, platform=_edit(PLATFORM, "value: info", "value: debug"))
    assert _changed(before, after) == _files(["rollout.yaml", "configmap-lineage.yaml"])
    lineage = yaml.safe_load(after["prod/churn/configmap-lineage.yaml"])["data"]["lineage.json"]
    assert '"platformDigest": "sha256:' in lineage  # where the platform digest lives now


def _release(text: str) -> str:
    text = _edit(text, 'version: "1.0.0"', 'version: "1.1.0"').replace("churn/1.0.0/", "churn/1.1.0/")
    text = _edit(text, "f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21", "ab" * 32)
    text = _edit(text, "c25581cc75e0ebf2bbe0e564efcdfeb69f198bab", "cd" * 20)
    return _edit(text, 'data: {uri: gs://data/churn, version: "2026-11-01"}',
                 'data: {uri: gs://data/churn, version: "2026-12-01"}')


def _unstamped(node: Any, job_names: set[str]) -> Any:
    """`node` without release stamps; the evaluation Job's name (a new release is a new
    evaluation: the Role names its Job) becomes one placeholder."""
    if isinstance(node, dict):
        return {k: _unstamped(v, job_names) for k, v in node.items() if k not in STAMPS}
    if isinstance(node, list):
        return [_unstamped(v, job_names) for v in node]
    return "<evaluation job>" if node in job_names else node


def test_a_new_release_changes_every_object_but_most_only_in_their_release_stamps(tmp_path, before):
    after = _build(tmp_path, _release(SPEC))
    objects = {p for p in before if not p.endswith("/kustomization.yaml")}
    assert _changed(before, after) == objects  # every object carries the release it belongs to
    behaviour = _files(["rollout.yaml", "configmap-gate.yaml", "job-eval.yaml", "analysistemplate-offline-eval.yaml",
                        "configmap-lineage.yaml"])
    assert all(_job_name(before, env) != _job_name(after, env) for env in ENVS)
    jobs = {_job_name(files, env) for files in (before, after) for env in ENVS}
    for path in sorted(objects - behaviour):
        old, new = (_unstamped(yaml.safe_load(files[path]), jobs) for files in (before, after))
        assert old == new, path
    # the neighbours: the objects that do behave differently are not equal without stamps
    for path in sorted(behaviour):
        old, new = (_unstamped(yaml.safe_load(files[path]), set()) for files in (before, after))
        assert old != new, path


def test_the_spec_digest_is_in_the_lineage_and_on_no_object(before):
    for path, text in before.items():
        assert "mlspec.dev/spec-digest" not in text and "mlspec.dev/platform-digest" not in text, path
    digests = {env: yaml.safe_load(before[f"{env}/churn/configmap-lineage.yaml"])["data"]["lineage.json"]
               for env in ENVS}
    assert all('"specDigest": "sha256:' in text for text in digests.values())
    assert digests["staging"] != digests["prod"]


@pytest.mark.parametrize(("old", "new"), [
    ('dataset: {uri: gs://data/churn-holdout, version: "2026-11-01"}',
     'dataset: {uri: gs://data/churn-holdout, version: "2026-11-02"}'),
    ("churn-eval@sha256:e152549725cff9fdf88e1a88d6b0520b876997ac110481f7d7a47a076a348f22",
     "churn-eval@sha256:" + "e1" * 32),
    ("  evaluation:\n", "  evaluation:\n    command: [python, -m, churn.eval]\n"),
    ("  evaluation:\n", "  evaluation:\n    args: [--fast]\n"),
    ("  evaluation:\n", "  evaluation:\n    baseline: \"0.9.0\"\n"),
    ("f2b0e8bf65dd2cb6312cc33f3fc45373d26295fae1db01a1356e1eb80f3abd21", "ab" * 32),
], ids=["dataset", "evaluator-image", "command", "args", "baseline", "model-digest"])
def test_what_the_evaluation_depends_on_renames_its_job(tmp_path, before, old, new):
    after = _build(tmp_path, _edit(SPEC, old, new))
    for env in ENVS:
        assert _job_name(after, env) != _job_name(before, env)


@pytest.mark.parametrize(("old", "new"), [
    ("metadata:\n  name: churn\n", "metadata:\n  name: churn\n  labels: {team: risk}\n"),
    ("metadata:\n  name: churn\n", "metadata:\n  name: churn\n  owner: ml@acme.example\n"),
    ("    seed: 7\n", "    seed: 7\n    hyperparameters: {depth: \"3\"}\n"),
    ("prod: {namespace: churn, serving: {replicas: 3}}", "prod: {namespace: churn, serving: {replicas: 4}}"),
    ("max: 0.01}", "max: 0.02}"),
], ids=["labels", "owner", "hyperparameters", "replicas", "online-metric"])
def test_what_the_evaluation_does_not_depend_on_keeps_its_jobs_name(tmp_path, before, old, new):
    after = _build(tmp_path, _edit(SPEC, old, new))
    for env in ENVS:
        assert _job_name(after, env) == _job_name(before, env)
