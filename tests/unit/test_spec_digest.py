"""The spec digest (`mlspec.dev/spec-digest`): what changes it and what does not."""

from __future__ import annotations

import yaml
from conftest import EXAMPLES

from mlspec.pipeline.core import compile_spec

MINIMAL = next(p for p in EXAMPLES if p.name == "minimal.yaml").read_text()


def _digests(text: str) -> set[str]:
    out = set()
    for path, body in compile_spec(text, "m.yaml").items():
        for obj in yaml.safe_load_all(body):
            digest = ((obj or {}).get("metadata") or {}).get("annotations", {}).get("mlspec.dev/spec-digest")
            if digest:
                out.add(digest)
    assert len(out) == 1, out  # one spec, one environment: one digest on every object
    return out


def _with_serving(text: str, line: str) -> str:
    assert "\n  serving:\n" in text
    return text.replace("\n  serving:\n", f"\n  serving:\n    {line}\n", 1)


def test_writing_a_default_value_says_the_same_as_omitting_it():
    assert _digests(_with_serving(MINIMAL, "replicas: 2")) == _digests(MINIMAL)


def test_a_value_other_than_the_default_changes_the_digest():
    assert _digests(_with_serving(MINIMAL, "replicas: 3")) != _digests(MINIMAL)


def test_a_comment_does_not_change_the_digest():
    reordered = "# a comment\n" + MINIMAL
    assert _digests(reordered) == _digests(MINIMAL)
