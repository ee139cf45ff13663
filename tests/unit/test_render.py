"""Rendering: templates lay out YAML, values are placed as data (render.py)."""

from __future__ import annotations

import copy

import pytest
from conftest import EXAMPLES

from mlspec.pipeline import render
from mlspec.pipeline.core import compile_releases, compile_spec

HOSTILE = [
    "a: b", "- x", "#not a comment", "{{ args.x }}", "'quoted'", '"dq"', "multi\nline\n", "tab\there",
    "\u2028\u2029\x85\ufeff", "\ue000" + "0" + "\ue001", "$(rm -rf /); `id`", "", "yes", "0x1F", "~", "&a *a",
    {"nested": ["a: b", {"k": "\n---\n"}]}, [1, 2.5, None, True], 2**70, -0.0,
]


def _render(source: str, **values):
    return render.render_template(render.environment().from_string(source), values)


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_a_value_arrives_exactly_and_cannot_change_the_structure(value):
    out = _render("a: {{ v }}\nb: [{{ v }}, {{ v }}]\n{{ k }}: 1\nc: after\n", v=value, k="key: #")
    assert out == {"a": value, "b": [value, value], "key: #": 1, "c": "after"}


def test_values_are_copied_so_one_object_cannot_change_another():
    shared = {"drop": ["ALL"]}
    out = _render("a: {{ v }}\nb: {{ v }}\n", v=shared)
    out["a"]["drop"].append("mutated")
    assert out["b"] == {"drop": ["ALL"]} and shared == {"drop": ["ALL"]}


def test_mutating_built_objects_does_not_leak_into_the_next_build():
    text = EXAMPLES[0].read_text()
    first = compile_releases(text, "m.yaml")
    for item in first:
        for obj in item.objects.values():
            obj.clear()  # a library user changing what they got back
    assert compile_spec(text, "m.yaml") == compile_spec(copy.copy(text), "m.yaml")
    again = compile_releases(text, "m.yaml")[0].objects
    assert again and all(again.values())


@pytest.mark.parametrize("source", [
    "a: x{{ v }}\n",          # spliced into a plain scalar
    "a: '{{ v }}'\n",         # inside a quoted scalar
    "a: |\n  run {{ v }}\n",  # inside a literal block
])
def test_a_template_that_splices_a_value_into_text_fails(source):
    with pytest.raises(ValueError, match="splices a value into a larger scalar"):
        _render(source, v="value")


@pytest.mark.parametrize(("source", "values", "message"), [
    ("a: 1\na: 2\n", {}, "duplicate key"),
    ("{{ k }}: 1\n{{ j }}: 2\n", {"k": "x", "j": "x"}, "duplicate key"),
    ("a: {{ v }}\n", {"v": float("nan")}, "no portable YAML form"),
    ("a: {{ v }}\n", {"v": {1: "x"}}, "is not a string"),
    ("a: {{ v }}\n", {"v": {"s": {1, 2}}}, "cannot place a set"),
    ("{# nothing #}\n", {}, "empty document"),
])
def test_template_bugs_fail_instead_of_emitting_something_else(source, values, message):
    with pytest.raises(ValueError, match=message):
        _render(source, **values)


def test_output_does_not_depend_on_the_layout_cache():
    texts = [p.read_text() for p in EXAMPLES]
    warm = [compile_spec(t, "m.yaml") for t in texts]
    render.layout.cache_clear()
    cold = [compile_spec(t, "m.yaml") for t in reversed(texts)][::-1]
    assert cold == warm and render.layout.cache_info().currsize > 0


def test_compiled_templates_are_current_and_installed():
    """`scripts/compile-templates` output is committed and ships in the package."""
    from importlib import resources

    shipped = resources.files("mlspec.templates").joinpath(render.COMPILED).read_text(encoding="utf-8")
    assert shipped == render.compiled_json(), "run scripts/compile-templates"
    for template in resources.files("mlspec.templates").iterdir():
        if template.name.endswith(".j2"):
            assert render.compiled_code(template.name) is not None, template.name


def test_a_stale_compiled_template_is_compiled_from_its_source(monkeypatch):
    original = render._template_source

    def edited(name):
        text = original(name)
        return text.replace("  type: ClusterIP\n", "  type: ClusterIP\n  sessionAffinity: None\n") if name == "service.yaml.j2" else text

    text = EXAMPLES[0].read_text()
    monkeypatch.setattr(render, "_template_source", edited)
    render.environment.cache_clear()
    try:
        assert render.compiled_code("service.yaml.j2") is None  # its code no longer matches
        objects = compile_releases(text, "m.yaml")[0].objects
        assert objects["service-stable.yaml"]["spec"]["sessionAffinity"] == "None"
    finally:
        monkeypatch.undo()
        render.environment.cache_clear()
    assert "sessionAffinity" not in compile_releases(text, "m.yaml")[0].objects["service-stable.yaml"]["spec"]
