"""`mlspec diff`: what a spec change means for the model, then what it does to the manifests.

The summary speaks ML (`diffsummary`): model, data, seed, environment and feature
changes, every threshold tightened, added, removed or loosened, rollout, replicas and
resources. Then the manifests (`hunks`): each changed object is *behaviour* (a unified
diff) or *stamps only* (one line with the count: `stamps`). The markdown document for a
pull request, bounded to fit a comment, is `diffmarkdown`'s.

Everything is compared per resolved environment (old `prod` against new `prod`), so
an overlay cannot loosen a gate or swap an artifact unseen; a change the same in
every environment is listed once, one that is not names its environment. In Git
mode the release ledger is compared too: a recorded metric or gate verdict that
changed is a loosening (it moves a baseline); so is a changed evaluation dataset or
evaluator image (it changes what the model is judged on).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from mlspec.files.text import log_safe
from mlspec.pipeline.core import CompiledSpec
from mlspec.records import diffmarkdown, hunks, rolloutplan
from mlspec.records.diffsummary import (JUDGED_WHY, Change, SpecDiff, ThresholdChange, _summary, exposure_changes,
                                        recorded_changes, routing_changes, short, threshold_changes,
                                        threshold_line, why)

__all__ = ["Change", "ThresholdChange", "SpecDiff", "compare", "recorded_changes", "routing_changes",
           "threshold_changes", "render_text", "render_json", "RENDERERS"]


def compare(old: CompiledSpec | None, new: CompiledSpec, recorded: list[Change] | None = None,
            renamed_from: str | None = None) -> SpecDiff:
    """`old` is None for a spec that is new (not at the base ref); `recorded`, what
    changed in the ledger's recorded evaluations (`recorded_changes`); `renamed_from`,
    the spec file's path at the base when Git saw it renamed."""
    before = {i.release.env: i.release.spec for i in old.items} if old else {}
    after = {i.release.env: i.release.spec for i in new.items}
    # An environment new in this change is compared with the old spec without overlays.
    per_env = {env: _summary(before.get(env, old.base if old else None), spec) for env, spec in sorted(after.items())}
    changes: list[Change] = []
    thresholds: list[ThresholdChange] = []
    alerts: list[str] = []
    if renamed_from is not None:
        changes.append(Change("spec file", renamed_from, new.source))
    if old and old.key != new.key:
        changes.append(Change("model", old.key, new.key))
        alerts.append("these are **two different models**: every object of one is removed and every object of "
                      "the other added")
    if old and sorted(before) != sorted(after):
        changes.append(Change("environments", sorted(before), sorted(after)))

    def everywhere(item: Any, part: int) -> bool:
        return all(item in summary[part] for summary in per_env.values())

    for env, (env_changes, env_thresholds, env_alerts) in per_env.items():
        for c in env_changes:
            tagged = c if everywhere(c, 0) else Change(f"{c.field} ({env})", c.old, c.new)
            changes += [tagged] if tagged not in changes else []
        for t in env_thresholds:
            tagged_t = t if everywhere(t, 1) else replace(t, environment=env)
            thresholds += [tagged_t] if tagged_t not in thresholds else []
        for alert in env_alerts:
            tagged_a = alert if everywhere(alert, 2) else f"{alert} (environment {env})"
            alerts += [tagged_a] if tagged_a not in alerts else []
    changes += exposure_changes(old, new)
    manifests = hunks.compare(old.items if old else [], new.items, new.source)
    # A rollout runs (or its plan changes) where an existing Rollout changes behaviour.
    plans = [rolloutplan.plan(item) for item in new.items
             if f"{item.directory}/rollout.yaml" in manifests.hunks and old is not None
             and manifests.hunks[f"{item.directory}/rollout.yaml"].startswith("--- a/")]
    return SpecDiff(new.key, changes, thresholds, manifests.hunks, alerts, recorded or [], manifests.stamped,
                    manifests.stamp_line(), plans, new.source)


def render_text(d: SpecDiff) -> str:
    # Spec values pass `log_safe`, and so does each hunk line (emitted YAML keeps user text as it is).
    lines = [f"mlspec diff: {log_safe(d.name)}"]
    if not d.changed:
        return lines[0] + ": no changes\n"
    judged = d.judged
    for c in d.changes:
        lines.append(f"  {'WARNING: ' if c in judged else ''}{c.field}: {log_safe(short(c.old))} -> "
                     f"{log_safe(short(c.new))}{f' ({JUDGED_WHY})' if c in judged else ''}")
    for t in d.thresholds:
        lines.append(f"  {'WARNING: ' if t.warning else ''}threshold {t.change}: {log_safe(threshold_line(t))}")
    lines.extend(f"  WARNING: {log_safe(alert.replace('**', ''))}" for alert in d.alerts)
    lines.extend(f"  WARNING: recorded {log_safe(c.field)} changed in the ledger: {log_safe(short(c.old))} -> "
                 f"{log_safe(short(c.new))} ({why(c)})" for c in d.recorded)
    if d.stamp_line:
        lines.append(f"  {d.stamp_line}")
    lines.append("")
    lines.extend(log_safe(line) for text in d.manifests.values() for line in text.rstrip("\n").split("\n"))
    return "\n".join(lines) + "\n"


def as_data(d: SpecDiff) -> dict[str, Any]:
    return {
        "name": d.name,
        "changes": [asdict(c) for c in d.changes],
        "thresholds": [{**asdict(t), "warning": t.warning} for t in d.thresholds],
        "alerts": d.alerts,
        "judged": [asdict(c) for c in d.judged],
        "recorded": [asdict(c) for c in d.recorded],
        "manifests": d.manifests,
        "stamps": {"count": len(d.stamped), "paths": d.stamped, "line": d.stamp_line},
        "rolloutPlans": [asdict(p) for p in d.plans],
    }


def render_json(d: SpecDiff) -> str:
    return json.dumps(as_data(d), indent=2, sort_keys=True) + "\n"


def render_document(fmt: str, diffs: list[SpecDiff], command: str, several: bool) -> str:
    """The whole output of one `mlspec diff` run: one spec as before; `several` (many
    specs or a directory): text one after the other, JSON a list, markdown one document."""
    if fmt == "markdown":
        return diffmarkdown.document(diffs, command)
    if fmt == "json":
        if not several:
            return render_json(diffs[0])
        return json.dumps([as_data(d) for d in diffs], indent=2, sort_keys=True) + "\n"
    return "".join(render_text(d) for d in diffs)


def render_markdown(d: SpecDiff) -> str:
    """One spec's markdown document (bounded, as `diff --format markdown` prints it)."""
    return diffmarkdown.document([d], f"mlspec diff {d.source}")


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
