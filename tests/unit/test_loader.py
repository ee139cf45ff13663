from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mlspec.files import loader
from mlspec.files.errors import LedgerError, SpecError

ROOT = Path(__file__).resolve().parents[2]


def _error(text: str | bytes, budget: loader.Budget = loader.SPEC) -> str:
    with pytest.raises(budget.error) as info:
        loader.load(text, "s.yaml", budget)
    [diag] = info.value.diagnostics
    return str(diag)


def _budget(**limits: int) -> loader.Budget:
    return dataclasses.replace(loader.SPEC, **limits)


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


# --- the budget: each limit passes at the limit and refuses one past it, positioned ---


def test_file_size_limit_is_exact():
    text = "a: " + "x" * 96 + "\n"  # 100 bytes
    assert loader.load(text, "s.yaml", _budget(bytes=100)).data == {"a": "x" * 96}
    assert "s.yaml:1:1: error: file is over 99 bytes; a spec may be at most 99 bytes" in _error(text, _budget(bytes=99))


def test_oversized_file_is_rejected_before_parsing():
    text = "a: [" + "x" * (loader.MAX_BYTES + 1)  # not even valid YAML: the size is what is refused
    assert "a spec may be at most 1048576 bytes" in _error(text)


def test_node_limit_counts_what_an_alias_repeats():
    text = "a: &x [1, 2]\nb: *x\n"  # root, a, [..], 1, 2, b, and the 3 nodes *x repeats: 9
    assert loader.load(text, "s.yaml", _budget(nodes=9)).data == {"a": [1, 2], "b": [1, 2]}
    assert "s.yaml:2:4: error: document expands to more than 8 nodes (alias bomb?)" in _error(text, _budget(nodes=8))


def test_expanded_text_limit_counts_every_character_an_alias_repeats():
    text = "a: &x abcd\nb: *x\n"  # a + abcd + b + abcd again: 10 characters
    assert loader.load(text, "s.yaml", _budget(expanded=10)).data == {"a": "abcd", "b": "abcd"}
    assert "s.yaml:2:4: error: document expands to more than 9 characters of text" in _error(text, _budget(expanded=9))


def test_a_large_string_repeated_by_aliases_is_refused_at_the_first_alias_past_the_budget():
    # The issue's attack: a 100 KB string and 160 aliases to it (16 MB of text in a 106 KB file).
    lines = ["big: &big " + "x" * 100_000] + [f"a{i}: *big" for i in range(160)]
    message = _error("\n".join(lines) + "\n")
    # 2 MiB allows the string and 19 repeats of it: the 20th alias (line 21) is refused
    assert message.startswith("s.yaml:21:6: error: document expands to more than 2097152 characters"), message


def test_scalar_length_limit_is_exact_for_values_and_keys():
    assert loader.load("a: abcde\n", "s.yaml", _budget(scalar=5)).data == {"a": "abcde"}
    assert "s.yaml:1:4: error: a scalar of 6 characters; one value in a spec may have at most 5" \
        in _error("a: abcdef\n", _budget(scalar=5))
    assert "s.yaml:1:1: error: a scalar of 6 characters" in _error("abcdef: 1\n", _budget(scalar=5))
    assert "s.yaml:1:4: error: a scalar of 6 characters" in _error("a: 'abcdef'\n", _budget(scalar=5))


def test_number_length_limit_is_exact():
    assert loader.load("a: 12345\n", "s.yaml", _budget(number=5)).data == {"a": 12345}
    assert "s.yaml:1:4: error: a number of 6 characters; a number may have at most 5 (quote it if it is text)" \
        in _error("a: 123456\n", _budget(number=5))
    assert "a number of 6 characters" in _error("a: 1234.5\n", _budget(number=5))  # floats too
    # quoted, the same digits are text: no number to convert
    assert loader.load("a: '123456'\n", "s.yaml", _budget(number=5)).data == {"a": "123456"}


@pytest.mark.parametrize("number", [
    "9" * 5000,              # past Python's 4,300-digit int conversion limit
    "1" + ":1" * 200,        # a YAML 1.1 base-60 int, which PyYAML converts in quadratic time
    "1" + "_0" * 100,        # YAML 1.1 digit separators
    "0x" + "f" * 200,
    "1." + "5" * 200,
])
def test_long_numbers_are_refused_before_conversion(number):
    message = _error(f"a:\n  b: {number}\n")
    assert message == f"s.yaml:2:6: error: a number of {len(number)} characters; a number may have at most 100 " \
                      "(quote it if it is text)"


def test_a_long_number_like_key_is_text_and_not_converted():
    key = "1" * 200
    assert loader.load(f"{key}: 1\n", "s.yaml").data == {key: 1}


def test_a_finite_literal_that_overflows_a_float_is_refused_but_inf_is_a_value():
    assert "s.yaml:1:4: error: `1.0e+400` is out of the range of a number (a 64-bit float)" in _error("a: 1.0e+400\n")
    assert "out of the range" in _error("a: -1.5e+999\n")
    assert loader.load("a: 1e400\n", "s.yaml").data == {"a": "1e400"}  # YAML 1.1 floats need a `.`: text
    assert loader.load("a: .inf\nb: -.Inf\n", "s.yaml").data == {"a": float("inf"), "b": float("-inf")}


@pytest.mark.parametrize("levels", [9, 12, 20])
def test_alias_bomb_is_rejected_at_the_alias_that_passes_the_node_budget(levels):
    # 9**levels nodes if expanded; counting stops at the first alias past 100,000
    text = "l0: &l0 [" + ", ".join(["lol"] * 9) + "]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, levels))
    message = _error(text)
    assert "document expands to more than 100000 nodes (alias bomb?)" in message
    assert message.startswith("s.yaml:6:")  # 9**5 > 100,000: the sixth line's aliases pass it


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_very_deep_nesting_is_rejected_without_recursion(opener, closer):
    # Which layer stops it first (mlspec's depth limit or PyYAML's own flow-level
    # limit) is not ours to pin; what we promise is one positioned error, never a
    # RecursionError.
    text = "a: " + opener * 100_000 + "1" + closer * 100_000 + "\n"
    with pytest.raises(SpecError) as info:
        loader.load(text, "s.yaml")
    [diag] = info.value.diagnostics
    assert (diag.source, diag.line, diag.severity) == ("s.yaml", 1, "error")
    assert 1 < diag.col <= len(text)


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_nesting_just_past_the_limit_is_ours_to_reject(opener, closer):
    # the root mapping is one level: `depth - 1` collections inside it is the limit
    inside = loader.MAX_DEPTH - 1
    text = "a: " + opener * inside + "1" + closer * inside + "\n"
    assert loader.load(text, "s.yaml").data["a"] is not None
    text = "a: " + opener * (inside + 1) + "1" + closer * (inside + 1) + "\n"
    assert f"nesting deeper than {loader.MAX_DEPTH}" in _error(text)


def test_deep_block_nesting_is_rejected():
    text = "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v\n"
    assert "nesting deeper than 64" in _error(text)


def test_nesting_through_an_alias_counts_the_aliased_collections():
    text = "a: &x [[1]]\nb: [[[*x]]]\n"  # *x (2 levels) inside root + 3 sequences: 6
    assert loader.load(text, "s.yaml", _budget(depth=6)).data["b"] == [[[[[1]]]]]
    assert "s.yaml:2:7: error: nesting deeper than 5 levels (through `*x`)" in _error(text, _budget(depth=5))


@pytest.mark.parametrize(("text", "expected"), [
    ("", "1:1: error: empty file"),
    ("# only a comment\n", "1:1: error: empty file"),
    ("[1, 2]\n", "1:1: error: the document root must be a mapping, not a list"),
    ("a: 1\n---\nb: 2\n", "2:1: error: several YAML documents"),
    ("a: 1\na: 2\n", "2:1: error: duplicate key `a` (first defined at line 1)"),
    ("a:\n\tb: 1\n", "2:1: error: tab character"),
    ("\ta: 1\n", "1:1: error: tab character"),  # on the first line, the parser's message does not say "tab"
    ("a: !!python/object:os.system x\n", "unsupported YAML tag"),
    ("a: [1, 2\n", "invalid YAML"),
    (b"a: \xff\n", "1:1: error: file is not valid UTF-8"),
])
def test_yaml_problems_get_clear_messages(text, expected):
    assert expected in _error(text)


# --- keys: always the text that was written -------------------------------------


@pytest.mark.parametrize(("key", "text"), [
    ("1", "1"), ("true", "true"), ("yes", "yes"), ("null", "null"), ("~", "~"), ("1.5", "1.5"),
    ("1.10", "1.10"), ("0x1F", "0x1F"), ("2026-11-27", "2026-11-27"), ("'1'", "1"), ('"true"', "true"),
    ("!!int 5", "5"),
])
def test_a_key_is_the_text_written_never_a_retyped_value(key, text):
    doc = loader.load(f"{key}: v\n", "s.yaml")
    assert doc.data == {text: "v"}
    assert list(doc.data)[0].__class__ is str
    assert doc.key_marks[(text,)] == (1, 1) and doc.plain == {}


def test_keys_that_are_the_same_text_collide_and_different_text_does_not():
    assert "s.yaml:2:1: error: duplicate key `1` (first defined at line 1)" in _error("1: a\n'1': b\n")
    assert "duplicate key `true`" in _error('true: a\n"true": b\n')
    # YAML 1.1 would read both of these pairs as the same value; as text they differ
    assert loader.load("1.0: a\n1: b\ntrue: c\nyes: d\n", "s.yaml").data == {"1.0": "a", "1": "b", "true": "c", "yes": "d"}


@pytest.mark.parametrize(("text", "expected"), [
    ("? [a]\n: 1\n", "1:3: error: mapping keys must be plain scalars"),
    ("? {a: 1}\n: 1\n", "1:3: error: mapping keys must be plain scalars"),
    ("a: &x 1\n*x : 2\n", "2:1: error: aliases cannot be used as mapping keys"),
    ("a: {b: 1}\n<<: {c: 2}\n", "2:1: error: merge keys (`<<`) are not supported"),
    ("!!binary aGk=: a\n", "1:1: error: unsupported YAML tag"),
])
def test_keys_that_are_not_plain_text_are_refused(text, expected):
    assert expected in _error(text)


def test_a_quoted_merge_key_is_an_ordinary_key():
    assert loader.load("'<<': 1\n", "s.yaml").data == {"<<": 1}


# --- ledgers: the same loader, their own budget ---------------------------------


def test_ledgers_refuse_any_alias_with_a_ledger_error_at_the_alias():
    with pytest.raises(LedgerError) as info:
        loader.load("a: &x [1]\nb: *x\n", "l.yaml", loader.LEDGER)
    assert [str(d) for d in info.value.diagnostics] == [
        "l.yaml:2:4: error: an alias (`*x`): a ledger has none, mlspec never writes them"]


def test_the_issue_ledger_bomb_is_refused_at_its_first_alias():
    # 30 levels of `&lN [*lN-1, *lN-1]` in a baseline's metrics: 2**30 leaves if expanded
    text = "releases:\n- metrics:\n    l0: &l0 [x, x]\n" + "".join(
        f"    l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 31))
    with pytest.raises(LedgerError) as info:
        loader.load(text, "l.yaml", loader.LEDGER)
    assert str(info.value) == "l.yaml:4:14: error: an alias (`*l0`): a ledger has none, mlspec never writes them"


def test_load_data_reads_what_the_emitter_writes_like_yaml_load():
    import yaml

    from mlspec.files import emit

    data = {"a": ["2026-11-20T00:00:00Z", "1.10", "no", None, True, 3, 2.5, {"b": "x\ny\n"}], "c": {}}
    text = emit.dump(data)
    assert loader.load_data(text) == data == yaml.safe_load(text)


def test_load_data_refuses_duplicate_keys_and_complex_keys_as_ledger_errors():
    with pytest.raises(LedgerError, match="duplicate key"):
        loader.load_data("a: 1\na: 2\n")
    with pytest.raises(LedgerError, match="mapping keys must be plain scalars"):
        loader.load_data("? [a]\n: 1\n")


# --- reading at most the budget -------------------------------------------------


def test_read_limited_reads_one_byte_past_the_limit_from_a_file_object_or_descriptor(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 3000)
    with open(path, "rb") as handle:
        assert loader.read_limited(handle, 2000) == b"x" * 2001
        assert handle.tell() == 2001  # the rest was never read
    with open(path, "rb") as handle:
        assert loader.read_limited(handle, 3000) == b"x" * 3000  # at the limit: all of it
    fd = os.open(path, os.O_RDONLY)
    try:
        assert loader.read_limited(fd, 10) == b"x" * 11
        assert os.lseek(fd, 0, os.SEEK_CUR) == 11
    finally:
        os.close(fd)


def test_read_limited_collects_short_reads():
    import io

    class Trickle(io.RawIOBase):  # a pipe or FIFO: each read returns what is there, here 2 bytes
        def __init__(self) -> None:
            self.left = b"abcdefghij"

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            n = min(2, len(buffer))
            chunk, self.left = self.left[:n], self.left[n:]
            buffer[:len(chunk)] = chunk
            return len(chunk)

    assert loader.read_limited(Trickle(), 6) == b"abcdefg"
    assert loader.read_limited(Trickle(), 100) == b"abcdefghij"


# --- every budget check: the node or character that crosses the limit is the one reported ---


@pytest.mark.parametrize(("nodes", "at"), [
    # root 1, key `a` 2, `[` 3, `1` 4, key `b` 5, `2` 6: a key, a value, a collection and an
    # item each cross a limit of one less than their count, and are reported where they stand
    (6, None), (5, "2:4"), (4, "2:1"), (3, "1:5"), (2, "1:4"), (1, "1:1"),
])
def test_the_node_budget_is_checked_at_keys_values_items_and_collections(nodes, at):
    text = "a: [1]\nb: 2\n"
    if at is None:
        assert loader.load(text, "s.yaml", _budget(nodes=nodes)).data == {"a": [1], "b": 2}
    else:
        assert _error(text, _budget(nodes=nodes)) == \
            f"s.yaml:{at}: error: document expands to more than {nodes} nodes (alias bomb?)"


@pytest.mark.parametrize(("chars", "at"), [
    # `ab` 2, `cde` 5, `f` 6, `gh` 8 characters so far
    (8, None), (7, "2:4"), (6, "2:4"), (5, "2:1"), (4, "1:5"), (1, "1:1"),
])
def test_the_character_budget_is_checked_at_keys_and_values(chars, at):
    text = "ab: cde\nf: gh\n"
    if at is None:
        assert loader.load(text, "s.yaml", _budget(expanded=chars)).data == {"ab": "cde", "f": "gh"}
    else:
        assert _error(text, _budget(expanded=chars)) == \
            f"s.yaml:{at}: error: document expands to more than {chars} characters of text (alias bomb?)"


def test_text_over_budget_is_named_as_text_even_when_the_nodes_are_exactly_at_theirs():
    # `cde` is node 3 of 3 (at the limit, allowed) and character 5 of 4 (past it)
    assert _error("ab: cde\n", _budget(nodes=3, expanded=4)) == \
        "s.yaml:1:5: error: document expands to more than 4 characters of text (alias bomb?)"


def test_an_alias_of_a_mapping_repeats_its_keys_nodes_and_characters():
    text = "a: &x {k: vv}\nb: *x\n"  # root, a, {, k, vv, b, and the 3 nodes of *x: 9; a k vv b k vv: 8 characters
    assert loader.load(text, "s.yaml", _budget(nodes=9, expanded=8)).data == {"a": {"k": "vv"}, "b": {"k": "vv"}}
    assert "s.yaml:2:4: error: document expands to more than 8 nodes" in _error(text, _budget(nodes=8))
    assert "s.yaml:2:4: error: document expands to more than 7 characters" in _error(text, _budget(expanded=7))


def test_an_anchored_key_can_be_aliased_as_a_value_and_counts_as_one_scalar():
    text = "&k ab: 1\nc: *k\n"  # root, ab, 1, c, *k: 5 nodes; ab 1 c ab: 6 characters
    assert loader.load(text, "s.yaml", _budget(nodes=5, expanded=6)).data == {"ab": 1, "c": "ab"}
    assert "s.yaml:2:4: error: document expands to more than 4 nodes" in _error(text, _budget(nodes=4))
    assert "s.yaml:2:4: error: document expands to more than 5 characters" in _error(text, _budget(expanded=5))
    # a scalar adds no nesting: `[*k]` is as deep as `[x]`
    assert loader.load("&k ab: 1\nc: [*k]\n", "s.yaml", _budget(depth=2)).data == {"ab": 1, "c": ["ab"]}


def test_an_alias_of_an_empty_collection_is_one_level_deep():
    text = "a: &x []\nb: [*x]\n"  # root, `[`, and the aliased `[]`: 3 levels
    assert loader.load(text, "s.yaml", _budget(depth=3)).data == {"a": [], "b": [[]]}
    assert "s.yaml:2:5: error: nesting deeper than 2 levels (through `*x`)" in _error(text, _budget(depth=2))


def test_a_key_at_the_scalar_limit_is_still_text():
    # a number-like key of exactly the scalar limit is a key as written, never a number to convert
    assert loader.load("12345: 1\n", "s.yaml", _budget(scalar=5, number=4)).data == {"12345": 1}


def test_keys_of_nested_mappings_are_text_too():
    key = "1" * 200  # past the number limit: converted, it would be refused
    assert loader.load(f"m:\n  {key}: 1\n", "s.yaml").data == {"m": {key: 1}}


def test_a_nested_key_that_is_a_collection_or_an_alias_is_refused_where_it_stands():
    assert _error("m:\n  ? [" + "1" * 200 + "]\n  : 1\n") == "s.yaml:2:5: error: mapping keys must be plain scalars"
    assert _error("m:\n  a: &x 1\n  *x : 2\n") == "s.yaml:3:3: error: aliases cannot be used as mapping keys"


def test_a_duplicate_key_names_the_line_of_the_first_one_in_nested_and_tagged_keys():
    assert _error("m:\n  a: 1\n  a: 2\n") == "s.yaml:3:3: error: duplicate key `a` (first defined at line 2)"
    assert _error("m:\n  !!str a: 1\n  !!str a: 2\n") == \
        "s.yaml:3:3: error: duplicate key `a` (first defined at line 2)"


def test_a_tagged_null_key_is_its_text():
    assert loader.load("!!null ~: v\n", "s.yaml").data == {"~": "v"}


def test_a_document_start_with_nothing_in_it_is_an_empty_file():
    assert _error("---\n# nothing yet\n") == "s.yaml:1:1: error: empty file: expected a ModelDeployment spec"


def test_a_parser_error_keeps_the_parsers_explanation_after_ours():
    import yaml

    text = "a: [1, 2\n"
    with pytest.raises(yaml.MarkedYAMLError) as parsed:
        list(yaml.parse(text, Loader=loader.YamlLoader))
    problem, context = parsed.value.problem, parsed.value.context
    assert problem and context  # both exist for this input: the message must carry both
    assert _error(text).endswith(f": error: invalid YAML: {problem} {context}")


def test_a_character_yaml_refuses_is_an_error_at_the_start_of_the_file():
    # the reader's error has no line: mlspec reports 1:1 (never 0), with the reader's explanation
    message = _error("a: \x01\n")
    assert message.startswith("s.yaml:1:1: error: invalid YAML: ")
    assert "#x0001" in message


# --- the limits README.md ("Limits on input") promises, at their real values --------------


def test_a_spec_scalar_may_have_256_kib_characters():
    assert len(loader.load("a: " + "x" * 262_144 + "\n", "s.yaml").data["a"]) == 262_144
    assert _error("a: " + "x" * 262_145 + "\n") == \
        "s.yaml:1:4: error: a scalar of 262145 characters; one value in a spec may have at most 262144"


def _ledger_text(size: int) -> str:
    """A ledger-shaped YAML text of exactly `size` bytes, each scalar under the scalar limit."""
    lines, left = [], size
    while left > 250_010:
        lines.append(f"k{len(lines):02}: " + "x" * 250_000 + "\n")  # 250,006 bytes
        left -= len(lines[-1])
    lines.append(f"k{len(lines):02}: " + "x" * (left - 6) + "\n")
    return "".join(lines)


def test_a_ledger_may_have_4_mib_and_as_many_characters_of_text():
    text = _ledger_text(4 * 1024 * 1024)
    assert len(text) == 4 * 1024 * 1024
    assert len(loader.load(text, "l.yaml", loader.LEDGER).data) == 17
    with pytest.raises(LedgerError) as info:
        loader.load(text + "#", "l.yaml", loader.LEDGER)
    assert str(info.value) == "l.yaml:1:1: error: file is over 4194304 bytes; a ledger may be at most 4194304 bytes"


def test_a_ledger_keeps_positions_down_to_a_release_pins_field_and_no_deeper():
    text = "releases:\n- pins:\n    data:\n      version: {a: {b: 1}}\n"
    doc = loader.load(text, "l.yaml", loader.LEDGER)
    deepest = ("releases", 0, "pins", "data", "version")
    assert doc.marks[deepest] == (4, 16) and doc.key_marks[deepest] == (4, 7)
    assert max(len(p) for p in doc.marks) == 5 and max(len(p) for p in doc.key_marks) == 5
    # what is deeper is reported at the nearest position kept
    assert doc.position(deepest + ("a", "b")) == (4, 7)


def test_positions_are_kept_for_paths_as_long_as_the_budget_allows():
    doc = loader.load("a:\n  b:\n    c: 1\n", "s.yaml", _budget(marks=2))
    assert set(doc.marks) == {(), ("a",), ("a", "b")}
    assert set(doc.key_marks) == {("a",), ("a", "b")}


def test_environments_times_text_is_refused_at_16_mib():
    from mlspec import compile_spec

    spec = (ROOT / "examples" / "minimal.yaml").read_text()
    spec = spec.replace("    seed: 7\n", "    seed: 7\n    hyperparameters:\n"
                        + "".join(f"      h{i}: {'x' * 140_000}\n" for i in range(2)))
    spec += "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(64))
    with pytest.raises(SpecError) as info:
        compile_spec(spec.encode(), source="s.yaml")
    [diag] = info.value.diagnostics
    assert "64 environments of a spec of" in diag.message
    assert "(environments x characters at most 16777216)" in diag.message


# --- positions: where a path stands, or its nearest ancestor -----------------------------


def test_position_is_the_key_unless_the_value_is_asked_for():
    doc = loader.load("a:\n  bb: [1, two]\n", "s.yaml")
    assert doc.position(("a", "bb")) == (2, 3)
    assert doc.position(("a", "bb"), key=False) == (2, 7)
    assert doc.locate(("a", "bb")) == ("s.yaml", (2, 3))
    assert doc.locate(("a", "bb"), key=False) == ("s.yaml", (2, 7))


def test_a_missing_path_is_placed_at_its_nearest_ancestor():
    doc = loader.load("# a comment first\n\na:\n  b:\n    c: 1\n", "s.yaml")
    assert doc.position(("a", "b", "missing")) == (4, 3)       # the parent, not the grandparent
    assert doc.position(("a", "b", "x", "y", "z")) == (4, 3)
    assert doc.position(("nothing", "here")) == (3, 1)         # the root, where the mapping starts
    assert loader.Document("s.yaml", {}).locate(("x",)) == ("s.yaml", (1, 1))  # nothing known: 1:1, never 0


# --- copies of loaded data --------------------------------------------------------------


def test_copy_data_copies_every_container_at_every_depth():
    original = {"a": {"b": [1, {"c": "d"}]}, "l": [[1], {"k": None}], "s": {1, 2}}
    copied = loader.copy_data(original)
    assert copied == original
    assert copied["a"] is not original["a"] and copied["a"]["b"] is not original["a"]["b"]
    assert copied["a"]["b"][1] is not original["a"]["b"][1]
    assert copied["l"][0] is not original["l"][0] and copied["l"][1] is not original["l"][1]
    assert copied["s"] is not original["s"]  # anything else: a deep copy too
    copied["a"]["b"][1]["c"] = "changed"
    assert original["a"]["b"][1]["c"] == "d"


def test_the_budgets_are_constants():
    with pytest.raises(dataclasses.FrozenInstanceError):
        loader.SPEC.bytes = 1  # type: ignore[misc]


# last: the slowest test (300,000 nodes parsed); a mutant the tests above kill never pays for it
def test_a_ledger_may_have_300_000_nodes():
    def ledger(items: int) -> str:  # root, `a`, `[` and the items
        return "a: [" + ", ".join(["1"] * items) + "]\n"

    assert len(loader.load(ledger(299_997), "l.yaml", loader.LEDGER).data["a"]) == 299_997
    with pytest.raises(LedgerError, match=r"^l\.yaml:1:\d+: error: document expands to more than 300000 nodes"):
        loader.load(ledger(299_998), "l.yaml", loader.LEDGER)
