"""Issue 28: policy guards judged one step beside the case each names: registries at a
host boundary, every image the output runs, an autoscaler's minimum, the environment's
defaults over the global ones."""

from __future__ import annotations

import pytest
import yaml
from test_platform import H, REG, _build_with_rule, _policy_repo, _spec_edit, run

from mlspec.pipeline.policy import admits

EVIL = f"{REG}.evil.example/x/y@sha256:{H}"


@pytest.mark.parametrize("entry, image, admitted", [
    (REG, f"{REG}/ml/serve@sha256:{H}", True),
    (REG, EVIL, False),                                    # a look-alike host
    (REG, f"{REG}:5000/ml/serve@sha256:{H}", False),        # another port is another registry
    (REG, f"{REG}evil/x@sha256:{H}", False),
    (f"{REG}/", f"{REG}/ml/serve@sha256:{H}", True),
    (f"{REG}/", EVIL, False),
    (f"{REG}/ml", f"{REG}/ml/serve@sha256:{H}", True),
    (f"{REG}/ml/serve", f"{REG}/ml/serve@sha256:{H}", True),   # a repository: its digest
    (f"{REG}/ml/serve", f"{REG}/ml/serve:1.0", True),          # ... or its tag
    (f"{REG}/ml", f"{REG}/mlevil/serve@sha256:{H}", False),    # the repository beside it
    (REG, REG, False),
    ("", f"{REG}/x", False),
])
def test_an_entry_admits_at_a_name_boundary_only(entry, image, admitted):
    assert admits(entry, image) is admitted


def test_an_entry_without_a_slash_refuses_a_look_alike_host_in_a_build(tmp_path, monkeypatch):
    edit = _spec_edit("  evaluation:\n", f'  serving: {{image: "{EVIL}"}}\n  evaluation:\n')
    repo, result = _build_with_rule(tmp_path, monkeypatch, f"    allowedRegistries: [{REG}]", edit)
    assert result.exit_code == 1 and f"image `{EVIL}` is not from an allowed registry" in result.stderr
    assert not (repo / "out").exists()
    ok = _spec_edit("  evaluation:\n", f'  serving: {{image: "{REG}/x/y@sha256:{H}"}}\n  evaluation:\n')
    _, result = _build_with_rule(tmp_path / "ok", monkeypatch, f"    allowedRegistries: [{REG}]", ok)
    assert result.exit_code == 0, result.output


FOREIGN = f"docker.io/x/y@sha256:{H}"
# every image the output runs: (spec edit, line:col the error points at)
IMAGES = {
    "serving.image": (f'  serving: {{image: "{FOREIGN}"}}\n', "15:20"),
    "serving.verifyImage": (f'  serving: {{verifyImage: "{FOREIGN}"}}\n', "15:26"),
    "serving.storageInitializer.image": (f'  serving: {{storageInitializer: {{image: "{FOREIGN}"}}}}\n', "15:41"),
    "evaluation.image": None, "evaluation.gateImage": None, "training.environment.image": None,
}


def _edit(key: str):
    if IMAGES[key] is not None:
        text, _ = IMAGES[key]
        return _spec_edit("  evaluation:\n", text + "  evaluation:\n")
    if key == "training.environment.image":
        return _spec_edit("    seed: 7\n", f'    seed: 7\n    environment: {{image: "{FOREIGN}"}}\n')
    field = key.split(".")[1]
    return _spec_edit("  evaluation:\n", f'  evaluation:\n    {field}: "{FOREIGN}"\n')


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_every_image_the_output_runs_is_subject_to_allowed_registries(tmp_path, monkeypatch, key):
    repo, result = _build_with_rule(tmp_path, monkeypatch, f"    allowedRegistries: [{REG}/]", _edit(key))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines and all(f"image `{FOREIGN}` is not from an allowed registry" in line
                         and "(policy allowedRegistries," in line for line in lines), result.stderr
    if IMAGES[key] is not None:
        assert all(line.startswith(f"models/churn.yaml:{IMAGES[key][1]}: error:") for line in lines), lines
    assert not (repo / "out").exists()


def _build(root, monkeypatch, rule_line: str, edit) -> tuple:
    """`_build_with_rule` without the platform's per-environment replica default."""
    repo = _policy_repo(root, rule_line)
    platform = repo / ".mlspec" / "platform.yaml"
    platform.write_text(platform.read_text().replace("      defaults: {serving: {replicas: 4}}\n", "      defaults: {}\n"))
    monkeypatch.chdir(repo)
    spec = repo / "models" / "churn.yaml"
    spec.write_text(edit(spec.read_text()))
    return repo, run("build", "models", "-o", "out")


def test_min_replicas_judges_an_autoscalers_minimum(tmp_path, monkeypatch):
    def scaled(least: int):
        return _spec_edit("  evaluation:\n", f"  serving: {{autoscaling: {{minReplicas: {least}, maxReplicas: 6, "
                          "metrics: [{cpu: 70}]}}\n  evaluation:\n")
    _, result = _build(tmp_path / "a", monkeypatch, "    minReplicas: 3", scaled(2))
    assert result.exit_code == 1 and "`spec.serving.autoscaling.minReplicas` is 2; at least 3 required" in result.stderr
    _, result = _build(tmp_path / "b", monkeypatch, "    minReplicas: 3", scaled(3))  # at the bound
    assert result.exit_code == 0, result.output


def test_an_environments_platform_defaults_beat_the_global_defaults(tmp_path, monkeypatch):
    repo = _policy_repo(tmp_path / "repo", "    requireOwner: true")
    platform = repo / ".mlspec" / "platform.yaml"
    text = platform.read_text().replace("      defaults: {serving: {replicas: 4}}",
                                        "      defaults: {serving: {replicas: 5}}")
    platform.write_text(text.replace("    serving:\n", "    serving:\n      replicas: 3\n", 1))
    monkeypatch.chdir(repo)
    assert run("build", "models", "-o", "out").exit_code == 0
    replicas = {env: yaml.safe_load((repo / "out" / env / "churn" / "rollout.yaml").read_text())["spec"]["replicas"]
                for env in ("staging", "prod")}
    assert replicas == {"staging": 3, "prod": 5}
