"""One exception root for everything a user can get wrong.

Exceptions never print. `cli` is the one place that turns them into output and
exit codes (see `report.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place of one file. Lines and columns are 1-based."""

    source: str
    line: int
    col: int
    message: str
    severity: str = field(default="error", compare=False)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.severity}: {self.message}"


class MlspecError(Exception):
    """Root of every error that is the user's to fix (exit code 1)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @classmethod
    def at(cls, source: str, line: int, col: int, message: str) -> MlspecError:
        return cls([Diagnostic(source, line, col, message)])


class SpecError(MlspecError):
    """The spec itself is invalid: YAML, types, unknown keys, cross-field rules."""


class DriftError(MlspecError):
    """`build --check` found output that differs from what the spec compiles to."""


class GateFailed(MlspecError):
    """An evaluation threshold was not met."""


class LedgerError(MlspecError):
    """The release ledger refuses the operation (immutable versions, mismatch)."""


class PathError(MlspecError):
    """A path mlspec refuses: a symbolic link, `..`, a non-regular or oversized file."""


class RecordError(MlspecError):
    """A training record (`release --from-mlflow`, `--from-record`) cannot be read or lacks a pin."""
