"""Diagnostics -> text for people, JSON for tools, GitHub Actions annotations.

Messages quote what the user wrote (keys, values, file names): text and annotations
pass every source and message through `text.log_safe` here, the one place they are
written, so none can add a line, a terminal escape or a workflow command. JSON
carries them exact (its encoding escapes control characters).
"""

from __future__ import annotations

import json

from mlspec.files.errors import Diagnostic
from mlspec.files.text import github_data, github_property, log_safe

FORMATS = ("text", "json", "github")


def render(diagnostics: list[Diagnostic], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([
            {"file": d.source, "line": d.line, "col": d.col, "severity": d.severity, "message": d.message}
            for d in diagnostics
        ], indent=2)
    if fmt == "github":
        return "\n".join(
            f"::{d.severity} file={github_property(d.source)},line={d.line},col={d.col}::{github_data(d.message)}"
            for d in diagnostics
        )
    return "\n".join(f"{log_safe(d.source)}:{d.line}:{d.col}: {d.severity}: {log_safe(d.message)}" for d in diagnostics)
