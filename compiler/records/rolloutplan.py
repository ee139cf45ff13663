"""The rollout plan at a glance (DESIGN.md "Reviewable output"): per environment, the
Rollout's steps as the cluster will run them.

Each weighted step shows the weight written and the traffic share the canary really
gets: with a router, the router's exact weight; without one, Argo Rollouts' pod-count
arithmetic (`traffic.pod_counts`, the port of `approximateWeightedCanaryStableReplicaCounts`)
at the Rollout's resolved surge. Pods per step follow the same arithmetic
(`capacity.traffic_routed` with a router); the peak and its GPUs are `surge`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from mlspec.pipeline import autoscaling, capacity, traffic
from mlspec.pipeline.core import Compiled


@dataclass(frozen=True)
class Row:
    step: str
    written: str  # the weight the spec writes ("-": none)
    real: str     # the share the canary really gets
    pods: str     # canary + stable pods
    gate: str     # the gate or pause at this step ("": none)


@dataclass
class EnvPlan:
    env: str
    strategy: str
    replicas: str  # the replica count the arithmetic used
    router: str | None
    rows: list[Row] = field(default_factory=list)
    peak: str = ""
    notes: list[str] = field(default_factory=list)  # written and real shares that differ


def _percent(share: Fraction) -> str:
    return f"{round(float(share), 1):g}%"


def plan(item: Compiled) -> EnvPlan:
    """The step plan of one environment's Rollout."""
    release = item.release
    spec = release.spec.spec
    assert release.plan is not None
    settings, peak = release.plan.settings, release.plan.peak
    fewest, most = autoscaling.replica_range(spec)
    replicas = fewest  # with an autoscaler, the fewest pods: where pod counts miss a weight most
    router = traffic.chosen_router(spec)
    counted = f"{replicas}" + (f" (the autoscaler's minReplicas; up to {most})" if spec.serving.autoscaling else "")
    (kind, block), = release.strategy.items()
    out = EnvPlan(release.env, kind, counted, router)
    gpus = ", ".join(f"{total} {name}" for name, total in sorted(peak.totals.items()))
    out.peak = f"{peak.pods} pods ({peak.why})" + (f"; {gpus} at that peak" if gpus else "")
    if kind == "blueGreen":
        _blue_green(out, block, replicas)
        return out
    online = block.get("analysis")
    weight = 0
    for i, step in enumerate(block["steps"]):
        gate = ""
        if online and online.get("startingStep") == i:
            gate = "online analysis starts (runs until promotion)"
        if "analysis" in step:
            out.rows.append(Row(f"{i}: offline evaluation", "-", "0%", _pods(replicas, 0, weight, router, settings),
                                "offline gate: judged before any traffic"))
            continue
        if "setWeight" in step:
            previous, weight = weight, step["setWeight"]
            real = _share(replicas, weight, router, settings)
            out.rows.append(Row(f"{i}: setWeight", f"{weight}%", real,
                                _pods(replicas, weight, previous, router, settings), gate))
            if router is None and real != f"{weight}%":
                out.notes.append(f"setWeight {weight}: {weight}% written, {real} real (no traffic router: "
                                 f"Argo Rollouts splits traffic by pod counts, at {replicas} replica(s))")
            continue
        label, pause = _other(step)
        out.rows.append(Row(f"{i}: {label}", "-", _share(replicas, weight, router, settings),
                            _pods(replicas, weight, weight, router, settings), "; ".join(p for p in (pause, gate) if p)))
    out.rows.append(Row("promotion", "100%", "100%", f"0 + {replicas}", ""))
    return out


def _other(step: dict[str, Any]) -> tuple[str, str]:
    if "pause" in step:
        duration = step["pause"].get("duration")
        return ("pause", f"waits {duration}") if duration else ("pause", "manual pause: a person promotes")
    (name, value), = step.items()
    if name == "setCanaryScale":
        detail = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        return f"setCanaryScale ({detail})", ""
    if name == "setMirrorRoute" and "percentage" in value:
        return f"mirror {value['percentage']}% of requests (copies, answers discarded)", ""
    return name, ""


def _share(replicas: int, weight: int, router: str | None, settings: Any) -> str:
    if router is not None:
        return f"{weight}%"
    canary, stable = traffic.pod_counts(replicas, weight, settings.max_surge, settings.max_unavailable)
    return _percent(Fraction(100 * canary, canary + stable) if canary + stable else Fraction(0))


def _pods(replicas: int, weight: int, previous: int, router: str | None, settings: Any) -> str:
    if router is None:
        canary, stable = traffic.pod_counts(replicas, weight, settings.max_surge, settings.max_unavailable)
    else:
        canary, stable = capacity.traffic_routed(replicas, weight, settings.dynamic_stable_scale,
                                                 actual_weights=(previous, capacity.MAX_WEIGHT - previous))
    return f"{canary} + {stable}"


def _blue_green(out: EnvPlan, block: dict[str, Any], replicas: int) -> None:
    out.rows.append(Row("preview", "-", "0%", f"{replicas} preview + {replicas} active",
                        "offline gate (prePromotionAnalysis): judged before the switch"))
    manual = not block.get("autoPromotionEnabled")
    out.rows.append(Row("promotion", "100%", "100%", f"{replicas} active",
                        "manual: a person promotes" if manual else "automatic after the gate"))
    if "postPromotionAnalysis" in block:
        out.rows.append(Row("after promotion", "-", "100%", f"{replicas} active",
                            "online analysis (postPromotionAnalysis)"))


def _safe(text: str) -> str:
    """Mermaid label text: mlspec's own words and numbers, nothing that could end a label."""
    return re.sub(r"[^A-Za-z0-9 %.:+()/-]", " ", text)


def mermaid(p: EnvPlan) -> str | None:
    """A left-to-right chart of the steps (canary with at least one weight), or None."""
    if p.strategy != "canary" or not any(r.written not in ("-", "100%") for r in p.rows):
        return None
    nodes = []
    for i, row in enumerate(p.rows):
        name = row.step.split(": ", 1)[-1]
        if name == "offline evaluation":
            label = "offline gate"
        elif row.written != "-":
            label = f"{row.written}" + (f" written / {row.real} real" if row.real != row.written else "")
            label = f"promotion {label}" if name == "promotion" else label
        elif name == "pause":
            label = "manual pause" if "manual" in row.gate else row.gate.split(";")[0].replace("waits", "wait")
        else:
            label = name
        if "online analysis starts" in row.gate:
            label += " + online analysis"
        nodes.append(f'  s{i}["{_safe(label)}"]')
    links = " --> ".join(f"s{i}" for i in range(len(p.rows)))
    return "\n".join(["```mermaid", "flowchart LR", *nodes, f"  {links}", "```"])


def render(p: EnvPlan, chart: bool = True) -> str:
    """The markdown of one environment's plan: table, peak, notes, chart."""
    where = ("all traffic switches at promotion" if p.strategy == "blueGreen" else
             f"router `{p.router}`: exact weights" if p.router else "no traffic router: shares by pod counts")
    out = [f"**Rollout plan, {p.env}** ({p.strategy}; {where}; {p.replicas} replica(s))", "",
           "| step | written | real traffic | canary + stable pods | gate |", "|---|---|---|---|---|"]
    out += [f"| {r.step} | {r.written} | {r.real} | {r.pods} | {r.gate} |" for r in p.rows]
    out += ["", f"Peak: {p.peak}.", ""]
    out += [f"> [!NOTE]\n> {note}\n" for note in p.notes]
    chart_text = mermaid(p) if chart else None
    if chart_text:
        out += [chart_text, ""]
    return "\n".join(out)
