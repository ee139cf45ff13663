"""The JSON Schema in a real editor: npm yaml-language-server driven over LSP stdio."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ALL_EXAMPLES, EXAMPLES, ROOT
from lsp import LspClient

MODELINE = "# yaml-language-server: $schema=../schemas/mlspec.schema.json\n"
HEAD = MODELINE + "apiVersion: mlspec.dev/v1alpha1\nkind: ModelDeployment\nmetadata:\n  name: demo\n"


@pytest.fixture(scope="module")
def editor():
    client = LspClient(ROOT)
    yield client
    client.close()


def _open(editor: LspClient, name: str, text: str) -> str:
    # Documents live beside the examples so the relative modeline resolves; nothing is written.
    uri = editor.open(ROOT / "examples" / name, text=text)
    editor.wait_diagnostics(uri)
    return uri


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_examples_have_no_diagnostics(editor, example):
    uri = editor.open(example)
    assert editor.wait_diagnostics(uri) == []


def test_broken_spec_gets_unknown_key_and_wrong_type_diagnostics(editor):
    text = (ROOT / "examples" / "minimal.yaml").read_text()
    text = text.replace("seed: 7", "seed: seven").replace("  serving:\n", "  serving:\n    replica: 2\n")
    uri = editor.open(ROOT / "examples" / "broken-probe.yaml", text=text)
    found = {(d["range"]["start"]["line"], d["message"]) for d in editor.wait_diagnostics(uri)}
    lines = text.splitlines()
    seed_line = next(i for i, l in enumerate(lines) if "seed: seven" in l)
    replica_line = next(i for i, l in enumerate(lines) if "replica: 2" in l)
    assert (replica_line, "Property replica is not allowed.") in found
    assert any(line == seed_line and "Incorrect type" in msg and "integer" in msg for line, msg in found), found


def test_completion_offers_missing_spec_sections(editor):
    uri = _open(editor, "c-spec.yaml", HEAD + "spec:\n  model: {}\n  \n")
    labels = editor.completion(uri, 7, 2)
    assert {"training", "serving", "evaluation", "rollout", "rollback", "features", "environments"} <= set(labels)
    assert "model" not in labels


def test_completion_offers_missing_training_fields(editor):
    uri = _open(editor, "c-training.yaml", HEAD + "spec:\n  training:\n    seed: 1\n    \n")
    labels = editor.completion(uri, 8, 4)
    assert {"code", "data", "environment", "runId", "hyperparameters"} <= set(labels)
    assert "seed" not in labels


def test_completion_offers_threshold_bounds(editor):
    uri = _open(editor, "c-threshold.yaml", HEAD + "spec:\n  evaluation:\n    thresholds:\n      - metric: auc\n        \n")
    labels = editor.completion(uri, 9, 8)
    assert {"min", "max", "maxDrop"} <= set(labels)
    assert "metric" not in labels


def test_completion_inside_an_environment_overlay(editor):
    uri = _open(editor, "c-overlay.yaml", HEAD + "spec:\n  environments:\n    prod:\n      serving:\n        \n")
    assert {"replicas", "resources", "image"} <= set(editor.completion(uri, 9, 8))


def test_completion_offers_runtime_values(editor):
    uri = _open(editor, "c-runtime.yaml", HEAD + "spec:\n  serving:\n    runtime: \n")
    assert {"mlserver", "triton", "torchserve", "custom"} <= set(editor.completion(uri, 7, 13))


def test_hover_shows_the_field_description(editor):
    uri = _open(editor, "h-seed.yaml", HEAD + "spec:\n  training:\n    seed: 1\n")
    assert "Random seed of the training run" in editor.hover(uri, 7, 5)
    uri = _open(editor, "h-maxdrop.yaml", HEAD + "spec:\n  evaluation:\n    thresholds:\n      - {metric: auc, maxDrop: 0.1}\n")
    assert "baseline" in editor.hover(uri, 8, 24)


def test_init_scaffold_has_no_diagnostics(editor, tmp_path):
    from click.testing import CliRunner

    from mlspec.cli.main import main

    spec = tmp_path / "demo.mlspec.yaml"
    schema = ROOT / "schemas" / "mlspec.schema.json"
    assert CliRunner().invoke(main, ["init", "demo", "-o", str(spec), "--schema", str(schema)]).exit_code == 0
    uri = editor.open(spec)
    assert editor.wait_diagnostics(uri) == []
    broken = editor.open(tmp_path / "broken.mlspec.yaml", text=spec.read_text().replace("seed: 42", "seed: x"))
    seed_line = next(i for i, line in enumerate(spec.read_text().splitlines()) if "seed: 42" in line)
    assert seed_line in [d["range"]["start"]["line"] for d in editor.wait_diagnostics(broken)]


def test_init_as_the_readme_says_completes_with_no_editor_settings(tmp_path):
    """A user's literal path: `mlspec init NAME` in a fresh repository, then the
    editor with no schema settings at all. The modeline alone must resolve offline."""
    import subprocess

    (tmp_path / ".git").mkdir()  # a fresh `git init`: the schema copy goes to the repository root
    models = tmp_path / "models"
    models.mkdir()
    proc = subprocess.run(["mlspec", "init", "demo"], cwd=models, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    spec = models / "demo.mlspec.yaml"
    modeline = spec.read_text().splitlines()[0]
    assert modeline == "# yaml-language-server: $schema=../.mlspec/schema.json"
    assert (tmp_path / ".mlspec" / "schema.json").read_text() == (ROOT / "schemas" / "mlspec.schema.json").read_text()
    client = LspClient(tmp_path)  # no `yaml.schemas`, no schema store: the modeline only
    try:
        uri = client.open(spec)
        assert client.wait_diagnostics(uri) == []
        probe = models / "probe.mlspec.yaml"  # the scaffold's own modeline and header, an empty `spec:`
        text = "\n".join(spec.read_text().split("\nspec:\n")[0].splitlines()) + "\nspec:\n  \n"
        probe_uri = client.open(probe, text=text)
        client.wait_diagnostics(probe_uri)
        line = text.count("\n") - 1
        labels = set(client.completion(probe_uri, line, 2))
        assert {"model", "training", "serving", "evaluation", "rollout", "rollback", "environments"} <= labels
    finally:
        client.close()


def test_init_outside_a_repository_keeps_the_schema_beside_the_spec(tmp_path):
    import subprocess

    proc = subprocess.run(["mlspec", "init", "demo"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo.mlspec.yaml").read_text().startswith("# yaml-language-server: $schema=./.mlspec/schema.json\n")
    assert (tmp_path / ".mlspec" / "schema.json").is_file()
    again = subprocess.run(["mlspec", "init", "demo"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
