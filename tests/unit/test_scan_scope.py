"""The text scan's scope and its second looks, one step beside the cases test_secrets.py
names: only the part of a document below `root` (a platform file's runtimes, defaults,
environments), and a written-out password whose value holds the separator again."""

from __future__ import annotations

import pytest

from mlspec.files import loader
from mlspec.spec import scan

PLATFORM = """\
apiVersion: mlspec.dev/v1alpha1
kind: Platform
spec:
  runtimes:
    tf: {env: [{name: DB_PASSWORD, value: hunter2}]}
  policy:
    note: "{{ not scanned here }}"
"""


def _found(text: str, root: loader.Path = ()) -> list[tuple[int, int, str]]:
    return [(d.line, d.col, d.rule) for d in scan.text_problems(loader.load(text, "p.yaml"), root)]


def test_a_root_scans_that_part_and_nothing_beside_it():
    assert _found(PLATFORM, ("spec", "runtimes")) == [(5, 43, "credential-in-spec")]
    assert _found(PLATFORM, ("spec", "policy")) == [(7, 11, "argo-template")]
    # the whole document: both, and a root that is not there: nothing
    assert sorted(_found(PLATFORM)) == [(5, 43, "credential-in-spec"), (7, 11, "argo-template")]
    assert _found(PLATFORM, ("spec", "defaults")) == []
    assert _found(PLATFORM, ("spec", "runtimes", "tf", "env", 0, "name", "x")) == []  # below a scalar


@pytest.mark.parametrize("text", ["db_password=hunter2:x", "db_password=hunter2=x", "db_password: a:b:c=d"])
def test_a_password_whose_value_holds_a_separator_is_still_one(text):
    [found] = [d.message for d in scan.text_problems(loader.load(f"k: '{text}'\n", "s.yaml"))]
    assert "looks like a password written out in a string" in found


def test_the_same_value_under_a_name_that_is_no_password_is_not_one():
    assert list(scan.text_problems(loader.load("k: 'bypass=hunter2:x'\n", "s.yaml"))) == []
