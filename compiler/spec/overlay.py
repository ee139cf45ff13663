"""Stage 3a: an environment's overlay merged over the spec, positions kept.

`overlay(doc, env)` is what every reader of a resolved environment uses (build, the
ledger, diff), so an overlay is checked by the same code as the base.
"""

from __future__ import annotations

from typing import Any

from mlspec.files.loader import Document, Path, copy_data

# Annotation prefixes (and their subdomains) a user may not set: their annotations
# change what the cluster or the delivery tools do (AppArmor and seccomp profiles,
# Argo CD sync waves and hooks, Helm and kustomize ownership) or what mlspec records.
RESERVED_ANNOTATION_DOMAINS = ("kubernetes.io", "k8s.io", "argoproj.io", "helm.sh", "mlspec.dev")
# ...except Argo's notification subscriptions, which only choose who hears of a sync.
ALLOWED_ANNOTATION_DOMAINS = ("notifications.argoproj.io",)


def reserved_annotation(key: str) -> bool:
    """Whether the annotation `key` is in a namespace mlspec refuses from users."""
    if "/" not in key:
        return False
    domain = key.split("/", 1)[0]
    return domain not in ALLOWED_ANNOTATION_DOMAINS and any(
        domain == d or domain.endswith("." + d) for d in RESERVED_ANNOTATION_DOMAINS)


def overlay(doc: Document, env: str) -> Document:
    """The document with `spec.environments[env]` deep-merged over `spec`.

    Positions travel with the values, so an error in a merged value points at
    the overlay line that introduced it.
    """
    data = copy_data(doc.data)
    spec = data.get("spec", {})
    overlays = spec.pop("environments", {})
    patch = overlays.get(env) or {}
    prefix: Path = ("spec", "environments", env)
    merged = Document(doc.source, data, dict(doc.marks), dict(doc.key_marks), dict(doc.plain))
    for key, value in patch.items():
        if key == "namespace":
            target: Path = ("metadata", "namespace")
            data.setdefault("metadata", {})["namespace"] = value
        elif key == "labels":
            target = ("metadata", "labels")
            labels = data.setdefault("metadata", {}).setdefault("labels", {})
            if isinstance(value, dict) and isinstance(labels, dict):
                labels.update(value)
                move_marks(merged, prefix + (key,), target, children_only=True)
                continue
            data["metadata"]["labels"] = value
        else:
            target = ("spec", key)
            base = spec.get(key)
            if key == "rollout" and isinstance(base, dict) and isinstance(value, dict):
                base = rollout_base(base, value)
            spec[key] = deep_merge(base, value)
        move_marks(merged, prefix + (key,), target)
    return merged


def rollout_base(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """What of the spec's `rollout` an overlay builds on: a router is one choice (an
    overlay's `trafficRouting` replaces the spec's), and an overlay that switches the
    strategy drops the other strategy's settings instead of inheriting them."""
    base = dict(base)
    if "trafficRouting" in patch:
        base.pop("trafficRouting", None)
    strategy = patch.get("strategy")
    if strategy is not None and strategy != base.get("strategy", "canary"):
        for other in (("steps", "trafficRouting") if strategy == "blueGreen" else ("blueGreen",)):
            base.pop(other, None)
    return base


def deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = deep_merge(base.get(key), value)
        return out
    return copy_data(patch)


def move_marks(doc: Document, source: Path, target: Path, children_only: bool = False) -> None:
    n = len(source)
    tables: tuple[dict[Path, Any], ...] = (doc.marks, doc.key_marks, doc.plain)
    for table in tables:
        moved = {target + path[n:]: mark for path, mark in table.items()
                 if path[:n] == source and (len(path) > n or not children_only)}
        table.update(moved)
