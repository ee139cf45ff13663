"""What `build --check` found on disk: one `Drift` per file that differs, with the first
lines of its unified diff (on disk -> what the build writes).

Bounded wherever the input is not: at most `FILE_LINES` diff lines per file (the rest
only counted), at most `LINE_CHARS` characters per line (a huge single-line value is
cut, the cut counted), so a worker sends its parent little whatever the tree holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

FILE_LINES = 20    # diff lines shown per file
TOTAL_LINES = 200  # diff lines shown in all (`build --check` applies it over every file)
LINE_CHARS = 200   # characters shown of one diff line

CHANGED, MISSING, UNEXPECTED, UNREADABLE, CLAIMED = "changed", "missing", "unexpected", "unreadable", "claimed"


@dataclass(frozen=True, order=True)
class Drift:
    """One file (or directory, for `claimed`) whose state on disk is not what the build writes."""

    path: str                  # relative to the output directory
    kind: str                  # changed | missing | unexpected | unreadable | claimed
    message: str
    diff: tuple[str, ...] = field(default=())  # the first FILE_LINES lines of the unified diff
    diff_lines: int = 0        # lines of the whole diff (diff_lines > len(diff): the rest is left out)

    @property
    def truncated(self) -> bool:
        return self.diff_lines > len(self.diff) or any(_CUT in line for line in self.diff)


_CUT = " [... "


def cut(line: str) -> str:
    """`line` at most LINE_CHARS characters, saying how many more there were."""
    if len(line) <= LINE_CHARS:
        return line
    return f"{line[:LINE_CHARS]}{_CUT}{len(line) - LINE_CHARS} more characters]"


def _text(data: bytes) -> list[str]:
    """Lines of a file's bytes as Git shows them (CRLF read as LF, bytes that are not UTF-8 replaced)."""
    return data.replace(b"\r\n", b"\n").decode("utf-8", errors="replace").splitlines()


def unified(path: str, kind: str, message: str, on_disk: bytes | None, built: str | None) -> Drift:
    """The drift of `path`: `on_disk` is None for a missing file, `built` None for an unexpected one."""
    import difflib  # only when something drifted: a build never needs it

    old = [] if on_disk is None else _text(on_disk)
    new = [] if built is None else built.splitlines()
    lines = difflib.unified_diff(old, new, "/dev/null" if on_disk is None else f"a/{path}",
                                 "/dev/null" if built is None else f"b/{path}", lineterm="", n=3)
    shown = tuple(cut(line) for line in islice(lines, FILE_LINES))
    return Drift(path, kind, message, shown, len(shown) + sum(1 for _ in lines))
