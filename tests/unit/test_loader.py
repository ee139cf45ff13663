from __future__ import annotations

import resource
import time

import pytest
import yaml

from mlspec import loader
from mlspec.errors import SpecError


def _error(text: str | bytes) -> str:
    with pytest.raises(SpecError) as info:
        loader.load(text, "s.yaml")
    [diag] = info.value.diagnostics
    return str(diag)


def test_positions_are_one_based_for_keys_and_values():
    doc = loader.load("a:\n  bb: [1, two]\n", "s.yaml")
    assert doc.key_marks[("a", "bb")] == (2, 3)
    assert doc.marks[("a", "bb")] == (2, 7)
    assert doc.marks[("a", "bb", 1)] == (2, 11)


def test_plain_scalars_that_yaml_retypes_keep_their_text():
    doc = loader.load("v: 1.10\nb: off\nq: '1.10'\nd: 2026-11-27\n", "s.yaml")
    assert doc.data == {"v": 1.1, "b": False, "q": "1.10", "d": "2026-11-27"}
    assert doc.plain[("v",)] == "1.10" and doc.plain[("b",)] == "off"
    assert ("q",) not in doc.plain  # quoted: a string as written


def test_aliases_within_bounds_are_expanded():
    doc = loader.load("a: &x {k: 1}\nb: *x\n", "s.yaml")
    assert doc.data["b"] == {"k": 1}


def test_oversized_file_is_rejected_before_parsing():
    text = "a: " + "x" * (loader.MAX_BYTES + 1)
    assert "a spec may be at most" in _error(text)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("levels", [9, 12, 20])
def test_alias_bomb_is_rejected_quickly_with_bounded_memory(levels):
    text = "l0: &l0 [" + ", ".join(["lol"] * 9) + "]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, levels))
    before = _rss_mib()
    start = time.perf_counter()
    message = _error(text)
    elapsed = time.perf_counter() - start
    assert "alias bomb" in message
    assert elapsed < 0.5
    assert _rss_mib() - before < 50


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_very_deep_nesting_is_rejected_without_recursion(opener, closer):
    # Which layer stops it first (mlspec's depth limit or PyYAML's own flow-level
    # limit) is not ours to pin; what we promise is one positioned error, fast,
    # never a RecursionError.
    text = "a: " + opener * 100_000 + "1" + closer * 100_000 + "\n"
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        loader.load(text, "s.yaml")
    assert time.perf_counter() - start < 1.0
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.severity) == ("s.yaml", 1, "error")
    assert 1 < diag.col <= len(text)


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_nesting_just_past_the_limit_is_ours_to_reject(opener, closer):
    depth = loader.MAX_DEPTH + 1
    text = "a: " + opener * depth + "1" + closer * depth + "\n"
    assert f"nesting deeper than {loader.MAX_DEPTH}" in _error(text)


def test_deep_block_nesting_is_rejected():
    text = "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v\n"
    assert "nesting deeper than 64" in _error(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "1:1: error: empty file"),
    ("# only a comment\n", "1:1: error: empty file"),
    ("[1, 2]\n", "1:1: error: the document root must be a mapping, not a list"),
    ("a: 1\n---\nb: 2\n", "2:1: error: several YAML documents"),
    ("a: 1\na: 2\n", "2:1: error: duplicate key `a` (first defined at line 1)"),
    ("a:\n\tb: 1\n", "2:1: error: tab character"),
    ("a: !!python/object:os.system x\n", "unsupported YAML tag"),
    ("a: [1, 2\n", "invalid YAML"),
    (b"a: \xff\n", "1:1: error: file is not valid UTF-8"),
])
def test_yaml_problems_get_clear_messages(text, expected):
    assert expected in _error(text)


def test_load_data_reads_what_the_emitter_writes_like_yaml_load():
    from mlspec import emit

    data = {"a": ["2026-11-20T00:00:00Z", "1.10", "no", None, True, 3, 2.5, {"b": "x\ny\n"}], "c": {}}
    text = emit.dump(data)
    assert loader.load_data(text) == data == yaml.safe_load(text)


def test_load_data_keeps_aliases_shared_and_refuses_duplicate_keys():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(20))
    data = loader.load_data(bomb)  # 4**20 leaves if expanded; one shared list per anchor instead
    assert data["u"][0] is data["t"]
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        loader.load_data("a: 1\na: 2\n")
    with pytest.raises(yaml.YAMLError, match="not a scalar"):
        loader.load_data("? [a]\n: 1\n")
