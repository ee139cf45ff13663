"""Fuzzing: mutations of the valid examples never crash the compiler. Every outcome
is either success or a `SpecError` whose every diagnostic has a position; the CLI
exits 0 or 1 and never prints a traceback. About 2,200 generated cases per run."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import yaml
from click.testing import CliRunner
from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import compile_spec
from mlspec.cli.main import main
from mlspec.files import loader
from mlspec.files.errors import MlspecError
from mlspec.spec import schema

TEXTS = {p.name: p.read_text() for p in EXAMPLES}
DATA = {name: yaml.safe_load(text) for name, text in TEXTS.items()}

def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=40), st.sampled_from(["", "1.10", "no", "on", "~", "sha256:", "-1", "0x1F",
                                                          "AKIAIOSFODNN7EXAMPLE", "{{args.x}}", "a: b", "#"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                      max_leaves=12)
FRAGMENTS = ["\t", ": ", "- ", "&a ", "*a", "*b", "{", "}", "[", "]", "'", '"', "\n---\n", "<<: *a", "!!binary ",
             "%YAML 1.2\n", "? ", "|", ">", "#", "\\", "\x85", "\u2028", "\ufeff", "\x00", "~", "\n  ", "0o17", ".inf"]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


SCHEMA = jsonschema.Draft7Validator(schema.json_schema())


def assert_outcome(text: str | bytes, source: str = "fuzz.yaml") -> None:
    try:
        compile_spec(text, source=source)
    except MlspecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.source == source and d.line >= 1 and d.col >= 1 and d.message
    else:  # what the compiler accepts, the editor's schema accepts too
        assert [e.message for e in SCHEMA.iter_errors(loader.load(text, source).data)] == []


@fuzz(1000)
@given(st.sampled_from(sorted(DATA)), st.data())
def test_structural_mutations_never_crash(example, data):
    doc = copy.deepcopy(DATA[example])
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for seg in path[:-1]:
            parent = parent[seg]
        action = data.draw(st.sampled_from(["delete", "replace", "rename", "insert"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = data.draw(values)
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=12))] = parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = data.draw(values)
    assert_outcome(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@fuzz(1000)
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_text_mutations_never_crash(example, data):
    text = TEXTS[example]
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["fragment", "unicode", "delete"]))
        if action == "fragment":
            text = text[:at] + data.draw(st.sampled_from(FRAGMENTS)) + text[at:]
        elif action == "unicode":
            text = text[:at] + data.draw(st.text(min_size=1, max_size=6)) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 30)):]
    assert_outcome(text)


@fuzz(200)
@given(st.sampled_from(sorted(TEXTS)), st.binary(max_size=8), st.integers(0, 4000))
def test_cli_exits_0_or_1_without_traceback(tmp_path_factory, example, noise, at):
    raw = TEXTS[example].encode()
    spec = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    spec.write_bytes(raw[:at] + noise + raw[at:])
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
