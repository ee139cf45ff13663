from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec import emit

FILES_V1 = {"prod/m/a.yaml": "a: 1\n", "prod/m/kustomization.yaml": "k: 1\n"}
FILES_V2 = {"prod/m/b.yaml": "b: 2\n", "prod/m/kustomization.yaml": "k: 2\n"}


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dump_is_block_style_with_literal_multiline_strings():
    text = emit.dump({"a": "x\ny\n", "b": [1, {"c": "d"}], "e": "x" * 300})
    assert "a: |\n  x\n  y\n" in text
    assert "\n" not in text.split("e: ", 1)[1].rstrip("\n")  # never folded
    assert yaml.safe_load(text) == {"a": "x\ny\n", "b": [1, {"c": "d"}], "e": "x" * 300}


def test_rebuild_replaces_owned_files_and_keeps_foreign_ones(tmp_path):
    emit.write_tree(tmp_path, FILES_V1)
    foreign = tmp_path / "prod/m/patch.yaml"
    foreign.write_text("mine\n")
    inode = foreign.stat().st_ino
    emit.write_tree(tmp_path, FILES_V2)
    tree = _tree(tmp_path)
    assert "prod/m/a.yaml" not in tree  # owned and no longer produced: pruned
    assert tree["prod/m/b.yaml"] == "b: 2\n"
    assert tree["prod/m/patch.yaml"] == "mine\n" and foreign.stat().st_ino == inode
    assert tree["prod/m/.mlspec-owned"] == "b.yaml\nkustomization.yaml\n"
    assert not [p for p in tmp_path.rglob(".*.mlspec-*")]  # no staging left behind


def test_failure_while_staging_changes_nothing(tmp_path, monkeypatch):
    emit.write_tree(tmp_path, FILES_V1)
    before = _tree(tmp_path)
    calls = []

    def failing_fill(stage, target, contents):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_fill(stage, target, contents)

    real_fill = emit._fill
    monkeypatch.setattr(emit, "_fill", failing_fill)
    with pytest.raises(OSError):
        emit.write_tree(tmp_path, {**FILES_V2, "staging/m/x.yaml": "x\n"})
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prod"]


def test_drift_lists_changed_missing_and_stale(tmp_path):
    emit.write_tree(tmp_path, FILES_V1)
    (tmp_path / "prod/m/kustomization.yaml").write_text("edited\n")
    drift = dict(emit.drift(tmp_path, FILES_V2))
    assert drift["prod/m/kustomization.yaml"].startswith("changed")
    assert drift["prod/m/b.yaml"].startswith("missing")
    assert drift["prod/m/a.yaml"].startswith("stale")
    assert emit.drift(tmp_path, FILES_V1 | {"prod/m/kustomization.yaml": "edited\n"}) == []


SPEC_TEMPLATE = (Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml").read_text()


def _specs(directory: Path, count: int, replicas: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        text = SPEC_TEMPLATE.replace("name: churn", f"name: churn-{i}")
        text = text.replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n")
        (directory / f"m{i}.yaml").write_text(text)


def _build_command(specs: Path, out: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "mlspec.cli", "build", str(specs), "-o", str(out), "-j", str(jobs)]


def test_killed_build_leaves_every_output_directory_whole(tmp_path):
    """SIGKILL a build at several moments: each directory is entirely old or entirely new."""
    specs, out = tmp_path / "specs", tmp_path / "out"
    _specs(specs, 60, replicas=2)
    cmd = _build_command(specs, out, 1)
    subprocess.run(cmd, check=True, capture_output=True)
    old = _tree(out)
    _specs(specs, 60, replicas=3)
    new_run = tmp_path / "expected"
    subprocess.run(cmd[:-4] + [str(specs), "-o", str(new_run), "-j", "1"], check=True, capture_output=True)
    new = _tree(new_run)
    for delay in (0.05, 0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _tree(out)
        for i in range(60):
            prefix = f"default/churn-{i}/"
            mine = {k: v for k, v in now.items() if k.startswith(prefix)}
            assert mine in ({k: v for k, v in old.items() if k.startswith(prefix)},
                            {k: v for k, v in new.items() if k.startswith(prefix)}), (delay, prefix)
        # restore the old output for the next round
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
        if _tree(out) != new:
            raise AssertionError("rebuild did not converge")
        _specs(specs, 60, replicas=2)
        subprocess.run(cmd, check=True, capture_output=True)
        _specs(specs, 60, replicas=3)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_keys = st.text(max_size=12)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(allow_nan=False),
                     st.text(max_size=30),
                     st.sampled_from(["y", "N", "on", "Off", "null", "~", "1.10", "0x1F", "1:30", "2026-11-27",
                                      "a: b", "- x", "#", "x\n", "\n", " x", "x ", "x\n\n", "|", ">", "'", '"',
                                      ".inf", "-.nan", "=", "<<", "@x", "`x", "%x", "!x", "&a", "*a", "?", "{}", "[]"]))
_data = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                     max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_keys, _data, max_size=6))
def test_dump_round_trips_any_plain_data(data):
    assert yaml.safe_load(emit.dump(data)) == data


@pytest.mark.parametrize("word", ["y", "Y", "n", "no", "NO", "on", "Off", "yes", "true", "null"])
def test_words_yaml_1_1_readers_retype_are_quoted(word):
    assert emit.dump({"v": word}) == f"v: '{word}'\n"


def test_encoding_caches_are_bounded_and_change_nothing(monkeypatch):
    doc = {"k": ["a", "b: c", "yes", "x\ny\n", {"n": "x\ny\n", "t": True, "one": 1}], "k2": {"a": "a", "yes": "no"}}
    expected = emit.dump(doc)
    monkeypatch.setattr(emit, "_CACHE_LIMIT", 2)
    emit._SCALARS.clear()
    emit._BLOCKS.clear()
    emit._HEADS.clear()
    for _ in range(2):
        assert emit.dump(doc) == expected
    assert len(emit._SCALARS) <= 2 and len(emit._BLOCKS) <= 2 and all(len(h) <= 2 for h in emit._HEADS)
    assert yaml.safe_load(expected) == doc


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
def test_pretty_json_is_the_standard_librarys_indented_json(value, ascii_only):
    assert emit.pretty_json(value, ascii_only) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=ascii_only)


def test_pretty_json_hands_other_types_to_the_standard_library():
    assert emit.pretty_json({"a": (1, 2), "b": {1: "x"}}) == json.dumps({"a": (1, 2), "b": {1: "x"}}, indent=2, sort_keys=True)
    with pytest.raises(TypeError):
        emit.pretty_json({"a": {1, 2}})


def test_directories_are_swapped_atomically_on_linux(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("new")
    (b / "f").write_text("old")
    assert emit._exchange(a, b)  # renameat2(RENAME_EXCHANGE) from the C library the interpreter links
    assert (b / "f").read_text() == "new" and (a / "f").read_text() == "old"


def test_a_killed_builds_stages_are_removed_even_beside_unchanged_directories(tmp_path):
    specs, out = tmp_path / "specs", tmp_path / "out"
    _specs(specs, 10, replicas=2)
    cmd = _build_command(specs, out, 2)
    subprocess.run(cmd, check=True, capture_output=True)
    before = _tree(out)
    # what a build SIGKILLed between staging and swapping leaves behind
    for leftover in (out / "default" / ".churn-3.mlspec-x1y2", out / "._ledger.mlspec-z3"):
        leftover.mkdir()
        (leftover / "rollout.yaml").write_text("half-written\n")
    subprocess.run(cmd, check=True, capture_output=True)  # nothing changed: no directory is rewritten
    assert _tree(out) == before and not list(out.rglob(".*.mlspec-*"))
