"""Diagnostics -> text for people, JSON for tools, GitHub Actions annotations.

Messages quote what the user wrote (keys, values, file names): text and annotations
pass every source and message through `text.log_safe` here, the one place they are
written, so none can add a line, a terminal escape or a workflow command. JSON
carries them exact (its encoding escapes control characters).

Text and annotations print a warning that many specs share once, with the number of
specs it concerns (a batch of 300 copies of one template warns twice, not 600 times);
JSON lists every one, each with its rule id.
"""

from __future__ import annotations

import json
from typing import Any

from mlspec.files.errors import Diagnostic
from mlspec.files.text import github_data, github_property, log_safe

FORMATS = ("text", "json", "github")


def as_data(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """The JSON shape of diagnostics (schemas/output/diagnostics.schema.json)."""
    return [{"file": d.source, "line": d.line, "col": d.col, "severity": d.severity, "rule": d.rule,
             "message": d.message} for d in diagnostics]


def grouped(diagnostics: list[Diagnostic]) -> list[tuple[Diagnostic, int]]:
    """Each distinct warning or note (same rule, same message) once, at its first place,
    with the number of specs it concerns. Errors are never folded: each is the user's
    to fix where it is."""
    first: dict[tuple[str, str, str], Diagnostic] = {}
    files: dict[tuple[str, str, str], set[str]] = {}
    out: list[Diagnostic] = []
    for d in diagnostics:
        if d.severity == "error":
            out.append(d)
            continue
        key = (d.severity, d.rule, d.message)
        if key not in first:
            first[key] = d
            out.append(d)
        files.setdefault(key, set()).add(d.source)
    return [(d, 1 if d.severity == "error" else len(files[(d.severity, d.rule, d.message)])) for d in out]


def _suffix(d: Diagnostic, specs: int) -> str:
    """` [rule-id]`, and for a folded warning how many more specs it concerns."""
    rule = f" [{d.rule}]" if d.rule else ""
    return rule + (f" (and {specs - 1} more spec(s))" if specs > 1 else "")


def _text(d: Diagnostic, specs: int) -> str:
    where = f"{log_safe(d.source)}:{d.line}:{d.col}: " if d.line else ""
    return f"{where}{d.severity}: {log_safe(d.message + _suffix(d, specs))}"


def render(diagnostics: list[Diagnostic], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(as_data(diagnostics), indent=2)
    if fmt == "github":
        return "\n".join(
            f"::{d.severity} file={github_property(d.source)}{f',line={d.line},col={d.col}' if d.line else ''}::"
            f"{github_data(d.message + _suffix(d, n))}"
            for d, n in grouped(diagnostics)
        )
    return "\n".join(_text(d, n) for d, n in grouped(diagnostics))
