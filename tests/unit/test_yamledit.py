"""The round-trip edit: only the lines holding changed values change, whatever ruamel
would reformat on its own; values are quoted the way the file quoted them, and safely."""

from __future__ import annotations

import math

import pytest
import yaml

from mlspec.files import loader
from mlspec.files.errors import SpecError
from mlspec.records.yamledit import Editor, merge


def _edit(text: str, path: tuple[str, ...], value: object) -> str:
    editor = Editor(text)
    editor.set(path, value)
    return editor.text()


@pytest.mark.parametrize(("text", "path", "value", "expected"), [
    ("---\na: 1\nb: 2\n", ("a",), 5, "---\na: 5\nb: 2\n"),                       # ruamel drops `---`
    ("a:    1   # c\nb:  {x:  1}\nc: 3\n", ("c",), 4, "a:    1   # c\nb:  {x:  1}\nc: 4\n"),
    ("a:    1   # c\nb:  {x:  1}\n", ("a",), 4, "a: 4      # c\nb:  {x:  1}\n"),  # only the edited line is ruamel's
    ("a:\n  - 1\nb:\n- 3\nc: x\n", ("c",), "z", "a:\n  - 1\nb:\n- 3\nc: z\n"),     # mixed sequence indents
    ("a: this is\n  a long plain\nb: 2\n", ("b",), 3, "a: this is\n  a long plain\nb: 3\n"),
    ("a: [one, two,\n    three]\nb: 1\n", ("b",), 2, "a: [one, two,\n    three]\nb: 2\n"),
    ("x:\n  a: ~\ny: 1\n", ("x", "new"), "v", "x:\n  a: ~\n  new: v\ny: 1\n"),
    ("a: 1\r\nb: 2\r\n", ("b",), 3, "a: 1\r\nb: 3\r\n"),                          # CRLF stays CRLF
    ("m:\n    k: 1\n    l:\n        - x\n", ("m", "k"), 2, "m:\n    k: 2\n    l:\n        - x\n"),
])
def test_only_edited_lines_change(text, path, value, expected):
    assert _edit(text, path, value) == expected


@pytest.mark.parametrize(("old", "new", "written"), [
    ('"1.0"', "1.1", '"1.1"'),            # double quotes stay
    ("'r-1'", "r-2", "'r-2'"),            # single quotes stay
    ("'r-1'", "a\tb", '"a\\tb"'),         # single quotes cannot hold a tab
    ("v42", "v43", "v43"),                # plain stays plain when safe
    ("v42", "2026-12-01", '"2026-12-01"'),  # a date in YAML 1.1
    ("v42", "1.10", '"1.10"'),            # a number
    ("v42", "no", '"no"'),                # a YAML 1.1 boolean
    ("v42", "1:20", '"1:20"'),            # sexagesimal in YAML 1.1
    ("v42", "a #b", '"a #b"'),            # a comment marker
])
def test_values_keep_the_files_quoting_and_stay_strings(old, new, written):
    text = _edit(f"k: {old}  # note\n", ("k",), new)
    assert text.rsplit(" # note", 1)[0].rstrip() == f"k: {written}"
    assert yaml.safe_load(text) == {"k": new}


def test_merge_keeps_both_sides_when_they_touch_different_lines():
    original = "---\na:   1\nb: 2\n"
    identity = "a: 1\nb: 2\n"
    edited = "a: 1\nb: 3\nc: 4\n"
    assert merge(original, identity, edited) == "---\na:   1\nb: 3\nc: 4\n"


# Issue 28: ruamel reads YAML 1.2, mlspec YAML 1.1. A value on a line an edit rewrites must
# read back, with mlspec's reader, exactly as before: each class the two read differently,
# and quoted or tagged neighbours (which both read as text).
CLASSES = ["1:20", "1:20.5", "0o17", "017", "+.5e-3", "1_000", "-1_0", "1_0.5", "yes", "No", "on", "OFF", "y", "n",
           "~", "null", "Null", "", ".inf", "-.inf", ".NaN", "2026-12-01", "2001-12-14t21:59:43.10-05:00",
           "2001-12-14 21:59:43.10 -5", "0b101", "0x1F", "0x_1F", "1e5", "1.5e5", "1.", "+12", "-0", "True",
           '"1:20"', "'yes'", '"~"', "!!str 017", "&anchor 1_000"]


def _same(a: object, b: object) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


@pytest.mark.parametrize("value", CLASSES)
@pytest.mark.parametrize("layout", ["m: {{x: 1, v: {}}}\n", "m: {{x: 1, v: [{}]}}\n", "m:\n  x: 1\n  v: {}\n"],
                         ids=["flow-map", "flow-seq", "block"])
def test_a_value_beside_an_edit_reads_back_as_mlspec_read_it(value: str, layout: str):
    text = layout.format(value)
    edited = _edit(text, ("m", "x"), 2)
    before, after = loader.load(text).data["m"], loader.load(edited).data["m"]
    assert after["x"] == 2 and list(after) == ["x", "v"]  # edited: on the flow layouts, the line was rewritten
    assert _same(before["v"], after["v"]), (text, edited)


@pytest.mark.parametrize("key", ["null", "017", "yes", "1:20", "0o17", "~"])
def test_keys_stay_their_text_and_never_collide(key: str):
    text = f"m: {{{key}: a, Null: b, 17: c, x: 1}}\n"  # two keys YAML would both read as null, 15 or 17
    edited = _edit(text, ("m", "x"), 2)
    assert loader.load(edited).data["m"] == {key: "a", "Null": "b", "17": "c", "x": 2}


@pytest.mark.parametrize("comment", ["\t# c", " \t# c", "\t \t# c"])
def test_a_tab_before_a_comment_is_separation_not_an_error(comment: str):
    text = f"a: 1{comment}\nb: {{x: 2,\ty: 3}}{comment}\nc: 3\n"
    assert loader.load(text).data == {"a": 1, "b": {"x": 2, "y": 3}, "c": 3}  # what `build` reads
    edited = _edit(text, ("b", "x"), 5)
    assert edited.splitlines()[0] == f"a: 1{comment}"  # untouched: the tab stays
    assert edited.splitlines()[1].endswith("# c") and edited.splitlines()[2] == "c: 3"
    assert loader.load(edited).data == {"a": 1, "b": {"x": 5, "y": 3}, "c": 3}


def test_yaml_the_editor_cannot_read_is_refused_positioned_never_a_crash():
    # No YAML mlspec reads is known to fail here any more (the tab before a comment did):
    # whatever its reader refuses is a positioned error, never an internal one.
    with pytest.raises(SpecError) as info:
        Editor("a: 1\nb: c: d\n", "spec.yaml")
    assert [str(d) for d in info.value.diagnostics][0].startswith("spec.yaml:2:5: error: the YAML editor cannot read")


def test_crlf_and_a_comment_on_a_rewritten_line():
    text = "a: {x: 1, y: 2}   # both\r\nb: 1\r\n"
    assert _edit(text, ("a", "x"), 5) == "a: {x: 5, y: 2}   # both\r\nb: 1\r\n"  # one CR per line, never `\r\r\n`


def test_a_change_no_edit_made_is_refused_not_written():
    editor = Editor("a: 1\nb: {x: 2, y: 3}\n", "spec.yaml")
    editor.set(("b", "x"), 5)
    editor.data["b"]["y"] = "4"  # behind the editor's back: what a reader disagreement would do
    with pytest.raises(SpecError) as info:
        editor.text()
    assert [str(d) for d in info.value.diagnostics] == [
        "spec.yaml:2:14: error: editing this file would change `b.y` from 3 to 4, which no edit sets; write that "
        "value on a line of its own (block style), then try again"]
    neighbour = Editor("a: 1\nb: {x: 2, y: 3}\n", "spec.yaml")
    neighbour.set(("b", "y"), 4)  # the same change, made by an edit: written
    assert neighbour.text() == "a: 1\nb: {x: 2, y: 4}\n"
    deleted = Editor("a: 1\nb: {x: 2, y: 3}\n", "spec.yaml")
    deleted.delete(("b", "y"))
    assert deleted.text() == "a: 1\nb: {x: 2}\n"
