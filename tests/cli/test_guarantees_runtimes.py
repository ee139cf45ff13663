"""Issue 28: a platform runtime's definition goes through the scan a spec and the platform
defaults get: credentials, characters kustomize cannot carry, `{{`."""

from __future__ import annotations

import pytest
from test_platform import run
from test_runtimes import _refused, repo  # noqa: F401 (the fixture)

ENV_LINE = '      env: [{name: VLLM_PORT_HINT, value: "{port}"}]\n'
TOKEN = "ghp_" + "a1B2" * 9


@pytest.mark.parametrize("line, words", [
    (f'      env: [{{name: HF_TOKEN, value: "{TOKEN}"}}]\n', ("looks like a GitHub token",)),
    ('      env: [{name: DB_PASSWORD, value: "hunter2"}]\n', ("looks like a secret value",)),
    ('      env: [{name: VLLM_PORT_HINT, value: "{{port}}"}]\n', ("holds `{{`", "template tag")),
    ('      env: [{name: VLLM_PORT_HINT, value: "a\\u0085b"}]\n', ("holds U+0085", "cannot carry")),
    ('      env: [{name: VLLM_PORT_HINT, value: "{port}"}, {name: B, value: "x{{y}}"}]\n', ("holds `{{`",)),  # 2nd
])
def test_a_runtime_value_no_manifest_may_carry_is_an_error_at_its_line_in_the_platform_file(repo, line, words):
    path = repo / ".mlspec" / "platform.yaml"
    text = path.read_text()
    assert ENV_LINE in text
    path.write_text(text.replace(ENV_LINE, line, 1))
    row = text.splitlines().index(ENV_LINE.rstrip("\n")) + 1
    result = run("build", "models", "-o", "out")
    _refused(result, ".mlspec/platform.yaml:", *words)
    rows = {int(l.split(":")[1]) for l in result.output.splitlines() if ": error: " in l}
    assert rows <= {row, row + 1}, result.output
    assert "runtimes" in result.output
    assert run("validate", ".mlspec/platform.yaml").exit_code == 1


@pytest.mark.parametrize("line", [
    '      env: [{name: HF_TOKEN, value: "$(HF_TOKEN_FROM_SECRET)"}]\n',  # a reference, not a credential
    '      env: [{name: VLLM_PORT_HINT, value: "{port}"}, {name: BRACE, value: "{x}"}]\n',  # one brace
    '      env: [{name: VLLM_PORT_HINT, value: "ghp_short"}]\n',  # not a token's length
])
def test_the_neighbour_a_runtime_may_carry_builds(repo, line):
    path = repo / ".mlspec" / "platform.yaml"
    path.write_text(path.read_text().replace(ENV_LINE, line, 1))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 0, result.output


def test_the_defaults_beside_the_runtimes_are_still_scanned(repo):
    path = repo / ".mlspec" / "platform.yaml"
    path.write_text(path.read_text().replace("    serving:\n", f'    serving:\n      env: [{{name: GH, value: "{TOKEN}"}}]\n', 1))
    result = run("build", "models", "-o", "out")
    assert result.exit_code == 1 and "looks like a GitHub token" in result.output
