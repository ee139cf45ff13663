"""The manifests part of `mlspec diff`: each changed object is *behaviour* (a unified
diff hunk) or *stamps only* (counted on one line: `stamps`).

Both sides get the same header (where the new spec is), so a renamed spec file or a
moved checkout shows no change of its own.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from mlspec.pipeline.core import Compiled, to_files
from mlspec.records import stamps


@dataclass
class Manifests:
    hunks: dict[str, str] = field(default_factory=dict)  # path -> unified diff: behaviour changes
    stamped: list[str] = field(default_factory=list)      # paths whose only change is their release stamps
    note: stamps.StampNote | None = None

    def stamp_line(self) -> str | None:
        return self.note.line() if self.note else None


def _objects(items: list[Compiled]) -> dict[str, Any]:
    return {f"{item.directory}/{filename}": obj for item in items for filename, obj in item.objects.items()}


def compare(old: list[Compiled], new: list[Compiled], source: str) -> Manifests:
    """The changed files of `new` against `old` (both compiled from one spec, or `old` empty)."""
    old_files, new_files = to_files(old, source), to_files(new, source)
    old_objects, new_objects = _objects(old), _objects(new)
    out = Manifests()
    pairs: list[tuple[Any, Any]] = []
    for path in sorted(old_files.keys() | new_files.keys()):
        before, after = old_files.get(path, ""), new_files.get(path, "")
        if before == after:
            continue
        if path in old_objects and path in new_objects and \
                not stamps.behaviour_changed(old_objects[path], new_objects[path]):
            out.stamped.append(path)
            pairs.append((old_objects[path], new_objects[path]))
            continue
        out.hunks[path] = "".join(difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True),
            fromfile=f"a/{path}" if path in old_files else "/dev/null",
            tofile=f"b/{path}" if path in new_files else "/dev/null"))
    out.note = stamps.note(pairs)
    return out


def behaviour_paths(old: list[Compiled], new: list[Compiled], source: str) -> list[str]:
    """The files whose behaviour changes (added, removed, or more than stamps); a
    kustomization.yaml only lists files, so it never counts on its own."""
    result = compare(old, new, source)
    return [path for path in result.hunks if not path.endswith("kustomization.yaml")]
