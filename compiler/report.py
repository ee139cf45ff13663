"""Diagnostics -> text for people, JSON for tools, GitHub Actions annotations."""

from __future__ import annotations

import json

from mlspec.errors import Diagnostic

FORMATS = ("text", "json", "github")


def _escape_github(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render(diagnostics: list[Diagnostic], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([
            {"file": d.source, "line": d.line, "col": d.col, "severity": d.severity, "message": d.message}
            for d in diagnostics
        ], indent=2)
    if fmt == "github":
        return "\n".join(
            f"::{d.severity} file={_escape_github(d.source, prop=True)},line={d.line},col={d.col}::{_escape_github(d.message)}"
            for d in diagnostics
        )
    return "\n".join(str(d) for d in diagnostics)
