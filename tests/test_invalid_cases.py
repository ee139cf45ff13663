"""Folder-driven corpus: every `cases/invalid/*.yaml` is rejected with its expected
message at its expected position. Each file starts with one or more lines
`# expect: LINE:COL: text`, where text is a substring of the message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import compile_spec
from mlspec.cli.main import main
from mlspec.files.errors import SpecError

CASES = sorted((Path(__file__).parent / "cases" / "invalid").glob("*.yaml"))
EXPECT = re.compile(rb"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)


def expectations(path: Path) -> list[tuple[int, int, str]]:
    found = [(int(m[1]), int(m[2]), m[3].decode()) for m in EXPECT.finditer(path.read_bytes())]
    assert found, f"{path.name} has no `# expect:` line"
    return found


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_invalid_case_is_reported_at_its_position(case):
    with pytest.raises(SpecError) as info:
        compile_spec(case.read_bytes(), source=case.name)
    diagnostics = info.value.diagnostics
    assert all(d.source == case.name and d.line >= 1 and d.col >= 1 for d in diagnostics)
    for line, col, text in expectations(case):
        matching = [d for d in diagnostics if text in d.message]
        assert matching, f"no diagnostic mentions {text!r}: {[str(d) for d in diagnostics]}"
        assert any((d.line, d.col) == (line, col) for d in matching), \
            f"{text!r} expected at {line}:{col}, got {[str(d) for d in matching]}"


@pytest.mark.parametrize("case", CASES[::5], ids=lambda p: p.stem)
def test_cli_rejects_case_with_exit_1_and_writes_nothing(case, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(case), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{case}:" in result.stderr and ": error: " in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
