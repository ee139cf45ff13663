"""Placement of the serving pods: `serving.topologySpread` -> the pod template's
`topologySpreadConstraints`, and `serving.affinity` passed through.

A constraint selects the model's own serving pods (its selector labels, stable and
canary alike), so the scheduler spreads the model, not the namespace. The defaults are
`maxSkew: 1` and `ScheduleAnyway`: a hard rule (`DoNotSchedule`) leaves a canary or
surge pod Pending when one zone is full, which is the failure a GPU rollout meets
first; a spec that wants the hard rule says so.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from mlspec.files.loader import Path
from mlspec.spec.fields import DNS_LABEL_RE, LABEL_KEY_RE
from mlspec.spec.model import Spec
from mlspec.spec.model_scaling import LabelSelector, NodeSelectorTerm, PodAffinityTerm

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
    given = spec.serving.affinity
    if given is not None:
        out.extend(_affinity_problems(given.node_affinity, given.pod_affinity, given.pod_anti_affinity))
    return out


# What the API server refuses in an `affinity` (core/v1 validation): checked here so that
# `build` does not exit 0 on a manifest `kubectl apply` rejects.
_SET_OPERATORS = ("In", "NotIn")
_INT64 = re.compile(r"^[+-]?[0-9]{1,18}$")


def _affinity_problems(node: Any, pod: Any, anti: Any) -> Iterator[tuple[Path, str]]:
    at: Path = ("spec", "serving", "affinity")
    if node is not None:
        required = node.required_during_scheduling_ignored_during_execution
        for i, term in enumerate(required.node_selector_terms if required is not None else []):
            yield from _node_term(term, at + ("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                               "nodeSelectorTerms", i))
        for i, preferred in enumerate(node.preferred_during_scheduling_ignored_during_execution or []):
            yield from _node_term(preferred.preference, at + ("nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution",
                                                              i, "preference"))
    for key, block in (("podAffinity", pod), ("podAntiAffinity", anti)):
        if block is None:
            continue
        for i, term in enumerate(block.required_during_scheduling_ignored_during_execution or []):
            yield from _pod_term(term, at + (key, "requiredDuringSchedulingIgnoredDuringExecution", i))
        for i, weighted in enumerate(block.preferred_during_scheduling_ignored_during_execution or []):
            yield from _pod_term(weighted.pod_affinity_term, at + (key, "preferredDuringSchedulingIgnoredDuringExecution",
                                                                   i, "podAffinityTerm"))


def _values(operator: str, values: list[str] | None, at: Path) -> Iterator[tuple[Path, str]]:
    if operator in _SET_OPERATORS and not values:
        yield at + ("operator",), f"`{operator}` needs a non-empty `values` list (the API server refuses it)"
    elif operator in ("Exists", "DoesNotExist") and values:
        yield at + ("values",), f"`{operator}` takes no `values` (the API server refuses them)"
    elif operator in ("Gt", "Lt"):
        if values is None or len(values) != 1:
            yield at + ("operator",), f"`{operator}` needs exactly one value, an integer"
        elif not _INT64.match(values[0]):
            yield at + ("values", 0), f"`{operator}` compares integers: `{values[0]}` is not one"


def _node_term(term: NodeSelectorTerm, at: Path) -> Iterator[tuple[Path, str]]:
    for i, r in enumerate(term.match_expressions or []):
        here = at + ("matchExpressions", i)
        if not re.fullmatch(LABEL_KEY_RE, r.key) or len(r.key.rsplit("/", 1)[-1]) > 63:
            yield here + ("key",), f"`{r.key}` is not a node label key (`[prefix/]name`: letters, digits, `-_.`)"
        yield from _values(r.operator, r.values, here)
    for i, r in enumerate(term.match_fields or []):
        here = at + ("matchFields", i)
        if r.key != "metadata.name":
            yield here + ("key",), f"`{r.key}`: `matchFields` supports only `metadata.name`"
        elif r.operator not in _SET_OPERATORS or len(r.values or []) != 1:
            yield here + ("operator",), "`matchFields` on `metadata.name` takes `In` or `NotIn` with exactly one value"


def _pod_term(term: PodAffinityTerm, at: Path) -> Iterator[tuple[Path, str]]:
    for key, selector in (("labelSelector", term.label_selector), ("namespaceSelector", term.namespace_selector)):
        yield from _selector(selector, at + (key,))
    for i, namespace in enumerate(term.namespaces or []):
        if not re.fullmatch(DNS_LABEL_RE, namespace) or len(namespace) > 63:
            yield at + ("namespaces", i), f"`{namespace}` is not a namespace name (a DNS label: lower-case letters, digits, `-`)"


def _selector(selector: LabelSelector | None, at: Path) -> Iterator[tuple[Path, str]]:
    for i, r in enumerate(selector.match_expressions or [] if selector is not None else []):
        yield from _values(r.operator, r.values, at + ("matchExpressions", i))
