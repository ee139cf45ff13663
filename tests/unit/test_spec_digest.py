"""The spec digest (`specDigest` in the lineage ConfigMap): what changes it and what does not."""

from __future__ import annotations

import json

import yaml
from conftest import EXAMPLES

from mlspec.pipeline.core import compile_spec

MINIMAL = next(p for p in EXAMPLES if p.name == "minimal.yaml").read_text()


def _digests(text: str) -> set[str]:
    files = compile_spec(text, "m.yaml")
    lineage = yaml.safe_load(files["default/churn/configmap-lineage.yaml"])["data"]["lineage.json"]
    # one spec, one environment: one digest, in the lineage only (not on the objects: stable bytes)
    assert not any("spec-digest" in body for body in files.values())
    return {json.loads(lineage)["specDigest"]}


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
