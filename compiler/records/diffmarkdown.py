"""`mlspec diff --format markdown`: one pull-request comment for any number of specs,
at most LIMIT characters (GitHub refuses bodies over 65,536).

Order of what is kept: the ML summary of every spec first (warnings, the table of
changes, the stamps line, the rollout plans) and never cut; then manifest hunks, whole,
in order, while they fit; a note says what was cut and the command that shows it all.
If even the summaries cannot fit, they lose their charts, then become one line per
spec, then the list itself ends with a count: never past the limit.

Every spec value is a code span (`markdown_code`), so none becomes an image, a link, a
mention or HTML; manifests sit in a fence they cannot close.
"""

from __future__ import annotations

import re

from mlspec.files.text import markdown_code, one_line
from mlspec.records import rolloutplan
from mlspec.records.diffsummary import JUDGED_WHY, SpecDiff, short, threshold_line, why

LIMIT = 60_000
MARKER = "<!-- mlspec-diff -->"  # how the shipped workflow finds its comment to edit
LONG_LINE = 500  # characters of one hunk line shown; the rest is counted
MAX_COMMAND = 4_000


def _fence(text: str) -> str:
    """A code fence no line of `text` can close: longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _plans(d: SpecDiff, chart: bool) -> list[str]:
    """One block per distinct plan; environments with the same plan share it."""
    groups: dict[str, list[str]] = {}
    for p in d.plans:
        body = rolloutplan.render(rolloutplan.EnvPlan("ENV", p.strategy, p.replicas, p.router, p.rows, p.peak,
                                                      p.notes), chart)
        groups.setdefault(body, []).append(p.env)
    # environments are DNS labels: no markdown in them
    return [body.replace("Rollout plan, ENV", "Rollout plan, " + ", ".join(envs), 1) for body, envs in groups.items()]


def summary(d: SpecDiff, chart: bool = True) -> str:
    """The ML summary of one spec: never cut."""
    out = [f"### {markdown_code(d.name)}", ""]
    if not d.changed:
        return "\n".join(out + ["No changes.", ""])
    for t in d.warnings:
        out += [f"> [!WARNING]\n> Quality gate **{t.change}**: {markdown_code(threshold_line(t))}", ""]
    for c in d.judged:
        out += [f"> [!WARNING]\n> Evaluation: {c.field} changed: {markdown_code(short(c.old))} -> "
                f"{markdown_code(short(c.new))} ({JUDGED_WHY})", ""]
    for alert in d.alerts:  # mlspec's words around a router's DNS names (validated: no markdown in them)
        out += [f"> [!WARNING]\n> Traffic: {alert}", ""]
    for c in d.recorded:  # a ledger is repository content anyone can edit: every value a code span
        out += [f"> [!WARNING]\n> Ledger: recorded {markdown_code(c.field)} changed: {markdown_code(short(c.old))} "
                f"-> {markdown_code(short(c.new))} ({why(c)})", ""]
    if d.changes or d.thresholds:
        out += ["| what | before | after |", "|---|---|---|"]
        for c in d.changes:
            out.append(f"| {c.field} | {markdown_code(short(c.old), table=True)} | "
                       f"{markdown_code(short(c.new), table=True)} |")
        for t in d.thresholds:
            mark = " ⚠️" if t.warning else ""
            where = f" in {t.environment}" if t.environment else ""  # a DNS label: no markdown in it
            old = "-" if t.old is None else markdown_code(f"{t.old:g}", table=True)
            new = "-" if t.new is None else markdown_code(f"{t.new:g}", table=True)
            out.append(f"| threshold {markdown_code(t.metric, table=True)} {t.bound}{where} ({t.change}{mark}) | "
                       f"{old} | {new} |")
        out.append("")
    files = [f"{len(d.manifests)} file(s) change behaviour"] if d.manifests else []
    files += [d.stamp_line] if d.stamp_line else []
    out += [f"Manifests: {'; '.join(files)}.", ""] if files else []
    for block in _plans(d, chart):
        out.append(block)
    return "\n".join(out)


def compact(d: SpecDiff) -> str:
    """One line for one spec, when the full summaries do not fit."""
    if not d.changed:
        return f"- {markdown_code(d.name)}: no changes\n"
    warned = d.loosened + len(d.alerts)
    parts = [f"{len(d.changes) + len(d.thresholds)} change(s)", f"{len(d.manifests)} file(s) change behaviour"]
    parts += [d.stamp_line] if d.stamp_line else []
    parts += [f"{len(d.plans)} rollout plan(s)"] if d.plans else []
    return f"- {'⚠️ ' if warned else ''}{markdown_code(d.name)}: {'; '.join(parts)}\n"


def _hunk(path: str, text: str) -> str:
    lines = []
    # emitted YAML carries user text as it is (a bidi override, a NUL in a JSON block):
    # each line is escaped as diagnostics are, so a hunk shows what a reader can trust
    for line in map(one_line, text.rstrip("\n").split("\n")):
        lines.append(line if len(line) <= LONG_LINE else
                     f"{line[:LONG_LINE]} … ({len(line) - LONG_LINE} more characters)")
    body = "\n".join(lines)
    fence = _fence(body)
    return f"**{markdown_code(path)}**\n\n{fence}diff\n{body}\n{fence}\n\n"


def _details(d: SpecDiff, shown: int) -> tuple[str, str]:
    # the name is a DNS label or NAMESPACE/NAME: nothing HTML or markdown reads in it
    more = f", {len(d.manifests) - shown} cut" if shown < len(d.manifests) else ""
    return (f"<details><summary>Manifests of {d.name}: {len(d.manifests)} file(s) change behaviour{more}"
            "</summary>\n\n", "</details>\n\n")


def _note(cut: int, total: int, compacted: str, command: str, limit: int) -> str:
    what = [compacted] if compacted else []
    what += [f"{cut} of {total} manifest file(s) not shown"] if cut else []
    return (f"> [!NOTE]\n> Cut to fit a pull-request comment ({limit:,} characters): {'; '.join(what)}. "
            f"Everything: {markdown_code(command)}\n\n")


def document(diffs: list[SpecDiff], command: str, limit: int = LIMIT) -> str:
    """The pull-request comment for `diffs`; `command` shows everything (text format)."""
    if len(command) > MAX_COMMAND:  # the caller keeps it short; this only keeps the bound
        command = command[:MAX_COMMAND] + " ..."
    changed = sum(d.changed for d in diffs)
    head = f"{MARKER}\n## mlspec diff: {len(diffs)} spec(s), {changed} changed\n\n"
    total = sum(len(d.manifests) for d in diffs)
    reserve = len(_note(10**9, 10**9, "summaries compacted to one line per spec, and the list ended", command, limit))
    room = limit - len(head) - reserve
    parts = [summary(d) + "\n" for d in diffs]
    compacted = ""
    if sum(map(len, parts)) > room:
        parts, compacted = [summary(d, chart=False) + "\n" for d in diffs], "Mermaid charts left out"
    if sum(map(len, parts)) > room:
        parts, compacted = [compact(d) for d in diffs], "summaries compacted to one line per spec"
        kept, used = [], 0
        for i, line in enumerate(parts):
            end = f"- … and {len(parts) - i - 1} more spec(s)\n"
            if used + len(line) + len(end) + 64 > room:
                kept.append(f"- … and {len(parts) - i} more spec(s)\n")
                compacted += ", and the list ended"
                break
            kept.append(line)
            used += len(line)
        parts = kept
        # one line per spec leaves no room worth giving to hunks
        body = "".join(parts) + "\n"
        return head + _note(total, total, compacted, command, limit) + body
    room -= sum(map(len, parts))
    blocks, shown_total = list(parts), 0  # every summary first, then the manifests
    for d in diffs:
        shown: list[str] = []
        for path, hunk in d.manifests.items():
            block = _hunk(path, hunk)
            opening, closing = _details(d, len(d.manifests))
            overhead = 0 if shown else len(opening) + len(closing) + 16
            if len(block) + overhead <= room:
                shown.append(block)
                room -= len(block) + overhead
        if shown:
            opening, closing = _details(d, len(shown))
            blocks.append(opening + "".join(shown) + closing)
        shown_total += len(shown)
    note = _note(total - shown_total, total, compacted, command, limit) if compacted or shown_total < total else ""
    return head + note + "".join(blocks)
