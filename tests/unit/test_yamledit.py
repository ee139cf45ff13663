"""The round-trip edit: only the lines holding changed values change, whatever ruamel
would reformat on its own; values are quoted the way the file quoted them, and safely."""

from __future__ import annotations

import pytest
import yaml

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
