"""The rollout plan at a glance: per environment whose Rollout changes, the steps as the
cluster runs them, the traffic each weight really gives (Argo's pod-count arithmetic,
or the router's exact weight), pods and GPUs at the peak, and where the gates sit."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cmarkgfm
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.pipeline import capacity, core, traffic

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
LLM = (ROOT / "examples" / "llm-chat.yaml").read_text()
ROLLOUT = "  rollout:\n    steps: [{setWeight: 10}, {pause: manual}, {setWeight: 60}]\n"


def _spec(replicas: int, router: bool = False, version: str = "1.0.0") -> str:
    text = MINIMAL.replace('version: "1.0.0"', f'version: "{version}"')
    text = text.replace("  serving:\n", f"  serving:\n    replicas: {replicas}\n")
    rollout = ROLLOUT + ("    trafficRouting: {nginx: {host: churn.acme.example}}\n" if router else "")
    return text + rollout


def _markdown(tmp_path: Path, old: str, new: str) -> str:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(old)
    b.write_text(new)
    result = CliRunner().invoke(main, ["diff", str(a), str(b), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    return result.stdout


def _real(replicas: int, weight: int) -> str:
    """What Argo's arithmetic (the port in `capacity`) gives, formatted as people read it."""
    canary, stable = traffic.pod_counts(replicas, weight)
    return f"{round(float(Fraction(100 * canary, canary + stable)), 1):g}%"


def test_ten_percent_written_is_a_third_real_with_two_replicas_and_no_router(tmp_path):
    markdown = _markdown(tmp_path, _spec(2), _spec(2, version="1.0.1"))
    real = _real(2, 10)
    assert real.startswith("33")  # the case the reviewer must see: 1 canary + 2 stable pods
    canary, stable = traffic.pod_counts(2, 10)
    assert f"| 1: setWeight | 10% | {real} | {canary} + {stable} |  |" in markdown
    assert f"10% written, {real} real" in markdown
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)
    assert f"<td>10%</td>\n<td>{real}</td>" in html  # a real table row, not text
    chart = markdown.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert chart.startswith("flowchart LR\n") and f'["10% written / {real} real"]' in chart
    assert '["offline gate"]' in chart and '["manual pause"]' in chart


def test_with_a_router_the_share_is_the_weight_written(tmp_path):
    markdown = _markdown(tmp_path, _spec(2, router=True), _spec(2, router=True, version="1.0.1"))
    canary, stable = capacity.traffic_routed(2, 10, False, actual_weights=(0, 100))
    assert f"| 1: setWeight | 10% | 10% | {canary} + {stable} |  |" in markdown
    assert "router `nginx`: exact weights" in markdown and " real (no traffic router" not in markdown


def test_enough_replicas_meet_the_weight_and_no_note_is_due(tmp_path):
    markdown = _markdown(tmp_path, _spec(10), _spec(10, version="1.0.1"))
    assert _real(10, 10) == "10%"
    assert "| 1: setWeight | 10% | 10% |" in markdown and "written," not in markdown
    # the neighbouring weight still misses at 10 replicas: 60 is met by pods, so no note either
    assert f"| 3: setWeight | 60% | {_real(10, 60)} |" in markdown


def test_the_gates_sit_where_the_rollout_runs_them(tmp_path):
    markdown = _markdown(tmp_path, _spec(2), _spec(2, version="1.0.1"))
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "setWeight" in line
            or "offline evaluation" in line or "pause" in line]
    assert rows[0].startswith("| 0: offline evaluation | - | 0% |")  # judged before any traffic
    assert "offline gate: judged before any traffic" in rows[0]
    assert any(r.startswith("| 2: pause |") and "manual pause: a person promotes" in r for r in rows)
    assert "| promotion | 100% | 100% | 0 + 2 |" in markdown


def test_no_plan_when_the_rollout_does_not_change(tmp_path):
    from mlspec.records import stamps

    # a threshold only: the Rollout changes in its stamps at most, so no rollout runs
    old = _spec(2)
    new = old.replace("{metric: f1, min: 0.8}", "{metric: f1, min: 0.85}")
    rollouts = [core.compile_document(t, "s.yaml").items[0].objects["rollout.yaml"] for t in (old, new)]
    assert stamps.strip(rollouts[0]) == stamps.strip(rollouts[1])
    assert "Rollout plan" not in _markdown(tmp_path, old, new)
    # the neighbour: replicas change the Rollout's behaviour, and the plan shows
    assert "**Rollout plan, default**" in _markdown(tmp_path, old, _spec(3))


def test_gpus_at_the_peak_are_the_capacity_plan(tmp_path):
    old_version = LLM.split('  model:\n    version: "', 1)[1].split('"', 1)[0]
    new = LLM.replace(f'version: "{old_version}"', 'version: "99.0.0"', 1)
    markdown = _markdown(tmp_path, LLM, new)
    compiled = core.compile_document(new, "b.yaml")
    for item in compiled.items:
        peak = item.release.plan.peak
        assert peak.totals, "the example serves on GPUs"
        expected = ", ".join(f"{total} {name}" for name, total in sorted(peak.totals.items()))
        assert f"Peak: {peak.pods} pods ({peak.why}); {expected} at that peak." in markdown


def test_blue_green_shows_the_preview_the_gate_and_who_promotes(tmp_path):
    old = MINIMAL.replace("  serving:\n", "  serving:\n    replicas: 2\n") + "  rollout: {strategy: blueGreen}\n"
    markdown = _markdown(tmp_path, old, old.replace('version: "1.0.0"', 'version: "1.0.1"'))
    assert "(blueGreen; all traffic switches at promotion; 2 replica(s))" in markdown
    assert "| preview | - | 0% | 2 preview + 2 active | offline gate (prePromotionAnalysis)" in markdown
    assert "| promotion | 100% | 100% | 2 active | manual: a person promotes |" in markdown
    assert "```mermaid" not in markdown  # one switch: a chart adds nothing
    auto = old.replace("{strategy: blueGreen}", "{strategy: blueGreen, blueGreen: {autoPromotion: true}}")
    assert "| automatic after the gate |" in _markdown(tmp_path, auto, auto.replace('"1.0.0"', '"1.0.1"'))
