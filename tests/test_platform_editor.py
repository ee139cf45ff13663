"""The platform file in a real editor: `mlspec init --platform` output in yaml-language-server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from lsp import LspClient

from mlspec.cli.main import main


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / ".git").mkdir()
    result = CliRunner().invoke(main, ["init", "--platform", "-o", str(root / ".mlspec" / "platform.yaml")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def editor(repo):
    client = LspClient(repo)
    yield client
    client.close()


def test_the_scaffolded_platform_file_has_no_diagnostics_and_validates(editor, repo):
    path = repo / ".mlspec" / "platform.yaml"
    assert path.read_text().startswith("# yaml-language-server: $schema=./platform.schema.json\n")
    uri = editor.open(path)
    assert editor.wait_diagnostics(uri) == []
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0


def test_completion_under_spec_offers_the_platform_sections(editor, repo):
    text = "# yaml-language-server: $schema=./platform.schema.json\napiVersion: mlspec.dev/v1alpha1\n" \
           "kind: Platform\nspec:\n  \n"
    uri = editor.open(repo / ".mlspec" / "c-spec.yaml", text=text)
    editor.wait_diagnostics(uri)
    assert {"defaults", "runtimes", "policy", "environments"} <= set(editor.completion(uri, 4, 2))


def test_completion_inside_the_defaults_offers_the_specs_fields_and_a_wrong_key_is_flagged(editor, repo):
    text = "# yaml-language-server: $schema=./platform.schema.json\napiVersion: mlspec.dev/v1alpha1\n" \
           "kind: Platform\nspec:\n  defaults:\n    serving:\n      \n"
    uri = editor.open(repo / ".mlspec" / "c-defaults.yaml", text=text)
    editor.wait_diagnostics(uri)
    assert {"storageInitializer", "securityContext", "replicas", "image"} <= set(editor.completion(uri, 6, 6))
    broken = text.replace("      \n", "      replicaz: 2\n")
    uri = editor.open(repo / ".mlspec" / "c-broken.yaml", text=broken)
    messages = [d["message"] for d in editor.wait_diagnostics(uri)]
    assert "Property replicaz is not allowed." in messages, messages
