"""Placement of the serving pods: `serving.topologySpread` -> the pod template's
`topologySpreadConstraints`, and `serving.affinity` passed through.

A constraint selects the model's own serving pods (its selector labels, stable and
canary alike), so the scheduler spreads the model, not the namespace. The defaults are
`maxSkew: 1` and `ScheduleAnyway`: a hard rule (`DoNotSchedule`) leaves a canary or
surge pod Pending when one zone is full, which is the failure a GPU rollout meets
first; a spec that wants the hard rule says so.
"""

from __future__ import annotations

from typing import Any

from mlspec.files.loader import Path
from mlspec.spec.model import Spec

TOPOLOGY_KEYS = {"zone": "topology.kubernetes.io/zone", "node": "kubernetes.io/hostname"}


def topology_spread(spec: Spec, selector: dict[str, str]) -> list[dict[str, Any]]:
    """The `topologySpreadConstraints` of the serving pods (none when not asked for)."""
    return [{"maxSkew": t.max_skew, "topologyKey": TOPOLOGY_KEYS[t.by], "whenUnsatisfiable": t.when_unsatisfiable,
             "labelSelector": {"matchLabels": dict(selector)}} for t in spec.serving.topology_spread or []]


def affinity(spec: Spec) -> dict[str, Any] | None:
    """The serving pods' `affinity`, as given (checked by the model), or None."""
    given = spec.serving.affinity
    return None if given is None else given.model_dump(by_alias=True, exclude_none=True)


def problems(spec: Spec) -> list[tuple[Path, str]]:
    seen: dict[str, int] = {}
    out: list[tuple[Path, str]] = []
    for i, t in enumerate(spec.serving.topology_spread or []):
        if t.by in seen:
            out.append((("spec", "serving", "topologySpread", i, "by"),
                        f"`by: {t.by}` twice (entry {seen[t.by]} and {i}): one constraint per topology"))
        seen.setdefault(t.by, i)
    return out
