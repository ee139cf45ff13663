"""The ML summary of `mlspec diff`: what a spec change means for the model.

Model, data, seed, environment and feature changes; every threshold tightened, added,
removed or loosened (removal and loosening are warnings: a pull request that weakens a
quality gate must stand out); rollout, replicas, resources and the traffic the canary
really gets; and what changed in the ledger's recorded evaluations and pins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlspec.pipeline import strategy, traffic
from mlspec.pipeline.core import CompiledSpec
from mlspec.records import rolloutplan
from mlspec.records.ledger import Ledger
from mlspec.spec.model import ModelDeployment

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
    ("evaluation dataset", ("evaluation", "dataset", "uri")),
    ("evaluation dataset version", ("evaluation", "dataset", "version")),
    ("evaluation dataset digest", ("evaluation", "dataset", "digest")),
    ("evaluation image", ("evaluation", "image")),
    ("evaluation baseline", ("evaluation", "baseline")),
    ("serving image", ("serving", "image")),
    ("serving runtime", ("serving", "runtime")),
    ("replicas", ("serving", "replicas")),
    ("autoscaling", ("serving", "autoscaling")),
    ("topology spread", ("serving", "topologySpread")),
    ("affinity", ("serving", "affinity")),
    ("serving extra args", ("serving", "extraArgs")),
    ("serving resources", ("serving", "resources")),
    ("rollout strategy", ("rollout", "strategy")),
    ("rollout steps", ("rollout", "steps")),
    ("blue-green promotion", ("rollout", "blueGreen")),
    ("online analysis", ("rollout", "analysis")),
    ("rollback target", ("rollback", "previous", "version")),
    ("acknowledged warnings", ("acknowledge",)),  # `spec.acknowledge`: warnings no longer printed
]
# What a model is judged on: changing one changes what a passed gate means, as
# loosening a bound does (an easier holdout set, an evaluator that reports more).
JUDGED = frozenset({"evaluation dataset", "evaluation dataset version", "evaluation dataset digest", "evaluation image"})
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
    environment: str | None = None  # None: the same change in every environment

    @property
    def warning(self) -> bool:
        return self.change in ("removed", "loosened")


@dataclass
class SpecDiff:
    name: str
    changes: list[Change]
    thresholds: list[ThresholdChange]
    manifests: dict[str, str]  # path -> unified diff, behaviour changes only
    alerts: list[str] = field(default_factory=list)  # rollout changes that widen exposure, edited records
    recorded: list[Change] = field(default_factory=list)  # recorded metrics/verdicts changed in the ledger
    stamped: list[str] = field(default_factory=list)  # paths whose only change is their release stamps
    stamp_line: str | None = None  # `27 objects: release stamps only (1.0.0 -> 1.1.0)`
    plans: list[rolloutplan.EnvPlan] = field(default_factory=list)  # environments whose Rollout changes
    source: str = ""

    @property
    def warnings(self) -> list[ThresholdChange]:
        return [t for t in self.thresholds if t.warning]

    @property
    def judged(self) -> list[Change]:
        """Changes of what the model is judged on (evaluation dataset, evaluator image)."""
        return [c for c in self.changes if c.field.split(" (")[0] in JUDGED and c.old is not None]

    @property
    def loosened(self) -> int:
        """Gate bounds loosened or removed, evaluation inputs changed, plus recorded
        evaluations changed (each moves what a passed gate means, or a baseline)."""
        return len(self.warnings) + len(self.judged) + len(self.recorded)

    @property
    def changed(self) -> bool:
        """Anything at all changed (`--exit-code`), stamps included."""
        return bool(self.changes or self.thresholds or self.manifests or self.alerts or self.recorded
                    or self.stamped)


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
        out[release.env] = "; ".join(traffic.shares(release.spec.spec, strategy.default_steps(
            release.spec.spec, plan.settings.max_surge, plan.settings.max_unavailable),
            plan.settings.max_surge, plan.settings.max_unavailable))
    return out


def exposure_changes(old: CompiledSpec | None, new: CompiledSpec) -> list[Change]:
    """A change of the traffic the canary really gets (surge, replicas, steps, router)."""
    if old is None:
        return []
    before, after = _exposure(old), _exposure(new)
    return [Change(f"exposure ({env})" if len(after) > 1 else "exposure", before.get(env), after[env])
            for env in sorted(after) if before.get(env) is not None and before[env] != after[env]]


def _summary(a: ModelDeployment | None, b: ModelDeployment) -> tuple[list[Change], list[ThresholdChange], list[str]]:
    """What changes from `a` to `b` (one environment, or the specs without overlays)."""
    old = a.spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"environments"}) if a else {}
    new = b.spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"environments"})
    changes = [Change(label, _get(old, path), _get(new, path)) for label, path in PINNED if _get(old, path) != _get(new, path)]
    routing, alerts = routing_changes(old, new)
    return changes + routing, threshold_changes(a, b), alerts


def recorded_changes(old: Any, new: Ledger) -> list[Change]:
    """Recorded metrics and gate verdicts of releases in the ledger at the base ref (`old`,
    its loaded data) that differ now. Recording a release's first evaluation is no change."""
    releases = old.get("releases") if isinstance(old, dict) else None
    out = []
    for entry in releases if isinstance(releases, list) else []:
        if not (isinstance(entry, dict) and isinstance(entry.get("version"), str)):
            continue
        version = entry["version"]
        now = new.find(version) or {}
        before, after = entry.get("metrics") or {}, now.get("metrics") or {}
        if not isinstance(before, dict):
            continue
        for metric in sorted(before.keys() | (after.keys() if before else set())):
            if before.get(metric) != after.get(metric):
                out.append(Change(f"metric `{metric}` of release {version}", before.get(metric), after.get(metric)))
        if "gate" in entry and entry.get("gate") != now.get("gate"):
            out.append(Change(f"gate verdict of release {version}", entry.get("gate"), now.get("gate")))
        out.extend(_pin_changes(version, entry, now))
    return out


def _pin_changes(version: str, before: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    # The seal is a plain content hash anyone can recompute: an edited and resealed
    # `pins` entry would let the spec swap the artifact (or data, code, evaluation
    # inputs) of a released version past the immutability check. Only pins present at
    # the base count: a build adding the evaluation pins once (the upgrade) is no change.
    out = []
    scopes = [("", before.get("pins"), now.get("pins"))]
    old_envs, new_envs = before.get("environmentPins"), now.get("environmentPins")
    if isinstance(old_envs, dict):
        new_envs = new_envs if isinstance(new_envs, dict) else {}
        scopes += [(f" (environment {env})", old_envs[env], new_envs.get(env)) for env in sorted(old_envs)]
    for where, old_pins, new_pins in scopes:
        if not isinstance(old_pins, dict):
            continue
        new_pins = new_pins if isinstance(new_pins, dict) else {}
        for key in sorted(old_pins):
            if old_pins[key] != new_pins.get(key):
                out.append(Change(f"pin `{key}` of release {version}{where}", old_pins[key], new_pins.get(key)))
    return out


def short(value: Any, limit: int = 80) -> str:
    """A value on one short line: JSON for structures, cut to `limit` characters."""
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_BASELINE = "a baseline the gate compares against"
_PINNED = "what a released version is immutable on"


JUDGED_WHY = "what the model is judged on"


def why(c: Change) -> str:
    """Why a changed ledger record matters."""
    return _PINNED if c.field.startswith("pin ") else _BASELINE


def threshold_line(t: ThresholdChange) -> str:
    """`auc min: >= 0.85 -> >= 0.88`."""
    symbol = {"min": ">=", "max": "<=", "maxDrop": "drop <="}[t.bound]
    old = f"{symbol} {t.old:g}" if t.old is not None else "(none)"
    new = f"{symbol} {t.new:g}" if t.new is not None else "(none)"
    where = f" (environment {t.environment})" if t.environment else ""
    return f"{t.metric} {t.bound}{where}: {old} -> {new}"

