"""Ledger history is append-only under review: what `mlspec diff --base REF` reports
when an entry that existed at REF changed, or when which release is current changed in a
way no release explains.

Anyone who can open a pull request can edit a ledger and recompute every seal: the seals
catch accidents, this comparison (read by a reviewer, failing `--fail-on-loosened`) and
signed attestations (`mlspec.records.attest`) catch people. What a build may legitimately
add to an existing entry is kept out: the first evaluation (`metrics`, `gate`: reported by
`diff.recorded_changes` when they change), environments first recorded, the evaluation
pins of an upgrade, and the seal that follows from those. Everything else an entry
recorded at REF is history: its recorded spec, pins, per-environment pins, spec digest,
environments, source and seal.
"""

from __future__ import annotations

from typing import Any

from mlspec.records import ledger
from mlspec.records.diff import Change, recorded_changes
from mlspec.records.ledger import Ledger

REWRITTEN = "(history rewritten)"
# Keys `diff.recorded_changes` compares itself, or that a build may add (see above).
_OWN = frozenset({"metrics", "gate", "pins", "environmentPins", "environments", "spec", "digest", "version"})
# What a rollback's rebuild of the release it restores may change in its recorded spec.
_ROLLBACK_FIELDS = "spec.rollback."


def changes(old: Any, new: Ledger) -> list[Change]:
    """Every change to the ledger at the base ref (`old`, its loaded data) that rewrites
    history, after the recorded evaluations `diff.recorded_changes` reports."""
    out = [Change(f"{c.field} {REWRITTEN}", c.old, c.new) for c in recorded_changes(old, new)]
    releases = old.get("releases") if isinstance(old, dict) else None
    entries = [e for e in (releases if isinstance(releases, list) else [])
               if isinstance(e, dict) and isinstance(e.get("version"), str)]
    old_rollbacks = [r for r in (old.get("rollbacks") if isinstance(old, dict) else None) or [] if isinstance(r, dict)]
    kept = [r for r in new.rollbacks if r in old_rollbacks]
    for record in old_rollbacks:  # a rollback recorded at the base is history too
        if record not in kept:
            out.append(Change(f"rollback record #{record.get('sequence')} {REWRITTEN}", record, None))
    fresh = [r for r in new.rollbacks if r not in old_rollbacks]
    restored = {r.get("to") for r in fresh}
    for entry in entries:
        out.extend(_entry_changes(entry, new.find(entry["version"]), entry["version"] in restored))
    before = old.get("current") if isinstance(old, dict) else None
    if fresh and new.current == fresh[-1].get("to") and fresh[0].get("from") == before:
        return out  # the move of `current` is a rollback recorded since the base, from the release current there
    out.extend(_current_changes(before, {e["version"] for e in entries}, new))
    return out


def _entry_changes(before: dict[str, Any], now: dict[str, Any] | None, restored: bool = False) -> list[Change]:
    """`restored`: a rollback recorded since the base brought this release back, which
    rebuilds its entry with the release it left as `previous` (and the baseline it was
    judged against): those fields of its recorded spec, and the spec digests that follow
    from them, may change; its pins may not."""
    version = before["version"]
    if now is None:
        return [Change(f"release {version} {REWRITTEN}", "recorded", None)]
    out = []
    for key in sorted(k for k in before if k not in _OWN):  # specDigest, source, and any other key
        if before[key] != now.get(key) and not (restored and key == "specDigest"):
            out.append(Change(f"`{key}` of release {version} {REWRITTEN}", before[key], now.get(key)))
    old_spec, new_spec = ledger.flat(before.get("spec")), ledger.flat(now.get("spec"))
    for key in sorted(old_spec.keys() | new_spec.keys()):
        if restored and (key.startswith(_ROLLBACK_FIELDS) or key == "spec.evaluation.baseline"):
            continue
        if old_spec.get(key) != new_spec.get(key):
            out.append(Change(f"recorded spec `{key}` of release {version} {REWRITTEN}", old_spec.get(key),
                              new_spec.get(key)))
    old_envs, new_envs = _mapping(before.get("environments")), _mapping(now.get("environments"))
    for env in sorted(old_envs):
        if old_envs[env] != new_envs.get(env) and not restored:
            out.append(Change(f"environment `{env}` of release {version} {REWRITTEN}", old_envs[env], new_envs.get(env)))
    out.extend(_environment_pins(version, before, now, sorted(old_envs)))
    old_pins, new_pins = _mapping(before.get("pins")), _mapping(now.get("pins"))
    for key in sorted(new_pins.keys() - old_pins.keys() - {"evaluation"}):  # changed ones: `recorded_changes`
        out.append(Change(f"pin `{key}` of release {version} {REWRITTEN}", None, new_pins[key]))
    if "digest" in before and "digest" not in now:
        out.append(Change(f"seal of release {version} {REWRITTEN}", before["digest"], None))
    return out


def _environment_pins(version: str, before: dict[str, Any], now: dict[str, Any], envs: list[str]) -> list[Change]:
    """The pins each environment recorded at the base ran with (its own, else the base's):
    adding `environmentPins` to an old entry would let an overlay swap a released artifact."""
    old_own, new_own = _mapping(before.get("environmentPins")), _mapping(now.get("environmentPins"))
    out = []
    for env in envs:
        old = ledger.flat(old_own.get(env, before.get("pins")))
        new = ledger.flat(new_own.get(env, now.get("pins")))
        for key in sorted(old.keys() | new.keys()):
            if key.startswith("evaluation.") and key not in old:
                continue  # the evaluation pins an upgrade adds once
            if old.get(key) != new.get(key) and (env in old_own or env in new_own):
                out.append(Change(f"pin `{key}` of release {version} in environment `{env}` {REWRITTEN}",
                                  old.get(key), new.get(key)))
    return out


def _current_changes(before: Any, recorded: set[str], now: Ledger) -> list[Change]:
    """Which release is current may move only to a release added since the base, one whose
    recorded `previous` chain leads back to the base's current release: otherwise a new
    release took another baseline than the deployed one (the `current` edited locally
    before the build), or an old release was made current by hand."""
    if now.current == before:
        return []
    if now.current in recorded:
        return [Change(f"current release {REWRITTEN}", before, now.current)]
    seen: list[str] = []
    version = now.current
    while version is not None and version not in recorded and version not in seen:
        seen.append(version)
        version = _previous(now.find(version))
    if version == before or (before is None and version is None):
        return []
    return [Change(f"baseline of release {seen[-1] if seen else now.current} {REWRITTEN}", before, version)]


def _previous(entry: dict[str, Any] | None) -> str | None:
    """The version an entry's recorded spec names as `rollback.previous`."""
    node: Any = entry.get("spec") if entry else None
    for key in ("spec", "rollback", "previous", "version"):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
