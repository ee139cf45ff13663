"""One exception root for everything a user can get wrong.

Exceptions never print. `cli` is the one place that turns them into output and
exit codes (see `report.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


# The rules whose diagnostics are warnings or notes: the only ids a spec or the platform
# file may acknowledge (`spec.acknowledge`). An error cannot be acknowledged.
WARNING_RULES = ("canary-weight-unmet", "capacity-note")


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place of one file. Lines and columns are 1-based."""

    source: str
    line: int
    col: int
    message: str
    severity: str = field(default="error", compare=False)
    # A stable, kebab-case id of the rule (listed in docs/rules.md): what `--format json`
    # carries, what a spec or the platform file acknowledges. Empty only until the
    # exception carrying it fills in its class's id.
    rule: str = field(default="", compare=False)

    def __str__(self) -> str:
        # The rule id is printed by `cli.report`, where diagnostics meet people and tools.
        return f"{self.where}{self.severity}: {self.message}"

    @property
    def where(self) -> str:
        """`file:line:col: `, or nothing for a problem with no place in a file (line 0:
        a file that does not exist; its message names the path)."""
        return f"{self.source}:{self.line}:{self.col}: " if self.line else ""


class MlspecError(Exception):
    """Root of every error that is the user's to fix (exit code 1)."""

    rule = "invalid-input"  # the id of a diagnostic its raiser gave none (docs/rules.md)

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(d if d.rule else replace(d, rule=self.rule) for d in diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @classmethod
    def at(cls, source: str, line: int, col: int, message: str, rule: str = "") -> MlspecError:
        return cls([Diagnostic(source, line, col, message, rule=rule)])


class SpecError(MlspecError):
    """The spec itself is invalid: YAML, types, unknown keys, cross-field rules."""

    rule = "spec-invalid"


class DriftError(MlspecError):
    """`build --check` found output that differs from what the spec compiles to."""

    rule = "output-drift"


class GateFailed(MlspecError):
    """An evaluation threshold was not met."""

    rule = "gate-failed"


class LedgerError(MlspecError):
    """The release ledger refuses the operation (immutable versions, mismatch)."""

    rule = "ledger-refused"


class PathError(MlspecError):
    """A path mlspec refuses: a symbolic link, `..`, a non-regular or oversized file."""

    rule = "path-refused"


class RecordError(MlspecError):
    """A training record (`release --from-mlflow`, `--from-record`) cannot be read or lacks a pin."""

    rule = "record-invalid"
