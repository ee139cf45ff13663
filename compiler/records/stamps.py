"""Release stamps (DESIGN.md "Reviewable output"): the bytes of an object that change
with the release it belongs to, not with what the cluster does with it.

The one definition: the `app.kubernetes.io/version` label (wherever labels stand, pod
template labels too) and the pin annotations `resolve._pins` writes, plus the spec and
platform digest annotations for as long as objects carry them. Classification is by key
only: an object is *stamps only* when the two sides are equal once every stamp is
stripped from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION_LABEL = "app.kubernetes.io/version"
# The keys `mlspec.pipeline.resolve._pins` writes (a unit test holds the two together),
# and the digests an earlier mlspec put on every object (a diff against an older base
# still meets them): release stamps too.
PIN_ANNOTATIONS = frozenset({
    "mlspec.dev/model-version", "mlspec.dev/artifact-digest", "mlspec.dev/data-version", "mlspec.dev/seed",
    "mlspec.dev/code-commit", "mlspec.dev/feature-pipeline-version", "mlspec.dev/owner",
})
DIGEST_ANNOTATIONS = frozenset({"mlspec.dev/spec-digest", "mlspec.dev/platform-digest"})
STAMP_ANNOTATIONS = PIN_ANNOTATIONS | DIGEST_ANNOTATIONS


def strip(data: Any) -> Any:
    """`data` (a parsed object) without its release stamps: every `labels` map loses the
    version label, every `annotations` map the stamp annotations; nothing else moves."""
    if isinstance(data, list):
        return [strip(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "labels" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != VERSION_LABEL}
        elif key == "annotations" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in STAMP_ANNOTATIONS}
        out[key] = strip(value)
    return out


def stamps_of(data: Any) -> set[tuple[str, str]]:
    """Every (stamp key, value) in `data`, wherever it stands."""
    found: set[tuple[str, str]] = set()
    if isinstance(data, list):
        for item in data:
            found |= stamps_of(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "labels" and isinstance(value, dict) and VERSION_LABEL in value:
                found.add((VERSION_LABEL, str(value[VERSION_LABEL])))
            elif key == "annotations" and isinstance(value, dict):
                found |= {(k, str(v)) for k, v in value.items() if k in STAMP_ANNOTATIONS}
            found |= stamps_of(value)
    return found


def behaviour_changed(old: Any, new: Any) -> bool:
    """True when the objects differ in more than their release stamps."""
    return bool(strip(old) != strip(new))


@dataclass(frozen=True)
class StampNote:
    """What the stamps-only objects have in common: the release they moved to."""

    count: int
    old_version: str | None
    new_version: str | None
    keys: tuple[str, ...]  # the stamp keys that changed, sorted

    def line(self) -> str:
        """`27 objects: release stamps only (1.0.0 -> 1.1.0)`."""
        noun = "object" if self.count == 1 else "objects"
        if self.old_version != self.new_version:
            what = f"{self.old_version or '(none)'} -> {self.new_version or '(none)'}"
        else:
            what = ", ".join(self.keys)
        return f"{self.count} {noun}: release stamps only ({what})"


def note(pairs: list[tuple[Any, Any]]) -> StampNote | None:
    """The note for stamps-only objects given as (old, new) pairs; None for none."""
    if not pairs:
        return None
    olds = {v for old, _ in pairs for k, v in stamps_of(old) if k == VERSION_LABEL}
    news = {v for _, new in pairs for k, v in stamps_of(new) if k == VERSION_LABEL}
    keys = sorted({k for old, new in pairs for k, _ in stamps_of(old) ^ stamps_of(new)})
    return StampNote(len(pairs), ", ".join(sorted(olds)) or None, ", ".join(sorted(news)) or None, tuple(keys))
