"""`mlspec diff`: what a spec change means for the model, then what it does to the manifests.

The summary speaks ML: model, data, seed, environment and feature changes; every
threshold tightened, added, removed or loosened (removal and loosening are
warnings: a pull request that weakens a quality gate must stand out); rollout,
replicas and resources. Then a unified diff per emitted object.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mlspec import resolve, traffic
from mlspec.core import CompiledSpec, to_files
from mlspec.model import ModelDeployment

# (label, path into the spec dumped by alias)
PINNED = [
    ("model version", ("model", "version")),
    ("artifact", ("model", "artifact", "uri")),
    ("artifact digest", ("model", "artifact", "digest")),
    ("training code commit", ("training", "code", "commit")),
    ("training data", ("training", "data", "uri")),
    ("training data version", ("training", "data", "version")),
    ("training data digest", ("training", "data", "digest")),
    ("seed", ("training", "seed")),
    ("training environment", ("training", "environment", "image")),
    ("lockfile digest", ("training", "environment", "lockfileDigest")),
    ("feature pipeline", ("features", "pipelineVersion")),
    ("feature schema digest", ("features", "schemaDigest")),
    ("evaluation dataset version", ("evaluation", "dataset", "version")),
    ("evaluation baseline", ("evaluation", "baseline")),
    ("serving image", ("serving", "image")),
    ("serving runtime", ("serving", "runtime")),
    ("replicas", ("serving", "replicas")),
    ("serving resources", ("serving", "resources")),
    ("rollout strategy", ("rollout", "strategy")),
    ("rollout steps", ("rollout", "steps")),
    ("blue-green promotion", ("rollout", "blueGreen")),
    ("online analysis", ("rollout", "analysis")),
    ("rollback target", ("rollback", "previous", "version")),
]
# Which direction makes a bound stricter.
STRICTER = {"min": 1, "max": -1, "maxDrop": -1}


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ThresholdChange:
    metric: str
    bound: str
    old: float | None
    new: float | None
    change: str  # added | removed | tightened | loosened

    @property
    def warning(self) -> bool:
        return self.change in ("removed", "loosened")


@dataclass
class SpecDiff:
    name: str
    changes: list[Change]
    thresholds: list[ThresholdChange]
    manifests: dict[str, str]  # path -> unified diff
    alerts: list[str] = field(default_factory=list)  # rollout changes that widen exposure

    @property
    def warnings(self) -> list[ThresholdChange]:
        return [t for t in self.thresholds if t.warning]


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _bounds(spec: ModelDeployment | None) -> dict[tuple[str, str], float]:
    bounds: dict[tuple[str, str], float] = {}
    if spec is None:
        return bounds
    for t in spec.spec.evaluation.thresholds:
        for bound, value in (("min", t.min), ("max", t.max), ("maxDrop", t.max_drop)):
            if value is None:
                continue
            key = (t.metric, bound)
            # several entries for one bound: the strictest one is in force
            if key not in bounds or (value - bounds[key]) * STRICTER[bound] > 0:
                bounds[key] = value
    return bounds


def threshold_changes(old: ModelDeployment | None, new: ModelDeployment | None) -> list[ThresholdChange]:
    before, after = _bounds(old), _bounds(new)
    out = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if a is None:
            change = "added"
        elif b is None:
            change = "removed"
        else:
            change = "tightened" if (b - a) * STRICTER[key[1]] > 0 else "loosened"
        out.append(ThresholdChange(key[0], key[1], a, b, change))
    return out


NO_ROUTER = "none (weights by pod counts)"


def _router(spec: dict[str, Any]) -> str:
    routing = _get(spec, ("rollout", "trafficRouting")) or {}
    if not routing:
        return NO_ROUTER
    key = sorted(routing)[0]
    target = routing[key].get("host") or ", ".join(routing[key].get("hostnames", [])) or ""
    return f"{key} ({target})" if target else key


def routing_changes(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[Change], list[str]]:
    """The traffic router as one change, and alerts when exposure gets less exact."""
    old, new = _router(a), _router(b)
    if not a or old == new:
        return [], []
    alerts = []
    if new == NO_ROUTER and _get(b, ("rollout", "strategy")) != "blueGreen":
        alerts.append(f"traffic router **removed** ({old}): canary weights are approximated by pod counts again, "
                      "so exposure is no longer exact")
    return [Change("traffic router", old, new)], alerts


def _exposure(compiled: CompiledSpec) -> dict[str, str]:
    """Per environment, the share each canary weight gives (Argo's pod counts)."""
    out: dict[str, str] = {}
    for item in compiled.items:
        plan, release = item.release.plan, item.release
        assert plan is not None
        out[release.env] = "; ".join(traffic.shares(release.spec.spec, resolve.DEFAULT_STEPS,
                                                    plan.settings.max_surge, plan.settings.max_unavailable))
    return out


def exposure_changes(old: CompiledSpec | None, new: CompiledSpec) -> list[Change]:
    """A change of the traffic the canary really gets (surge, replicas, steps, router)."""
    if old is None:
        return []
    before, after = _exposure(old), _exposure(new)
    return [Change(f"exposure ({env})" if len(after) > 1 else "exposure", before.get(env), after[env])
            for env in sorted(after) if before.get(env) is not None and before[env] != after[env]]


def compare(old: CompiledSpec | None, new: CompiledSpec) -> SpecDiff:
    """`old` is None for a spec that is new (not at the base ref)."""
    old_spec = old.base if old else None
    a = old_spec.spec.model_dump(mode="json", by_alias=True, exclude_none=True) if old_spec else {}
    b = new.base.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    changes = [Change(label, _get(a, path), _get(b, path)) for label, path in PINNED if _get(a, path) != _get(b, path)]
    routing, alerts = routing_changes(a, b)
    changes += routing
    changes += exposure_changes(old, new)
    # Both sides get the same header (where the new spec is): only real changes show.
    old_files = to_files(old.items, new.source) if old else {}
    new_files = to_files(new.items, new.source)
    manifests = {}
    for path in sorted(old_files.keys() | new_files.keys()):
        before, after = old_files.get(path, ""), new_files.get(path, "")
        if before != after:
            manifests[path] = "".join(difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=f"a/{path}" if path in old_files else "/dev/null",
                tofile=f"b/{path}" if path in new_files else "/dev/null"))
    return SpecDiff(new.name, changes, threshold_changes(old_spec, new.base), manifests, alerts)


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _threshold_line(t: ThresholdChange) -> str:
    symbol = {"min": ">=", "max": "<=", "maxDrop": "drop <="}[t.bound]
    old = f"{symbol} {t.old:g}" if t.old is not None else "(none)"
    new = f"{symbol} {t.new:g}" if t.new is not None else "(none)"
    return f"{t.metric} {t.bound}: {old} -> {new}"


def render_text(d: SpecDiff) -> str:
    lines = [f"mlspec diff: {d.name}"]
    if not (d.changes or d.thresholds or d.manifests):
        return lines[0] + ": no changes\n"
    for c in d.changes:
        lines.append(f"  {c.field}: {_short(c.old)} -> {_short(c.new)}")
    for t in d.thresholds:
        lines.append(f"  {'WARNING: ' if t.warning else ''}threshold {t.change}: {_threshold_line(t)}")
    lines.extend(f"  WARNING: {alert.replace('**', '')}" for alert in d.alerts)
    lines.append("")
    lines.extend(text.rstrip("\n") for text in d.manifests.values())
    return "\n".join(lines) + "\n"


def render_markdown(d: SpecDiff) -> str:
    out = [f"### mlspec diff: `{d.name}`", ""]
    if not (d.changes or d.thresholds or d.manifests):
        return "\n".join(out + ["No changes.", ""])
    for t in d.warnings:
        out.append(f"> [!WARNING]\n> Quality gate **{t.change}**: `{_threshold_line(t)}`")
        out.append("")
    for alert in d.alerts:
        out += [f"> [!WARNING]\n> Traffic: {alert}", ""]
    if d.changes or d.thresholds:
        out += ["| what | before | after |", "|---|---|---|"]
        for c in d.changes:
            out.append(f"| {c.field} | `{_short(c.old)}` | `{_short(c.new)}` |".replace("``", "` `"))
        for t in d.thresholds:
            mark = " ⚠️" if t.warning else ""
            out.append(f"| threshold `{t.metric}` {t.bound} ({t.change}{mark}) | "
                       f"{'-' if t.old is None else f'`{t.old:g}`'} | {'-' if t.new is None else f'`{t.new:g}`'} |")
        out.append("")
    if d.manifests:
        out.append(f"<details><summary>Manifests: {len(d.manifests)} file(s) changed</summary>")
        out.append("")
        for path, text in d.manifests.items():
            fence = "````" if "```" in text else "```"
            out += [f"**{path}**", "", f"{fence}diff", text.rstrip("\n"), fence, ""]
        out.append("</details>")
        out.append("")
    return "\n".join(out)


def render_json(d: SpecDiff) -> str:
    return json.dumps({
        "name": d.name,
        "changes": [asdict(c) for c in d.changes],
        "thresholds": [{**asdict(t), "warning": t.warning} for t in d.thresholds],
        "alerts": d.alerts,
        "manifests": d.manifests,
    }, indent=2, sort_keys=True) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
