"""`build --check`'s report: what drifted (changed, missing, unexpected files), the first
lines of each file's diff, and once the command that regenerates the output.

Bounded for any tree: at most `drift.FILE_LINES` diff lines per file and `drift.TOTAL_LINES`
lines in all (file headers included), then one line counting what was left out. Text
and GitHub output pass every line through the escaping of `mlspec.files.text`; JSON
carries the same information exactly, in a stable shape.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.files.drift import FILE_LINES, TOTAL_LINES, Drift
from mlspec.files.errors import Diagnostic
from mlspec.files.text import github_data, github_property, log_safe

KINDS = ("changed", "missing", "unexpected")


def regenerate(specs: tuple[str, ...], out: str | None, env: str | None, platform: str | None, root: str | None,
               ledger: str | None) -> list[str]:
    """The `mlspec build` arguments that write what `--check` expected: the same specs,
    output (when `-o` was given: else the same default place), environment, platform
    file, root and ledger as given, without `--check`."""
    argv = ["mlspec", "build", *specs, *(["-o", out] if out is not None else [])]
    for option, value in (("--env", env), ("--platform", platform), ("--root", root), ("--ledger", ledger)):
        if value is not None:
            argv += [option, value]
    return argv


@dataclass(frozen=True)
class Shown:
    """One drifted file as reported: its diff lines within the budget (None: past the budget)."""

    drift: Drift
    path: str
    diff: tuple[str, ...] | None

    @property
    def truncated(self) -> bool:
        return self.diff is None or len(self.diff) < len(self.drift.diff) or self.drift.truncated


def budget(drifts: list[Drift], out: Path) -> list[Shown]:
    """Every drifted file with the diff lines the budget leaves it: a file costs one line (its
    header) plus its diff lines, TOTAL_LINES in all. A directory another model claims and an
    unreadable file come first (no diff explains them; a build refuses or fails on them),
    then the files in path order."""
    left, shown = TOTAL_LINES, []
    for d in sorted(drifts, key=lambda d: (d.kind in KINDS, d)):
        if left <= 0:
            shown.append(Shown(d, str(out / d.path), None))
            continue
        lines = d.diff[:min(FILE_LINES, left - 1)]
        left -= 1 + len(lines)
        shown.append(Shown(d, str(out / d.path), lines))
    return shown


def _counts(shown: list[Shown]) -> dict[str, int]:
    """Files per kind: changed, missing and unexpected always, the rarer kinds when present."""
    counts = Counter(s.drift.kind for s in shown)
    return {**{k: counts[k] for k in KINDS}, **{k: n for k, n in sorted(counts.items()) if k not in KINDS}}


def _summary(shown: list[Shown]) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in _counts(shown).items())
    line = f"mlspec: {len(shown)} file(s) differ from what the specs compile to ({kinds})"
    files, lines = _left_out(shown)
    if files or lines:
        line += (f"; left out: {lines} diff line(s)" + (f" and {files} file(s)" if files else "")
                 + f" (at most {FILE_LINES} diff lines per file, {TOTAL_LINES} lines in all)")
    return line


def _left_out(shown: list[Shown]) -> tuple[int, int]:
    """(files not shown at all, diff lines not shown)."""
    files = sum(s.diff is None for s in shown)
    lines = sum(s.drift.diff_lines - len(s.diff or ()) for s in shown)
    return files, lines


def _header(s: Shown) -> str:
    if s.drift.diff_lines > len(s.diff or ()):
        return f"{s.drift.message} (diff: first {len(s.diff or ())} of {s.drift.diff_lines} lines)"
    return s.drift.message


def text(drifts: list[Drift], out: Path, argv: list[str]) -> str:
    """For people (stderr): per file `path:1:1: error: kind: ...` and its diff, the count, the command."""
    shown, lines = budget(drifts, out), []
    for s in shown:
        if s.diff is not None:
            lines.append(f"{log_safe(s.path)}:1:1: error: {log_safe(_header(s))}")
            lines.extend("  " + log_safe(line) for line in s.diff)
    lines.append(_summary(shown))
    lines.append(f"to update the output, run: {log_safe(shlex.join(argv))}")
    return "\n".join(lines)


def github(drifts: list[Drift], out: Path, argv: list[str]) -> str:
    """One annotation per shown file carrying its diff, then the count and the command."""
    shown = budget(drifts, out)
    # each line escaped on its own, then joined with the encoded newline GitHub shows as a line break
    lines = [f"::error file={github_property(s.path)},line=1,col=1::" + "%0A".join(map(github_data, [_header(s), *s.diff]))
             for s in shown if s.diff is not None]
    lines.append(log_safe(_summary(shown)))
    lines.append(f"to update the output, run: {log_safe(shlex.join(argv))}")
    return "\n".join(lines)


def as_json(drifts: list[Drift], out: Path, argv: list[str], warnings: list[Diagnostic]) -> str:
    """The same, for tools: every drifted file (those past the budget with an empty diff)."""
    shown = budget(drifts, out)
    files, lines = _left_out(shown)
    document: dict[str, Any] = {
        "upToDate": not shown,
        "files": [{"path": s.path, "kind": s.drift.kind, "message": s.drift.message, "diff": list(s.diff or ()),
                   "diffLines": s.drift.diff_lines, "truncated": s.truncated} for s in shown],
        "counts": _counts(shown),
        "leftOut": {"files": files, "diffLines": lines},
        "limits": {"fileLines": FILE_LINES, "totalLines": TOTAL_LINES},
        "command": shlex.join(argv),
        "argv": argv,
        "warnings": [{"file": d.source, "line": d.line, "col": d.col, "severity": d.severity, "message": d.message}
                     for d in warnings],
    }
    return json.dumps(document, indent=2)
